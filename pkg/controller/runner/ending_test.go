package runner

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/github"
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
		registered  *bool  // GitHub's answer; nil when not asked
		wantOutdate bool
		wantWait    time.Duration
		wantAsk     bool
	}{
		{name: "exit 0 after a job started", job: started, wantPhase: octorunv1alpha1.RunnerPhaseComplete, wantExited: octorunv1alpha1.ReasonJobCompleted},
		{name: "exit 0 after a job completed", job: completed, wantPhase: octorunv1alpha1.RunnerPhaseComplete, wantExited: octorunv1alpha1.ReasonJobCompleted},
		{name: "exit 1 after GitHub completed the job", code: 1, job: completed, wantPhase: octorunv1alpha1.RunnerPhaseComplete, wantExited: octorunv1alpha1.ReasonJobCompleted},
		{name: "exit 1 while the job ran", code: 1, job: started, wantPhase: octorunv1alpha1.RunnerPhaseFailed, wantExited: octorunv1alpha1.ReasonPodTerminated},
		{name: "exit 0 without a job, just now", endedAgo: time.Second, wantPhase: octorunv1alpha1.RunnerPhaseIdle, wantWait: grace - time.Second},
		{name: "exit 0 without a job, grace over: ask GitHub", endedAgo: grace, wantPhase: octorunv1alpha1.RunnerPhaseIdle, wantAsk: true},
		{name: "exit 0 without a job, still registered", endedAgo: grace, registered: ptr.To(true), wantPhase: octorunv1alpha1.RunnerPhaseFailed, wantExited: octorunv1alpha1.ReasonRunnerExited},
		{name: "exit 0 without a job, removed by GitHub", endedAgo: grace, registered: ptr.To(false), wantPhase: octorunv1alpha1.RunnerPhaseComplete, wantExited: octorunv1alpha1.ReasonRegistrationRemoved},
		{name: "exit 7: outdated", code: 7, wantPhase: octorunv1alpha1.RunnerPhaseFailed, wantExited: octorunv1alpha1.ReasonOutdated, wantOutdate: true},
		{name: "exit 7 with a job hint", code: 7, job: started, wantPhase: octorunv1alpha1.RunnerPhaseFailed, wantExited: octorunv1alpha1.ReasonOutdated, wantOutdate: true},
		{name: "exit 2 without a job", code: 2, wantPhase: octorunv1alpha1.RunnerPhaseFailed, wantExited: octorunv1alpha1.ReasonPodTerminated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhaseIdle)
			obs := observation{pod: exitedPod(r, tt.code, now.Add(-tt.endedAgo)), job: tt.job, exitGrace: grace}
			if tt.registered != nil {
				obs.registrationGone = ptr.To(!*tt.registered)
			}
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
			end := endingOf(obs, now)
			if end.waitFor != tt.wantWait || end.askGitHub != tt.wantAsk {
				t.Errorf("wait for a late job report = %s, ask GitHub %v; want %s, %v", end.waitFor, end.askGitHub, tt.wantWait, tt.wantAsk)
			}
		})
	}
}

// A sync asks GitHub once about a runner that exited with no job seen, after
// the grace for a late delivery, and not before.
func TestSyncAsksGitHubAboutAnExitWithoutJob(t *testing.T) {
	tests := []struct {
		name      string
		endedAgo  time.Duration
		getErr    error
		wantCalls []string
		wantPhase octorunv1alpha1.RunnerPhase
		wantErr   bool
	}{
		{name: "within the grace", endedAgo: time.Second, wantPhase: octorunv1alpha1.RunnerPhaseIdle},
		{name: "registration removed", endedAgo: time.Minute, getErr: apiErr(404, github.ErrNotFound),
			wantCalls: []string{"GetRunner"}, wantPhase: octorunv1alpha1.RunnerPhaseComplete},
		{name: "registration still there", endedAgo: time.Minute,
			wantCalls: []string{"GetRunner"}, wantPhase: octorunv1alpha1.RunnerPhaseFailed},
		{name: "GitHub down", endedAgo: time.Minute, getErr: apiErr(502, github.ErrServer),
			wantCalls: []string{"GetRunner"}, wantPhase: octorunv1alpha1.RunnerPhaseIdle, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.github.getErr = tt.getErr
			r := registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhaseIdle)
			f.addRunner(r)
			f.addPod(exitedPod(r, 0, time.Unix(1_800_000_000, 0).Add(-tt.endedAgo))) // the fixture's now
			requeue, err := f.run(r)
			if (err != nil) != tt.wantErr {
				t.Fatalf("sync error = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantCalls == nil && requeue <= 0 {
				t.Errorf("requeue after %s, want a requeue when the grace ends", requeue)
			}
			if diff := cmp.Diff(tt.wantCalls, f.github.calls); diff != "" {
				t.Errorf("GitHub calls (-want +got):\n%s", diff)
			}
			if got := f.runner("r1"); got.Status.Phase != tt.wantPhase {
				t.Errorf("phase = %s, want %s", got.Status.Phase, tt.wantPhase)
			}
		})
	}
}
