package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/githubsim"
)

// The end-to-end proofs of Octorun's fidelity to the real GitHub and the
// real runner (docs/github-fidelity.md).

// TestLabelsMatchWorkflows: a runner carries self-hosted, its OS and its
// arch, so runs-on: [self-hosted, linux, x64] (any case) reaches it, and a
// Runner pinned to arm64 nodes registers as ARM64.
func TestLabelsMatchWorkflows(t *testing.T) {
	e := startRunnerEnv(t)
	r := e.createRunner(t, "x64", nil)
	r = e.waitForPhase(t, r.Name, octorunv1alpha1.RunnerPhaseIdle)
	sr, _ := e.sim.Runner(r.Spec.ID)
	if want := []string{"self-hosted", "Linux", "X64"}; strings.Join(sr.Labels, ",") != strings.Join(want, ",") {
		t.Errorf("GitHub runner labels = %v, want %v", sr.Labels, want)
	}
	job := e.sim.QueueJob(githubsim.JobRequest{Owner: "octo", Repo: "hello", Labels: []string{"self-hosted", "linux", "x64"}})
	Eventually(t, "the runs-on: [self-hosted, linux, x64] job to start on the runner", func(context.Context) (bool, error) {
		j, _ := e.sim.Job(job.ID)
		return j.RunnerID == r.Spec.ID, nil
	})

	arm, err := e.client.OctorunV1alpha1().Runners(e.ns).Create(context.Background(), &octorunv1alpha1.Runner{
		ObjectMeta: metav1.ObjectMeta{Name: "arm", Labels: map[string]string{octorunv1alpha1.LabelRunner: "arm"}},
		Spec: octorunv1alpha1.RunnerSpec{URL: "https://github.com/octo", Placement: octorunv1alpha1.RunnerPlacement{
			NodeSelector: map[string]string{octorunv1alpha1.NodeLabelArch: "arm64"},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	Eventually(t, "the arm64 Runner to register", func(ctx context.Context) (bool, error) {
		arm, err = e.client.OctorunV1alpha1().Runners(e.ns).Get(ctx, arm.Name, metav1.GetOptions{})
		return err == nil && arm.Spec.ID != 0, err
	})
	if sr, _ := e.sim.Runner(arm.Spec.ID); !containsString(sr.Labels, "ARM64") || containsString(sr.Labels, "X64") {
		t.Errorf("GitHub labels of the arm64 Runner = %v, want ARM64 and not X64", sr.Labels)
	}
}

// TestRunnerExitedWithoutJob: a runner whose session another process holds
// exits 0 without a job, as the real one does (run-helper.sh turns the
// listener's session conflict into 0). The Runner is Failed with
// RunnerExited, not Complete, and its registration, still on GitHub, is
// removed when the Runner goes.
func TestRunnerExitedWithoutJob(t *testing.T) {
	e := startRunnerEnv(t)
	// The pod waits for a node labelled for this test, so the other
	// process connects first.
	key := "e2e.octorun.github.io/" + e.ns
	r, err := e.client.OctorunV1alpha1().Runners(e.ns).Create(context.Background(), &octorunv1alpha1.Runner{
		ObjectMeta: metav1.ObjectMeta{Name: "conflict", Labels: map[string]string{octorunv1alpha1.LabelRunner: "conflict"}},
		Spec: octorunv1alpha1.RunnerSpec{URL: "https://github.com/octo", Placement: octorunv1alpha1.RunnerPlacement{
			NodeSelector: map[string]string{key: "yes"},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	Eventually(t, "the Runner to register", func(ctx context.Context) (bool, error) {
		r, err = e.client.OctorunV1alpha1().Runners(e.ns).Get(ctx, r.Name, metav1.GetOptions{})
		return err == nil && r.Spec.ID != 0, err
	})
	if err := e.sim.SetRunnerOnline(r.Spec.ID, true); err != nil {
		t.Fatal(err)
	}
	labelNode(t, key, "yes")

	r = e.waitForPhase(t, r.Name, octorunv1alpha1.RunnerPhaseFailed)
	if c := meta.FindStatusCondition(r.Status.Conditions, octorunv1alpha1.RunnerConditionExited); c == nil || c.Reason != octorunv1alpha1.ReasonRunnerExited {
		t.Errorf("Exited = %+v, want %s", c, octorunv1alpha1.ReasonRunnerExited)
	}
	if n := e.sim.Connections().SessionConflict; n == 0 {
		t.Error("The runner met no session conflict: the test did not play")
	}
	if err := e.client.OctorunV1alpha1().Runners(e.ns).Delete(context.Background(), r.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitForRunnerGone(t, r.Name)
	if _, ok := e.sim.Runner(r.Spec.ID); ok {
		t.Errorf("GitHub runner %d is still registered after its Runner went", r.Spec.ID)
	}
}

// TestRegistrationRemovedUnderRunner: GitHub removes an Idle runner's
// registration (as it removes never-connected ones after a day); the runner
// exits 0, Octorun asks GitHub once, and the Runner ends as removed,
// without a DELETE when it goes.
func TestRegistrationRemovedUnderRunner(t *testing.T) {
	e := startRunnerEnv(t)
	r := e.createRunner(t, "vanished", nil)
	r = e.waitForPhase(t, r.Name, octorunv1alpha1.RunnerPhaseIdle)
	if err := e.sim.RemoveRunner(r.Spec.ID); err != nil {
		t.Fatal(err)
	}
	r = e.waitForPhase(t, r.Name, octorunv1alpha1.RunnerPhaseComplete)
	if c := meta.FindStatusCondition(r.Status.Conditions, octorunv1alpha1.RunnerConditionExited); c == nil || c.Reason != octorunv1alpha1.ReasonRegistrationRemoved {
		t.Errorf("Exited = %+v, want %s", c, octorunv1alpha1.ReasonRegistrationRemoved)
	}
	if err := e.client.OctorunV1alpha1().Runners(e.ns).Delete(context.Background(), r.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitForRunnerGone(t, r.Name)
	calls := e.sim.Calls()
	if n := calls["DELETE /orgs/{org}/actions/runners/{id}"]; n != 0 {
		t.Errorf("%d DELETEs of a registration GitHub had removed, want 0 (%v)", n, calls)
	}
}

// TestFailedJobCompletesRunner: GitHub removes an ephemeral runner after its
// job whatever the conclusion; a failed job's Runner is Complete, and
// nothing is left on GitHub.
func TestFailedJobCompletesRunner(t *testing.T) {
	e := startEnv(t, envOptions{webhooks: true})
	r := e.createRunner(t, "fails", nil)
	r = e.waitForPhase(t, r.Name, octorunv1alpha1.RunnerPhaseIdle)
	job := e.sim.QueueJob(githubsim.JobRequest{Owner: "octo", Repo: "hello", Labels: []string{"self-hosted"}})
	e.waitForPhase(t, r.Name, octorunv1alpha1.RunnerPhaseActive)
	if err := e.sim.FinishJob(job.ID, "failure"); err != nil {
		t.Fatal(err)
	}
	r = e.waitForPhase(t, r.Name, octorunv1alpha1.RunnerPhaseComplete)
	if c := meta.FindStatusCondition(r.Status.Conditions, octorunv1alpha1.RunnerConditionExited); c == nil || c.Reason != octorunv1alpha1.ReasonJobCompleted {
		t.Errorf("Exited = %+v, want %s", c, octorunv1alpha1.ReasonJobCompleted)
	}
	if _, ok := e.sim.Runner(r.Spec.ID); ok {
		t.Errorf("GitHub still has runner %d after its failed job", r.Spec.ID)
	}
}

// labelNode labels the first fake node with key=value until the test ends.
func labelNode(t *testing.T, key, value string) {
	t.Helper()
	node := ControlPlane.Nodes[0]
	patch := func(v any) {
		body := fmt.Sprintf(`{"metadata":{"labels":{%q:%s}}}`, key, v)
		if _, err := Client.CoreV1().Nodes().Patch(context.Background(), node, types.MergePatchType, []byte(body), metav1.PatchOptions{}); err != nil {
			t.Errorf("labelling node %s: %v", node, err)
		}
	}
	patch(fmt.Sprintf("%q", value))
	t.Cleanup(func() { patch("null") })
}
