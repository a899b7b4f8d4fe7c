package e2e

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/framework/octorunproc"
	"github.com/octorun/octorun/test/framework/runneragent"
	"github.com/octorun/octorun/test/githubsim"
)

// TestLeaderFailover runs two Octorun processes: one leads; when it is
// killed the other takes over within 15 s, and no runner is created twice.
func TestLeaderFailover(t *testing.T) {
	client := InstallCRDs(t)
	ns := NewNamespace(t)
	grantAll(t, ns)

	sim := githubsim.New(githubsim.Options{})
	sim.AddToken(simToken)
	sim.AddOrganization("octo")
	srv := httptest.NewServer(sim)
	defer srv.Close()
	defer sim.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go (&runneragent.Agent{Client: Client, Sim: sim, Namespace: ns}).Run(ctx)

	args := []string{"--kubeconfig", ControlPlane.KubeconfigPath, "--github-api-url", srv.URL + "/", "--namespace", ns,
		"--pod-namespace", ns, "--metrics-addr", "127.0.0.1:0", "--health-probe-addr", "127.0.0.1:0", "--runner-name-prefix", "leader-", "-v", "2"}
	a := startOctorun(t, args...)
	b := startOctorun(t, args...)

	labels := map[string]string{octorunv1alpha1.LabelRunnerSet: "ha"}
	set := &octorunv1alpha1.RunnerSet{
		ObjectMeta: metav1.ObjectMeta{Name: "ha"},
		Spec: octorunv1alpha1.RunnerSetSpec{
			Runners:  ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: octorunv1alpha1.RunnerTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octo"},
			},
		},
	}
	if _, err := client.OctorunV1alpha1().RunnerSets(ns).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e := &runnerEnv{ns: ns, sim: sim, client: client}
	e.waitForIdle(t, "ha", 3)

	var leader, follower *octorunproc.Process
	Eventually(t, "one process to lead", func(context.Context) (bool, error) {
		switch la, lb := a.LogContains("Leading: starting"), b.LogContains("Leading: starting"); {
		case la && lb:
			t.Fatal("Both processes lead")
		case la:
			leader, follower = a, b
		case lb:
			leader, follower = b, a
		}
		return leader != nil, nil
	})

	killed := time.Now()
	leader.Kill()
	Eventually(t, "the other process to lead", func(context.Context) (bool, error) {
		return follower.LogContains("Leading: starting"), nil
	})
	if took := time.Since(killed); took > 15*time.Second {
		t.Errorf("The takeover took %s, want under 15s", took)
	} else {
		t.Logf("The takeover took %s", took.Round(100*time.Millisecond))
	}

	// The new leader keeps the set: scale it up.
	MustKubectl(t, "scale", "-n", ns, "runnerset/ha", "--replicas=5")
	e.waitForIdle(t, "ha", 5)
	if got := sim.Calls()["POST /orgs/{org}/actions/runners/generate-jitconfig"]; got != 5 {
		t.Errorf("%d runners registered for 5 Runners: a runner was created twice", got)
	}
	list, err := client.OctorunV1alpha1().Runners(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 5 {
		t.Errorf("%d Runners, want 5 (%v)", len(list.Items), err)
	}

	// Clean up while the leader runs.
	if err := client.OctorunV1alpha1().RunnerSets(ns).Delete(ctx, "ha", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "the runners to be released", func(ctx context.Context) (bool, error) {
		list, err := client.OctorunV1alpha1().Runners(ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(list.Items) == 0, err
	})
}
