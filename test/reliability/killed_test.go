package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/framework/world"
	"github.com/octorun/octorun/test/githubsim"
)

// TestControllerKilled kills Octorun (SIGKILL) at random points while a
// RunnerSet scales from 0 and jobs run, and restarts it each time, as the
// kubelet restarts a crashed container.
func TestControllerKilled(t *testing.T) {
	r := newResult(t, "1. Controller killed while scaling and running jobs",
		"exactly the desired count; no Runner or pod created twice; no GitHub registration without a Runner; no job killed")
	ctx := context.Background()
	w := startWorld(t, world.Options{
		Nodes: max(1, sz.killRunners/100), AgentEvery: 100 * time.Millisecond, WithWebhooks: true,
		Sim: githubsim.Options{WebhookWorkers: 4},
		// A client QPS of half the runners makes the scale-up last about
		// as long as the kills: 8 requests a runner.
		OctorunArgs: []string{"--github-secondary-limit=0", fmt.Sprintf("--kube-api-qps=%d", sz.killRunners/2), fmt.Sprintf("--kube-api-burst=%d", sz.killRunners)},
	})
	if err := w.CreateRunnerSet(ctx, setName, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Scale(ctx, setName, sz.killRunners); err != nil {
		t.Fatal(err)
	}
	// Jobs arrive while the set scales and Octorun dies.
	queueJobs(ctx, w, sz.killJobs, time.Duration(sz.kills)*3*time.Second, time.Second, 5*time.Second)

	octorun := w.Octorun()
	var downtime time.Duration
	for i := range sz.kills {
		sleep(ctx, time.Duration(200+rand.IntN(2300))*time.Millisecond)
		t.Logf("Kill %d of %d: %d Runners, %d Idle", i+1, sz.kills, w.Tracker.Created(), w.Tracker.CountPhase(octorunv1alpha1.RunnerPhaseIdle))
		killedAt := time.Now()
		var err error
		if octorun, err = w.RestartReplica(ctx, octorun, 0); err != nil {
			t.Fatalf("Restarting Octorun: %v", err)
		}
		downtime += time.Since(killedAt)
		r.Faults++
	}
	r.FaultKind = "SIGKILLs"
	r.Figures["time Octorun was down, restarts included"] = downtime.Round(time.Millisecond).String()

	waitJobs(ctx, t, w, sz.killJobs, 5*time.Minute)
	took := waitConverged(ctx, t, w, sz.killRunners, 3*time.Minute+time.Duration(sz.killRunners)*100*time.Millisecond)
	r.Figures["converged after the last job"] = took.Round(time.Second).String()
	// Each job uses up a runner, which the set replaces.
	audit(ctx, t, w, r, sz.killRunners+sz.killJobs)
}
