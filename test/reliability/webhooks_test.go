package reliability

import (
	"context"
	"fmt"
	"testing"
	"time"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/framework/world"
	"github.com/octorun/octorun/test/githubsim"
)

// TestWebhookTrouble runs jobs while 30% of the workflow_job deliveries
// are dropped, duplicated or reordered, and restarts the receiver (Octorun,
// gracefully, as a rollout does) while deliveries arrive.
func TestWebhookTrouble(t *testing.T) {
	r := newResult(t, "3. Webhooks dropped, duplicated, reordered; receiver restarted",
		"every Runner reaches its true phase within one sync period")
	ctx := context.Background()
	period := sz.syncPeriod
	// Slack for a sync: its jitter (10%) and the time it takes.
	slack := period/10 + 5*time.Second
	w := startWorld(t, world.Options{
		Nodes: max(1, sz.hookRunners/100), AgentEvery: 100 * time.Millisecond, WithWebhooks: true,
		Sim: githubsim.Options{
			WebhookWorkers: 4, WebhookDropRate: 0.1, WebhookDuplicateRate: 0.1, WebhookReorderRate: 0.1,
		},
		OctorunArgs: []string{"--github-secondary-limit=0"},
	})
	if err := w.CreateRunnerSet(ctx, setName, sz.hookRunners); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitIdle(ctx, sz.hookRunners); err != nil {
		t.Fatal(err)
	}
	// Jobs last up to longer than a sync period, so that a Runner whose
	// in_progress delivery was dropped must be found Active by the sync.
	maxJob := period + 10*time.Second
	over := time.Duration(sz.hookJobs) * (maxJob / 2) / time.Duration(sz.hookRunners)
	queueJobs(ctx, w, sz.hookJobs, over, time.Second, maxJob)

	// Watch every job in progress: its Runner must be Active within a sync
	// period of the job's start.
	lagging := map[int64]bool{}
	var maxLag time.Duration
	check := func() {
		for _, j := range w.Sim.Jobs() {
			if j.Status != "in_progress" || j.StartedAt.IsZero() {
				continue
			}
			if at, ok := w.Tracker.ActiveAt(j.RunnerID); ok {
				maxLag = max(maxLag, at.Sub(j.StartedAt))
				continue
			}
			if time.Since(j.StartedAt) > period+slack && !lagging[j.ID] {
				lagging[j.ID] = true
				t.Errorf("Job %d started %s ago on runner %d (%s), which is not Active", j.ID, time.Since(j.StartedAt).Round(time.Second), j.RunnerID, j.RunnerName)
			}
		}
	}
	restartAt := time.Now().Add(over / 2)
	restarted := false
	err := w.WaitFor(ctx, fmt.Sprintf("%d jobs completed", sz.hookJobs), over+5*time.Minute, func() (bool, error) {
		check()
		if !restarted && time.Now().After(restartAt) {
			restarted = true
			t.Logf("Restarting Octorun and its receiver")
			if _, err := w.RestartReplica(ctx, w.Octorun(), 30*time.Second); err != nil {
				return false, err
			}
			r.Figures["receiver restarts"] = 1
		}
		return completedJobs(w) >= sz.hookJobs, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check()

	var dropped, duplicated, reordered, failed int
	for _, d := range w.Sim.Deliveries() {
		switch {
		case d.Dropped:
			dropped++
		case d.Duplicate:
			duplicated++
		}
		if d.Reordered {
			reordered++
		}
		if !d.Dropped && d.StatusCode/100 != 2 {
			failed++
		}
	}
	r.Faults = dropped + duplicated + reordered + failed
	r.FaultKind = "deliveries dropped, duplicated, reordered or failed"
	r.Figures["deliveries"] = fmt.Sprintf("%d dropped, %d duplicated, %d reordered, %d failed (receiver away), of %d", dropped, duplicated, reordered, failed, len(w.Sim.Deliveries()))
	r.Figures["longest job start → Runner Active"] = maxLag.Round(time.Millisecond).String()
	r.Figures["jobs whose Runner was not Active within a sync period"] = len(lagging)
	r.Figures["sync period"] = period.String()

	// Each job's Runner went Active or completed: at rest, every Runner is
	// Idle again.
	waitConverged(ctx, t, w, sz.hookRunners, period+time.Minute)
	if n := w.Tracker.CountPhase(octorunv1alpha1.RunnerPhaseActive); n > 0 {
		t.Errorf("%d Runners still Active with every job completed", n)
	}
	audit(ctx, t, w, r, sz.hookRunners+sz.hookJobs)
}
