package runner

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// exitedPod is r's pod after its runner exited with code at finished.
func exitedPod(r *octorunv1alpha1.Runner, code int32, finished time.Time) *corev1.Pod {
	phase := corev1.PodSucceeded
	if code != 0 {
		phase = corev1.PodFailed
	}
	p := podOf(r, phase, false)
	p.Status.ContainerStatuses[0].State.Terminated = &corev1.ContainerStateTerminated{
		ExitCode: code, FinishedAt: metav1.NewTime(finished), Reason: "Completed",
	}
	return p
}

// A Runner is Complete only when GitHub showed it with a job: the runner
// exits 0 also when it never ran one (actions/runner run-helper.sh), and 7
// when GitHub refuses its version.
func TestRunnerEnding(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	const grace = 30 * time.Second
	started := &octorunv1alpha1.JobAssignment{JobID: 7, RunID: 3, AssignedAt: metav1.NewTime(now.Add(-time.Minute))}
	completed := started.DeepCopy()
	completed.CompletedAt = &metav1.Time{Time: now.Add(-time.Second)}
	tests := []struct {
		name        string
		code        int32
		endedAgo    time.Duration
		job         *octorunv1alpha1.JobAssignment
		wantPhase   octorunv1alpha1.RunnerPhase
		wantExited  string // reason of Exited; "" for none
		wantOutdate bool
		wantWait    time.Duration
	}{
		{name: "exit 0 after a job started", job: started, wantPhase: octorunv1alpha1.RunnerPhaseComplete, wantExited: octorunv1alpha1.ReasonJobCompleted},
		{name: "exit 0 after a job completed", job: completed, wantPhase: octorunv1alpha1.RunnerPhaseComplete, wantExited: octorunv1alpha1.ReasonJobCompleted},
		{name: "exit 1 after GitHub completed the job", code: 1, job: completed, wantPhase: octorunv1alpha1.RunnerPhaseComplete, wantExited: octorunv1alpha1.ReasonJobCompleted},
		{name: "exit 1 while the job ran", code: 1, job: started, wantPhase: octorunv1alpha1.RunnerPhaseFailed, wantExited: octorunv1alpha1.ReasonPodTerminated},
		{name: "exit 0 without a job, just now", endedAgo: time.Second, wantPhase: octorunv1alpha1.RunnerPhaseIdle, wantWait: grace - time.Second},
		{name: "exit 0 without a job, grace over", endedAgo: grace, wantPhase: octorunv1alpha1.RunnerPhaseFailed, wantExited: octorunv1alpha1.ReasonRunnerExited},
		{name: "exit 7: outdated", code: 7, wantPhase: octorunv1alpha1.RunnerPhaseFailed, wantExited: octorunv1alpha1.ReasonOutdated, wantOutdate: true},
		{name: "exit 7 with a job hint", code: 7, job: started, wantPhase: octorunv1alpha1.RunnerPhaseFailed, wantExited: octorunv1alpha1.ReasonOutdated, wantOutdate: true},
		{name: "exit 2 without a job", code: 2, wantPhase: octorunv1alpha1.RunnerPhaseFailed, wantExited: octorunv1alpha1.ReasonPodTerminated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhaseIdle)
			obs := observation{pod: exitedPod(r, tt.code, now.Add(-tt.endedAgo)), job: tt.job, exitGrace: grace}
			status := computeStatus(r, obs, metav1.NewTime(now))
			if status.Phase != tt.wantPhase {
				t.Errorf("phase = %s, want %s", status.Phase, tt.wantPhase)
			}
			exited := meta.FindStatusCondition(status.Conditions, octorunv1alpha1.RunnerConditionExited)
			switch {
			case tt.wantExited == "" && exited != nil:
				t.Errorf("Exited = %+v, want none", exited)
			case tt.wantExited != "" && (exited == nil || exited.Reason != tt.wantExited || exited.Status != metav1.ConditionTrue):
				t.Errorf("Exited = %+v, want True/%s", exited, tt.wantExited)
			}
			if got := meta.IsStatusConditionTrue(status.Conditions, octorunv1alpha1.RunnerConditionRunnerOutdated); got != tt.wantOutdate {
				t.Errorf("RunnerOutdated = %v, want %v", got, tt.wantOutdate)
			}
			if got := endingOf(obs, now).waitFor; got != tt.wantWait {
				t.Errorf("wait for a late job report = %s, want %s", got, tt.wantWait)
			}
		})
	}
}
