package reliability

import (
	"context"
	"fmt"
	"testing"
	"time"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/framework/world"
)

// TestLeaderFailover runs two replicas and kills the leader (SIGKILL) while
// a RunnerSet scales up.
func TestLeaderFailover(t *testing.T) {
	r := newResult(t, "6. Leader killed under load, two replicas",
		"a new leader within 15 s; nothing created twice; converges")
	ctx := context.Background()
	n := sz.failoverRunners
	w := startWorld(t, world.Options{
		Nodes: max(1, n/100), AgentEvery: 100 * time.Millisecond, Replicas: 2,
		OctorunArgs: []string{"--github-secondary-limit=0", fmt.Sprintf("--kube-api-qps=%d", max(20, n/4)), fmt.Sprintf("--kube-api-burst=%d", max(20, n/4))},
	})
	var leader *world.Replica
	if err := w.WaitFor(ctx, "a leader", time.Minute, func() (bool, error) {
		var err error
		leader, err = w.Leader(ctx)
		return leader != nil, err
	}); err != nil {
		t.Fatal(err)
	}
	if err := w.CreateRunnerSet(ctx, setName, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Scale(ctx, setName, n); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitFor(ctx, "a third of the runners Idle", 3*time.Minute, func() (bool, error) {
		return w.Tracker.CountPhase(octorunv1alpha1.RunnerPhaseIdle) >= n/3, nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("Killing the leader (pid %d) at %d Runners, %d Idle", leader.Pid, w.Tracker.Created(), w.Tracker.CountPhase(octorunv1alpha1.RunnerPhaseIdle))
	killed := time.Now()
	w.KillReplica(leader)
	r.Faults, r.FaultKind = 1, "leader SIGKILL"
	if err := w.WaitFor(ctx, "a new leader", time.Minute, func() (bool, error) {
		l, err := w.Leader(ctx)
		return l != nil && l != leader, err
	}); err != nil {
		t.Fatal(err)
	}
	took := time.Since(killed)
	r.Figures["new leader after"] = took.Round(100 * time.Millisecond).String()
	if took > 15*time.Second {
		t.Errorf("The new leader took over after %s, want at most 15s", took.Round(100*time.Millisecond))
	}
	waitConverged(ctx, t, w, n, 3*time.Minute)
	audit(ctx, t, w, r, n)
}
