package e2e

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/githubsim"
)

const simToken = "ghp_e2e"

func (e *runnerEnv) createRunner(t *testing.T, name string, labels map[string]string) *octorunv1alpha1.Runner {
	t.Helper()
	all := map[string]string{octorunv1alpha1.LabelRunner: name}
	for k, v := range labels {
		all[k] = v
	}
	r, err := e.client.OctorunV1alpha1().Runners(e.ns).Create(context.Background(), &octorunv1alpha1.Runner{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: all},
		Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octo"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Creating Runner %s: %v", name, err)
	}
	return r
}

func (e *runnerEnv) waitForPhase(t *testing.T, name string, phase octorunv1alpha1.RunnerPhase) *octorunv1alpha1.Runner {
	t.Helper()
	var r *octorunv1alpha1.Runner
	Eventually(t, "Runner "+name+" to be "+string(phase), func(ctx context.Context) (bool, error) {
		var err error
		r, err = e.client.OctorunV1alpha1().Runners(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return r.Status.Phase == phase, nil
	})
	return r
}

func (e *runnerEnv) waitForRunnerGone(t *testing.T, name string) {
	t.Helper()
	Eventually(t, "Runner "+name+" to be gone with its pod and Secret", func(ctx context.Context) (bool, error) {
		_, err := e.client.OctorunV1alpha1().Runners(e.ns).Get(ctx, name, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return false, nil
		}
		_, podErr := Client.CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
		_, secretErr := Client.CoreV1().Secrets(e.ns).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(podErr) && apierrors.IsNotFound(secretErr), nil
	})
}

// runnerCalls counts the GitHub calls made for Runners: all but the GitHub
// sync's lists of an organization's runners, which it makes when it starts
// and then every period.
func (e *runnerEnv) runnerCalls() int {
	n := 0
	for call, c := range e.sim.Calls() {
		if call != "GET /orgs/{org}/actions/runners" {
			n += c
		}
	}
	return n
}

// TestRunnerRunsOneJob: a Runner registers, goes Idle, runs a job, becomes
// Complete and is released — with one GitHub call in all.
func TestRunnerRunsOneJob(t *testing.T) {
	e := startRunnerEnv(t)
	e.createRunner(t, "one-job", map[string]string{"octorun.github.io/size": "large"})

	r := e.waitForPhase(t, "one-job", octorunv1alpha1.RunnerPhaseIdle)
	if r.Spec.ID == 0 || r.Spec.OS == "" {
		t.Fatalf("Idle Runner has spec.id %d and spec.os %q, want both set", r.Spec.ID, r.Spec.OS)
	}
	sr, ok := e.sim.Runner(r.Spec.ID)
	if !ok || sr.Status != "online" || sr.Name != envPrefix+e.ns+".one-job" {
		t.Fatalf("The simulator has runner %d as %+v, want it online and named after the Runner", r.Spec.ID, sr)
	}
	if !containsString(sr.Labels, "size=large") || !containsString(sr.Labels, "self-hosted") {
		t.Errorf("GitHub runner labels = %v, want self-hosted and size=large", sr.Labels)
	}
	pod, err := Client.CoreV1().Pods(e.ns).Get(context.Background(), "one-job", metav1.GetOptions{})
	if err != nil || pod.Annotations["cluster-autoscaler.kubernetes.io/safe-to-evict"] != "true" {
		t.Errorf("Idle runner pod = %v (%v), want safe-to-evict true", pod.GetAnnotations(), err)
	}

	job := e.sim.QueueJob(githubsim.JobRequest{Owner: "octo", Repo: "hello", Labels: []string{"size=large"}})
	Eventually(t, "the job to start on the runner", func(context.Context) (bool, error) {
		j, _ := e.sim.Job(job.ID)
		return j.RunnerID == r.Spec.ID, nil
	})
	if err := e.sim.CompleteJob(job.ID); err != nil {
		t.Fatal(err)
	}
	e.waitForPhase(t, "one-job", octorunv1alpha1.RunnerPhaseComplete)

	if err := e.client.OctorunV1alpha1().Runners(e.ns).Delete(context.Background(), "one-job", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitForRunnerGone(t, "one-job")
	// Without webhooks nothing told Octorun of the job: one GET of the
	// runner, gone as GitHub removes ephemeral runners after their job,
	// settled it (with webhooks the registration is the only call).
	if calls := e.runnerCalls(); calls != 2 {
		t.Errorf("A runner that ran one job cost %d GitHub calls (%v), want 2", calls, e.sim.Calls())
	}
}

// TestDeleteIdleRunner removes the runner from GitHub, then everything.
func TestDeleteIdleRunner(t *testing.T) {
	e := startRunnerEnv(t)
	e.createRunner(t, "idle", nil)
	r := e.waitForPhase(t, "idle", octorunv1alpha1.RunnerPhaseIdle)

	if err := e.client.OctorunV1alpha1().Runners(e.ns).Delete(context.Background(), "idle", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitForRunnerGone(t, "idle")
	if _, ok := e.sim.Runner(r.Spec.ID); ok {
		t.Errorf("Runner %d is still registered on GitHub", r.Spec.ID)
	}
	if got := e.sim.Calls()["DELETE /orgs/{org}/actions/runners/{id}"]; got != 1 {
		t.Errorf("%d GitHub deletes, want 1", got)
	}
}

// TestDeleteActiveRunnerWaitsForItsJob: GitHub refuses to delete a runner
// with a job; the Runner turns Active and goes only when the job is done.
func TestDeleteActiveRunnerWaitsForItsJob(t *testing.T) {
	e := startRunnerEnv(t)
	e.createRunner(t, "busy", nil)
	r := e.waitForPhase(t, "busy", octorunv1alpha1.RunnerPhaseIdle)
	job := e.sim.QueueJob(githubsim.JobRequest{Owner: "octo", Repo: "hello"})
	Eventually(t, "the job to start on the runner", func(context.Context) (bool, error) {
		j, _ := e.sim.Job(job.ID)
		return j.RunnerID == r.Spec.ID, nil
	})

	if err := e.client.OctorunV1alpha1().Runners(e.ns).Delete(context.Background(), "busy", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	r = e.waitForPhase(t, "busy", octorunv1alpha1.RunnerPhaseActive)
	pod, err := Client.CoreV1().Pods(e.ns).Get(context.Background(), "busy", metav1.GetOptions{})
	if err != nil || pod.Status.Phase != corev1.PodRunning || pod.Annotations["cluster-autoscaler.kubernetes.io/safe-to-evict"] != "false" ||
		pod.Annotations["karpenter.sh/do-not-disrupt"] != "true" {
		t.Fatalf("The busy runner's pod = %v %v (%v), want it running and protected from eviction", pod.GetAnnotations(), pod.Status.Phase, err)
	}
	if j, _ := e.sim.Job(job.ID); j.Status != githubsim.JobInProgress {
		t.Fatalf("The job is %s, want it still running", j.Status)
	}

	if err := e.sim.CompleteJob(job.ID); err != nil {
		t.Fatal(err)
	}
	e.waitForRunnerGone(t, "busy")
	if j, _ := e.sim.Job(job.ID); j.Conclusion != githubsim.ConclusionSuccess {
		t.Errorf("The job ended %q, want success: Octorun must not kill a job", j.Conclusion)
	}
}

// TestFailedPodFailsRunner: a runner pod that fails makes the Runner Failed.
func TestFailedPodFailsRunner(t *testing.T) {
	e := startRunnerEnv(t)
	e.createRunner(t, "crash", nil)
	e.waitForPhase(t, "crash", octorunv1alpha1.RunnerPhaseIdle)
	exitPod(t, e.ns, "crash", "3")
	r := e.waitForPhase(t, "crash", octorunv1alpha1.RunnerPhaseFailed)
	for _, c := range r.Status.Conditions {
		if c.Type == octorunv1alpha1.RunnerConditionPodReady && c.Reason != octorunv1alpha1.ReasonPodTerminated {
			t.Errorf("PodReady reason = %s, want %s", c.Reason, octorunv1alpha1.ReasonPodTerminated)
		}
	}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
