package e2e

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// Calls of the simulator's API that a GitHub App makes, by Calls key.
const (
	callFindOrgInstallation = "GET /orgs/{org}/installation"
	callInstallationToken   = "POST /app/installations/{id}/access_tokens"
	callDeleteOrgRunner     = "DELETE /orgs/{org}/actions/runners/{id}"
)

// createRunnerAt creates Runner name with runner URL url.
func (e *runnerEnv) createRunnerAt(t *testing.T, name, url string) *octorunv1alpha1.Runner {
	t.Helper()
	r, err := e.client.OctorunV1alpha1().Runners(e.ns).Create(context.Background(), &octorunv1alpha1.Runner{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{octorunv1alpha1.LabelRunner: name}},
		Spec:       octorunv1alpha1.RunnerSpec{URL: url},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Creating Runner %s for %s: %v", name, url, err)
	}
	return r
}

// TestAppAcrossInstallations: one GitHub App, no installation id given,
// installed on two organizations under two installations. Octorun finds
// each organization's installation and registers its runners with that
// installation's token; an organization the App is not installed on gets
// Registered=False NotInstalled, one lookup, and no pod. Deleted Runners
// leave no registration.
func TestAppAcrossInstallations(t *testing.T) {
	const appID = 4242
	e := startEnv(t, envOptions{app: newEnvApp(t, appID)})
	e.sim.AddInstallation(appID, 1, "octo")
	e.sim.AddInstallation(appID, 2, "other")
	e.sim.AddOrganization("stranger")
	ctx := context.Background()

	e.createRunnerAt(t, "in-octo", "https://github.com/octo")
	e.createRunnerAt(t, "in-other", "https://github.com/other")
	for name, org := range map[string]string{"in-octo": "octo", "in-other": "other"} {
		r := e.waitForPhase(t, name, octorunv1alpha1.RunnerPhaseIdle)
		if sr, ok := e.sim.Runner(r.Spec.ID); !ok || sr.Org != org || sr.Enterprise != "" || sr.Repo != "" {
			t.Errorf("Runner %s is on GitHub as %+v (found %t), want a runner of organization %s", name, sr, ok, org)
		}
	}
	// One lookup and one token per installation: an installation token
	// used on the other organization would have been answered 403.
	calls := e.sim.Calls()
	if calls[callFindOrgInstallation] != 2 || calls[callInstallationToken] != 2 {
		t.Errorf("GitHub calls %v: want 2 installation lookups and 2 installation tokens", calls)
	}
	if n := e.sim.CallsByStatus()[403]; n != 0 {
		t.Errorf("GitHub answered 403 %d times (%v), want never", n, calls)
	}

	// Not installed: the client remembers the 404 of the lookup for a
	// minute, so the retries (every second in this env) make no calls.
	before := e.sim.Calls()
	e.createRunnerAt(t, "in-stranger", "https://github.com/stranger")
	var stranger *octorunv1alpha1.Runner
	Eventually(t, "Runner in-stranger to be Registered=False NotInstalled", func(ctx context.Context) (bool, error) {
		var err error
		stranger, err = e.client.OctorunV1alpha1().Runners(e.ns).Get(ctx, "in-stranger", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		c := meta.FindStatusCondition(stranger.Status.Conditions, octorunv1alpha1.RunnerConditionRegistered)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == octorunv1alpha1.ReasonNotInstalled, nil
	})
	// Five retry periods.
	time.Sleep(5 * time.Second)
	after := e.sim.Calls()
	made := map[string]int{}
	total := 0
	for k, n := range after {
		if d := n - before[k]; d != 0 {
			made[k] = d
			total += d
		}
	}
	if total != 1 || made[callFindOrgInstallation] != 1 {
		t.Errorf("GitHub calls for the organization without the App over 5 retry periods: %v, want exactly 1 installation lookup", made)
	}
	stranger, err := e.client.OctorunV1alpha1().Runners(e.ns).Get(ctx, "in-stranger", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := meta.FindStatusCondition(stranger.Status.Conditions, octorunv1alpha1.RunnerConditionRegistered); c == nil || c.Reason != octorunv1alpha1.ReasonNotInstalled {
		t.Errorf("Registered = %+v after 5 s, want still %s", c, octorunv1alpha1.ReasonNotInstalled)
	}
	if stranger.Spec.ID != 0 {
		t.Errorf("Runner in-stranger has spec.id %d, want none", stranger.Spec.ID)
	}
	if _, err := Client.CoreV1().Pods(e.ns).Get(ctx, "in-stranger", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Pod of Runner in-stranger: %v, want none", err)
	}
	if _, err := Client.CoreV1().Secrets(e.ns).Get(ctx, "in-stranger", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Secret of Runner in-stranger: %v, want none", err)
	}
	for _, sr := range e.sim.Runners() {
		if sr.Org == "stranger" {
			t.Errorf("GitHub has runner %+v in the organization without the App", sr)
		}
	}

	for _, name := range []string{"in-octo", "in-other", "in-stranger"} {
		if err := e.client.OctorunV1alpha1().Runners(e.ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"in-octo", "in-other", "in-stranger"} {
		e.waitForRunnerGone(t, name)
	}
	if left := e.sim.Runners(); len(left) != 0 {
		t.Errorf("GitHub still has runners %+v after their Runners went", left)
	}
	if n := e.sim.Calls()[callDeleteOrgRunner]; n != 2 {
		t.Errorf("%d GitHub deletes, want 2 (none for the Runner never registered)", n)
	}
}
