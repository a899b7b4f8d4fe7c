package reliability

import (
	"context"
	"fmt"
	"testing"
	"time"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/framework/controlplane"
	"github.com/octorun/octorun/test/framework/world"
)

// TestAPIServerTrouble restarts kube-apiserver in the middle of a scale-up,
// then makes etcd unavailable for a while (killed, then started again).
func TestAPIServerTrouble(t *testing.T) {
	r := newResult(t, "4. API server restarted and etcd unavailable mid-scale",
		"Octorun recovers without a restart of its own and converges")
	ctx := context.Background()
	w := startWorld(t, world.Options{
		Nodes: max(1, sz.apiRunners/100), AgentEvery: 100 * time.Millisecond,
		// Slow enough that the outages land in the middle of the scale-up.
		OctorunArgs: []string{"--github-secondary-limit=0", fmt.Sprintf("--kube-api-qps=%d", max(20, sz.apiRunners/4)), fmt.Sprintf("--kube-api-burst=%d", max(20, sz.apiRunners/4))},
	})
	octorun := w.Octorun()
	if err := w.CreateRunnerSet(ctx, setName, 0); err != nil {
		t.Fatal(err)
	}
	half := sz.apiRunners / 2
	if err := w.Scale(ctx, setName, half); err != nil {
		t.Fatal(err)
	}
	idle := func() int { return w.Tracker.CountPhase(octorunv1alpha1.RunnerPhaseIdle) }
	waitIdle := func(n int) {
		if err := w.WaitFor(ctx, fmt.Sprintf("%d Idle runners", n), 3*time.Minute, func() (bool, error) { return idle() >= n, nil }); err != nil {
			t.Fatal(err)
		}
	}

	waitIdle(half / 3)
	t.Logf("Restarting kube-apiserver at %d Idle", idle())
	start := time.Now()
	if err := w.CP.Restart(ctx, controlplane.KubeAPIServer, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	r.Figures["kube-apiserver away"] = time.Since(start).Round(100 * time.Millisecond).String()
	r.Faults++

	waitIdle(half)
	if err := w.Scale(ctx, setName, sz.apiRunners); err != nil {
		t.Fatal(err)
	}
	waitIdle(half + half/4)
	t.Logf("Killing etcd for 10s at %d Idle", idle())
	start = time.Now()
	if err := w.CP.Restart(ctx, controlplane.Etcd, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	r.Figures["etcd away (until the API server was ready again)"] = time.Since(start).Round(100 * time.Millisecond).String()
	r.Faults++
	r.FaultKind = "outages"

	took := waitConverged(ctx, t, w, sz.apiRunners, 3*time.Minute)
	r.Figures["converged after etcd was back"] = took.Round(time.Second).String()
	if w.Octorun() != octorun || w.CheckAlive() != nil {
		t.Errorf("Octorun restarted: %v", w.CheckAlive())
	}
	audit(ctx, t, w, r, sz.apiRunners)
}
