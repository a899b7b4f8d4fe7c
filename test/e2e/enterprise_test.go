package e2e

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/githubsim"
)

// TestEnterpriseRunner: a Runner of https://github.com/enterprises/acme
// registers on the enterprise, takes a job of a repository of one of its
// organizations (the workflow_job webhook tells Octorun), turns Active,
// then Complete, and leaves no registration. A RunnerSet of the enterprise
// reaches its Idle runners, all on the enterprise, which are removed from
// the enterprise when the set goes.
func TestEnterpriseRunner(t *testing.T) {
	const url = "https://github.com/enterprises/acme"
	e := startEnv(t, envOptions{webhooks: true})
	e.sim.AddEnterprise("acme", "octo")
	ctx := context.Background()

	r := e.createRunnerAt(t, "ent", url)
	r = e.waitForPhase(t, r.Name, octorunv1alpha1.RunnerPhaseIdle)
	sr, ok := e.sim.Runner(r.Spec.ID)
	if !ok || sr.Enterprise != "acme" || sr.Org != "" || sr.Repo != "" {
		t.Fatalf("Runner ent is on GitHub as %+v (found %t), want a runner of enterprise acme", sr, ok)
	}

	job := e.sim.QueueJob(githubsim.JobRequest{Owner: "octo", Repo: "hello", Labels: []string{"self-hosted", "linux", "x64"}})
	r = e.waitForPhase(t, r.Name, octorunv1alpha1.RunnerPhaseActive)
	if j, _ := e.sim.Job(job.ID); j.RunnerID != r.Spec.ID {
		t.Fatalf("Job %d runs on runner %d, want the enterprise runner %d", job.ID, j.RunnerID, r.Spec.ID)
	}
	if err := e.sim.CompleteJob(job.ID); err != nil {
		t.Fatal(err)
	}
	e.waitForPhase(t, r.Name, octorunv1alpha1.RunnerPhaseComplete)
	if err := e.client.OctorunV1alpha1().Runners(e.ns).Delete(ctx, r.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitForRunnerGone(t, r.Name)
	if _, ok := e.sim.Runner(r.Spec.ID); ok {
		t.Errorf("GitHub runner %d is still registered after its Runner went", r.Spec.ID)
	}

	labels := map[string]string{octorunv1alpha1.LabelRunnerSet: "ent-pool"}
	set := &octorunv1alpha1.RunnerSet{
		ObjectMeta: metav1.ObjectMeta{Name: "ent-pool"},
		Spec: octorunv1alpha1.RunnerSetSpec{
			Runners:  ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: octorunv1alpha1.RunnerTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       octorunv1alpha1.RunnerSpec{URL: url},
			},
		},
	}
	if _, err := e.client.OctorunV1alpha1().RunnerSets(e.ns).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitForIdle(t, "ent-pool", 2)
	byPhase, _, err := e.setRunners(ctx, "ent-pool")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range byPhase[octorunv1alpha1.RunnerPhaseIdle] {
		if sr, ok := e.sim.Runner(r.Spec.ID); !ok || sr.Enterprise != "acme" {
			t.Errorf("Runner %s of the set is on GitHub as %+v (found %t), want a runner of enterprise acme", r.Name, sr, ok)
		}
	}

	// Idle enterprise runners are removed from the enterprise when they go.
	// (The first Runner's release may have cost a DELETE answered 404 too,
	// had it gone before the job's completed delivery.)
	const deleteCall = "DELETE /enterprises/{enterprise}/actions/runners/{id}"
	deletes := e.sim.Calls()[deleteCall]
	if err := e.client.OctorunV1alpha1().RunnerSets(e.ns).Delete(ctx, set.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "the set's Runners to be released", func(ctx context.Context) (bool, error) {
		list, err := e.client.OctorunV1alpha1().Runners(e.ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(list.Items) == 0, err
	})
	if left := e.sim.Runners(); len(left) != 0 {
		t.Errorf("GitHub still has runners %+v after their Runners went", left)
	}
	if n := e.sim.Calls()[deleteCall] - deletes; n != 2 {
		t.Errorf("%d deletes of enterprise runners, want 2: one per Idle runner of the set", n)
	}
}
