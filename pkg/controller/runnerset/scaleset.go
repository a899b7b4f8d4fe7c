package runnerset

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// The runners of a scale set follow spec.runners, which the scale-set
// controller sets to the jobs GitHub assigns to the set; the end of a job
// comes to Octorun twice, as its Runner's end and in the scale set's
// message that lowers spec.runners, in either order. Counted naively, each
// job's end would delete an Idle runner (spec.runners lowered while the
// Runner still runs) or create a needless one (the Runner ended before
// spec.runners was lowered). So, for a scale set:
//   - a Runner whose job the scale set reported ended (the job hint's
//     completedAt, written after spec.runners is lowered) no longer counts,
//     whatever its phase;
//   - a finished Runner whose job's end the scale set has not reported yet
//     still counts, for up to scaleSetReportWait, so it is not replaced;
//   - Runners beyond spec.runners go only once the excess has lasted
//     scaleSetScaleDownDelay, the time the job hint takes to follow.
//
// ARC's listener and EphemeralRunnerSet controller face the same two
// signals and, likewise, scale down only when a batch of messages settles
// (actions-runner-controller controllers/actions.github.com/
// ephemeralrunnerset_controller.go, PatchID).
const (
	scaleSetReportWait     = 10 * time.Second
	scaleSetScaleDownDelay = 5 * time.Second
)

// jobReported says whether GitHub reported the end of the Runner's job:
// the scale set's message, or the workflow_job delivery, as the job hint's
// completedAt.
func jobReported(r *octorunv1alpha1.Runner) bool {
	job, err := octorunv1alpha1.JobAssignmentOf(r)
	return err == nil && job != nil && job.CompletedAt != nil
}

// classifyScaleSet splits a scale set's Runners not being deleted into
// those that count towards spec.runners and those finished to delete; a
// Runner running to the end of a reported job is in neither. wait is when
// a finished Runner stops counting, zero if none waits.
func classifyScaleSet(runners []*octorunv1alpha1.Runner, now time.Time) (alive, finished []*octorunv1alpha1.Runner, wait time.Duration) {
	for _, r := range runners {
		if r.DeletionTimestamp != nil {
			continue
		}
		ended := r.Status.Phase == octorunv1alpha1.RunnerPhaseComplete || r.Status.Phase == octorunv1alpha1.RunnerPhaseFailed
		switch {
		case jobReported(r) && ended:
			finished = append(finished, r)
		case jobReported(r):
			// Its job is no longer in spec.runners; it ends soon.
		case ended:
			left := scaleSetReportWait
			if c := meta.FindStatusCondition(r.Status.Conditions, octorunv1alpha1.RunnerConditionExited); c != nil {
				left -= now.Sub(c.LastTransitionTime.Time)
			}
			if r.Status.Phase == octorunv1alpha1.RunnerPhaseFailed || left <= 0 {
				// A failed runner's job, if any, was never the set's to
				// count on; an unreported end is not waited for forever.
				finished = append(finished, r)
				continue
			}
			alive = append(alive, r)
			if wait == 0 || left < wait {
				wait = left
			}
		default:
			alive = append(alive, r)
		}
	}
	return alive, finished, wait
}

// excessSince remembers, by set key, since when a scale set has had more
// Runners than spec.runners.
type excessSince struct {
	mu    sync.Mutex
	since map[string]time.Time
}

// wait returns how much longer the set's excess must last before Runners
// go; zero when they may go now. No excess forgets it.
func (e *excessSince) wait(key string, excess bool, now time.Time) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !excess {
		delete(e.since, key)
		return 0
	}
	if e.since == nil {
		e.since = map[string]time.Time{}
	}
	since, ok := e.since[key]
	if !ok {
		e.since[key] = now
		return scaleSetScaleDownDelay
	}
	return max(scaleSetScaleDownDelay-now.Sub(since), 0)
}
