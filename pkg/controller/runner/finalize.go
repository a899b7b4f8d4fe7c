package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilcache "k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/github"
)

// finalize removes a deleted Runner's GitHub registration, then its pod and
// Secret, then its finalizer. A runner holding a job keeps everything until
// the job ends.
func (c *Controller) finalize(ctx context.Context, runner *octorunv1alpha1.Runner, scope github.Scope, scopeErr error, job *octorunv1alpha1.JobAssignment) (time.Duration, error) {
	logger := klog.FromContext(ctx)
	if !slices.Contains(runner.Finalizers, octorunv1alpha1.RunnerFinalizer) || remembered(c.released, runner.UID) {
		// A cache behind the release may still show the finalizer.
		return 0, nil
	}
	obs := observation{job: job, exitGrace: c.exitGrace(runner)}
	pod, err := c.podLister.Pods(runner.Namespace).Get(runner.Name)
	switch {
	case err == nil && metav1.IsControlledBy(pod, runner):
		obs.pod = pod
	case err != nil && !apierrors.IsNotFound(err):
		return 0, err
	}
	now := c.now()
	status := computeStatus(runner, obs, metav1.NewTime(now))
	if obs.pod != nil {
		if err := c.syncPodDisruption(ctx, obs.pod, status.Phase); err != nil {
			return 0, err
		}
	}
	if onlyGenerationMoved(runner.Status, status) {
		// Deletion moved metadata.generation (as it does for custom
		// resources); the Runner's spec is immutable, so the conditions
		// were computed for the same spec, and the Runner is about to go.
		status = runner.Status
	}
	runner, err = c.updateStatus(ctx, runner, status)
	if err != nil {
		return 0, err
	}

	due := completionDue(status.Phase, job, obs.pod, obs.exitGrace, now)
	switch {
	case status.Phase == octorunv1alpha1.RunnerPhaseActive:
		logger.V(2).Info("Waiting for the runner's job to end before deleting it")
		return 0, nil
	case runner.Spec.ID == 0 || scopeErr != nil:
		// Never registered: nothing to remove from GitHub.
	case status.Phase == octorunv1alpha1.RunnerPhaseComplete && job != nil && job.CompletedAt != nil:
		// GitHub reported the runner's one job completed, and removes an
		// ephemeral runner after its job whatever the conclusion (GitHub
		// docs, "Autoscaling with self-hosted runners"). Any other ending,
		// a job seen only as started included, is made sure of below: an
		// exit code says nothing about the registration (actions/runner
		// run-helper.sh exits 0 for a runner never connected).
	case registrationRemoved(runner):
		// GitHub answered 404 for the registration when the runner ended.
	case remembered(c.deregistered, runner.UID):
		// Removed from GitHub by an earlier attempt of this finalizer.
	case due > 0:
		// The runner ended after its job, whose completed delivery is
		// on its way: it spares a DELETE.
		logger.V(4).Info("Waiting for the job's completion from GitHub before removing the registration", "wait", due)
		return due, nil
	default:
		// The cache may still show a Runner released a moment ago.
		live, err := c.getLiveRunner(ctx, runner)
		if apierrors.IsNotFound(err) || err == nil && !slices.Contains(live.Finalizers, octorunv1alpha1.RunnerFinalizer) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		// spec.id may have been written by someone other than Octorun:
		// remove only the runner Octorun registered for this Runner.
		owner, err := c.ownership(ctx, runner, scope, runner.Spec.ID)
		if d, ok := github.RetryAfter(err); ok {
			return d, nil
		}
		if err != nil {
			return 0, err
		}
		if owner == notOwned {
			c.recorder.Eventf(runner, corev1.EventTypeWarning, EventRegistrationNotOwned,
				"GitHub runner %d is not the runner Octorun registered for this Runner; it is left on GitHub", runner.Spec.ID)
			break
		}
		if owner == gone {
			err = github.ErrNotFound
		} else {
			err = c.github.DeleteRunner(ctx, scope, runner.Spec.ID)
		}
		switch {
		case errors.Is(err, github.ErrRunnerBusy):
			// A job just landed: the runner is Active now, and is deleted
			// when its job ends.
			return 0, c.markBusy(ctx, runner)
		case errors.Is(err, github.ErrNotFound):
			logger.V(2).Info("The runner was already gone from GitHub", "id", runner.Spec.ID)
		case err != nil:
			if d, ok := github.RetryAfter(err); ok {
				return d, nil
			}
			if errors.Is(err, github.ErrInvalidRequest) {
				// Not the busy 422: GitHub's reason, shown, and retried
				// with backoff.
				c.recorder.Eventf(runner, corev1.EventTypeWarning, EventDeregistrationFailed,
					"GitHub refused to remove runner %d: %s; retrying", runner.Spec.ID, github.Message(err))
			}
			return 0, fmt.Errorf("removing runner %d from GitHub: %w", runner.Spec.ID, err)
		default:
			c.deregistered.Set(runner.UID, struct{}{}, uidMemoryTTL)
			logger.V(2).Info("Removed the runner from GitHub", "id", runner.Spec.ID)
		}
	}

	// A pod still running goes first, so the runner's process stops. A
	// pod whose runner ended, and the Secret, are the garbage collector's
	// once the Runner is gone (they are the Runner's by their controller
	// reference): that spares two or three writes and a read a Runner. The
	// UID precondition deletes only what the Runner owns.
	if obs.pod != nil && obs.pod.DeletionTimestamp == nil && !podEnded(obs.pod) {
		if err := c.kubeClient.CoreV1().Pods(runner.Namespace).Delete(ctx, runner.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &obs.pod.UID},
		}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return 0, fmt.Errorf("deleting pod %s: %w", runner.Name, err)
		}
	}
	if err := c.deleteHookPods(ctx, runner); err != nil {
		return 0, err
	}

	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		r := runner.DeepCopy()
		r.Finalizers = slices.DeleteFunc(r.Finalizers, func(f string) bool { return f == octorunv1alpha1.RunnerFinalizer })
		updated, err := c.octorunClient.OctorunV1alpha1().Runners(r.Namespace).Update(ctx, r, metav1.UpdateOptions{})
		if err == nil {
			c.wrote(updated)
		}
		if apierrors.IsConflict(err) {
			if live, getErr := c.getLiveRunner(ctx, runner); getErr == nil {
				runner = live
			}
		}
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return 0, fmt.Errorf("removing the finalizer: %w", err)
	}
	c.released.Set(runner.UID, struct{}{}, uidMemoryTTL)
	logger.V(2).Info("Released the Runner")
	return 0, nil
}

