package reliability

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/framework/world"
	"github.com/octorun/octorun/test/githubsim"
)

// TestBusyRunners disrupts runners that hold jobs every way a user or an
// administrator can: the RunnerSet scaled down, a Runner deleted with
// kubectl, the RunnerSet's template changed, and a node drained.
func TestBusyRunners(t *testing.T) {
	r := newResult(t, "5. Busy runners scaled down, deleted, re-templated and drained",
		"0 jobs killed by Octorun")
	ctx := context.Background()
	n := sz.busyRunners
	const jobLength = 30 * time.Second
	w := startWorld(t, world.Options{
		Nodes: 2, AgentEvery: 100 * time.Millisecond, WithWebhooks: true,
		Sim:         githubsim.Options{WebhookWorkers: 4},
		OctorunArgs: []string{"--github-secondary-limit=0"},
	})
	if err := w.CreateRunnerSet(ctx, setName, n); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitIdle(ctx, n); err != nil {
		t.Fatal(err)
	}
	queueJobs(ctx, w, n, 0, jobLength, jobLength)
	if err := w.WaitFor(ctx, "every runner Active", time.Minute, func() (bool, error) {
		return w.Tracker.CountPhase(octorunv1alpha1.RunnerPhaseActive) >= n, nil
	}); err != nil {
		t.Fatal(err)
	}
	kubectl := func(args ...string) {
		t.Helper()
		out, err := w.CP.KubectlCommand(ctx, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}

	// 1. The template changes.
	patch := `{"spec":{"template":{"metadata":{"labels":{"reliability/revision":"2"}}}}}`
	if _, err := w.Octo.OctorunV1alpha1().RunnerSets(namespace).Patch(ctx, setName, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// 2. A busy Runner is deleted.
	runners, err := runnersOf(ctx, w)
	if err != nil || len(runners) == 0 {
		t.Fatalf("Listing Runners: %v (%d)", err, len(runners))
	}
	kubectl("delete", "runner", "-n", namespace, runners[0].Name, "--wait=false")
	// 3. The RunnerSet scales down by half.
	if err := w.Scale(ctx, setName, n/2); err != nil {
		t.Fatal(err)
	}
	// 4. A node is drained: kubectl evicts its pods, retrying while a
	// PodDisruptionBudget forbids it, until the jobs are done.
	node := w.CP.Nodes[0]
	drained := make(chan error, 1)
	drainStart := time.Now()
	go func() {
		out, err := w.CP.KubectlCommand(ctx, "drain", node, "--ignore-daemonsets", "--delete-emptydir-data",
			"--timeout="+(jobLength+2*time.Minute).String()).CombinedOutput()
		if err != nil {
			err = fmt.Errorf("kubectl drain: %w: %s", err, out)
		}
		drained <- err
	}()
	r.Faults, r.FaultKind = 4, "disruptions"

	waitJobs(ctx, t, w, n, jobLength+3*time.Minute)
	if err := <-drained; err != nil {
		t.Error(err)
	}
	r.Figures["kubectl drain waited for the jobs"] = time.Since(drainStart).Round(time.Second).String()
	kubectl("uncordon", node)
	waitConverged(ctx, t, w, n/2, 3*time.Minute)
	audit(ctx, t, w, r, -1)
}
