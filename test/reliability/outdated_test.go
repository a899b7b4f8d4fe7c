package reliability

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/framework/world"
	"github.com/octorun/octorun/test/githubsim"
)

// outdatedImage is a runner release older than the 2.329.0 GitHub requires
// (and the simulator's default minimum).
const outdatedImage = "ghcr.io/actions/actions-runner:2.327.1"

// TestOutdatedRunners plays the first real install with a stale image:
// GitHub refuses every runner's version, each runner exits 7 (Octorun has
// run-helper.sh pass the code through), and the set must back off instead
// of registering in a loop, say why, and leave nothing on GitHub once gone.
func TestOutdatedRunners(t *testing.T) {
	const n = 10
	r := newResult(t, "8. Outdated runner image",
		fmt.Sprintf("registrations within the failure backoff (%d at first); RunnerOutdated on the set; 0 registrations left", n))
	ctx := context.Background()
	// Octorun's default failure backoff: 5s, doubling, at most 5 minutes.
	const firstWait, maxWait = 5 * time.Second, 5 * time.Minute
	w := startWorld(t, world.Options{
		AgentEvery:  100 * time.Millisecond,
		Sim:         githubsim.Options{MinRunnerVersion: githubsim.DefaultMinRunnerVersion},
		OctorunArgs: []string{"--github-secondary-limit=0", "--runnerset-failure-backoff=" + firstWait.String(), "--runnerset-max-failure-backoff=" + maxWait.String()},
	})
	set := w.RunnerSet(setName, n)
	set.Spec.Template.Spec.Image.Name = outdatedImage
	start := time.Now()
	if _, err := w.Octo.OctorunV1alpha1().RunnerSets(namespace).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var message string
	if err := w.WaitFor(ctx, "RunnerOutdated on the set", 2*time.Minute, func() (bool, error) {
		s, err := w.Octo.OctorunV1alpha1().RunnerSets(namespace).Get(ctx, setName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		c := meta.FindStatusCondition(s.Status.Conditions, octorunv1alpha1.RunnerSetConditionRunnerOutdated)
		if c != nil && c.Status == metav1.ConditionTrue {
			message = c.Message
			return true, nil
		}
		return false, nil
	}); err != nil {
		t.Fatal(err)
	}
	r.Figures["RunnerOutdated after"] = time.Since(start).Round(100 * time.Millisecond).String()
	r.Figures["RunnerOutdated message"] = message
	sleep(ctx, time.Until(start.Add(sz.outdatedWindow)))

	registrations := w.Sim.Calls()[jitCall]
	refused := w.Sim.Connections().VersionDeprecated
	bound := n * (1 + backoffExpiries(n, firstWait, maxWait, sz.outdatedWindow))
	r.Figures["registrations in the window"] = registrations
	r.Figures["registrations allowed"] = bound
	r.Figures["connections refused for the version"] = refused
	r.Figures["window"] = sz.outdatedWindow.String()
	if registrations > bound {
		t.Errorf("%d registrations in %s, want at most %d: the set does not back off", registrations, sz.outdatedWindow, bound)
	}
	if refused == 0 {
		t.Error("No runner was refused for its version: the scenario did not play")
	}
	failed := 0
	for _, n := range w.Tracker.Failed() {
		failed += n
	}
	r.Figures["Runners failed"] = failed

	// Deleting the set removes every registration.
	if err := w.Octo.OctorunV1alpha1().RunnerSets(namespace).Delete(ctx, setName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitFor(ctx, "no registration left on GitHub", 2*time.Minute, func() (bool, error) {
		runners, err := runnersOf(ctx, w)
		return err == nil && len(runners) == 0 && len(w.Sim.Runners()) == 0, nil
	}); err != nil {
		t.Errorf("%v: %d GitHub runners left", err, len(w.Sim.Runners()))
	}
	r.Runners = w.Tracker.Created()
	r.Figures["registrations left on GitHub"] = len(w.Sim.Runners())
}

// backoffExpiries is how many times a RunnerSet whose n runners all fail
// at once may create them again within window: each batch of n failures
// counts n times, so the wait after the k-th batch is first·2^(k·n-1),
// at most max.
func backoffExpiries(n int, first, max, window time.Duration) int {
	expiries, elapsed := 0, time.Duration(0)
	for k := 1; ; k++ {
		wait := max
		if shift := k*n - 1; shift < 30 {
			wait = min(first<<shift, max)
		}
		if elapsed += wait; elapsed > window {
			return expiries
		}
		expiries++
	}
}