// podEnded says whether the pod's runner container ended for good: the
// pod's phase is final.
func podEnded(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// completionDue is how long to wait for the completed delivery of the job
// of a Runner whose runner ended after it, counted from the runner's exit;
// zero when there is nothing to wait for.
func completionDue(phase octorunv1alpha1.RunnerPhase, job *octorunv1alpha1.JobAssignment, pod *corev1.Pod, grace time.Duration, now time.Time) time.Duration {
	if phase != octorunv1alpha1.RunnerPhaseComplete || job == nil || job.CompletedAt != nil || pod == nil {
		return 0
	}
	ended := endedAt(pod)
	if ended == nil {
		return 0
	}
	return max(grace-now.Sub(ended.Time), 0)
}

// uidMemoryTTL is how long the controller remembers the UIDs of Runners it
// deregistered or released: long enough for any retry of a finalizer and
// for the cache to catch up.
const uidMemoryTTL = 10 * time.Minute

// remembered says whether a UID is in a memory of Runner UIDs.
func remembered(m *utilcache.Expiring, uid types.UID) bool {
	_, ok := m.Get(uid)
	return ok
}

// markBusy records a job assignment on a Runner GitHub says is busy.
func (c *Controller) markBusy(ctx context.Context, runner *octorunv1alpha1.Runner) error {
	if job, _ := octorunv1alpha1.JobAssignmentOf(runner); job != nil {
		return nil
	}
	r := runner.DeepCopy()
	if r.Annotations == nil {
		r.Annotations = map[string]string{}
	}
	r.Annotations[octorunv1alpha1.AnnotationJobAssignment] = octorunv1alpha1.JobAssignment{AssignedAt: metav1.NewTime(c.now())}.String()
	updated, err := c.octorunClient.OctorunV1alpha1().Runners(r.Namespace).Update(ctx, r, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("recording that the runner is busy: %w", err)
	}
	c.wrote(updated)
	c.recorder.Event(runner, corev1.EventTypeNormal, EventDeletionDelayed, "GitHub says the runner is running a job; it is deleted when the job ends")
	return nil
}
