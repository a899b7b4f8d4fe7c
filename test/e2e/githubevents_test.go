package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/githubsim"
)

// eventsEnv is a runnerEnv with GitHub's events: the webhook receiver
// (served over HTTP, the simulator delivering to it), the job hints it
// writes, and the GitHub sync with the given period.
type eventsEnv struct {
	*runnerEnv
}

func startEventsEnv(t *testing.T, syncPeriod time.Duration) *eventsEnv {
	t.Helper()
	return &eventsEnv{startEnv(t, envOptions{webhooks: true, syncPeriod: syncPeriod})}
}

// waitOnline waits until the Runner's runner process is online on GitHub
// (the agent started it), so a job queued now goes to it at once.
func (e *eventsEnv) waitOnline(t *testing.T, r *octorunv1alpha1.Runner) {
	t.Helper()
	Eventually(t, "runner "+r.Name+" to be online on GitHub", func(context.Context) (bool, error) {
		sr, ok := e.sim.Runner(r.Spec.ID)
		return ok && sr.Status == "online", nil
	})
}

// jobHint returns the Runner's job hint, nil if none.
func (e *eventsEnv) jobHint(t *testing.T, r *octorunv1alpha1.Runner) *octorunv1alpha1.JobAssignment {
	t.Helper()
	job, err := octorunv1alpha1.JobAssignmentOf(r)
	if err != nil {
		t.Fatal(err)
	}
	return job
}

// TestWebhookTurnsRunnerActive: the in_progress delivery makes the Runner
// Active within a second; the completed one is recorded on the hint, and
// the Runner is Complete when its runner exits. The sync does not run
// during the test (its period is an hour), so the events did it all.
func TestWebhookTurnsRunnerActive(t *testing.T) {
	e := startEventsEnv(t, time.Hour)
	e.createRunner(t, "fast", nil)
	r := e.waitForPhase(t, "fast", octorunv1alpha1.RunnerPhaseIdle)
	e.waitOnline(t, r)

	start := time.Now()
	job := e.sim.QueueJob(githubsim.JobRequest{Owner: "octo", Repo: "hello"})
	if j, _ := e.sim.Job(job.ID); j.RunnerID != r.Spec.ID {
		t.Fatalf("The job went to runner %d, want %d", j.RunnerID, r.Spec.ID)
	}
	var activeAfter time.Duration
	for {
		cur, err := e.client.OctorunV1alpha1().Runners(e.ns).Get(context.Background(), "fast", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cur.Status.Phase == octorunv1alpha1.RunnerPhaseActive {
			activeAfter = time.Since(start)
			r = cur
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("The Runner is %s 10s after its job started, want Active", cur.Status.Phase)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("The Runner was Active %s after the job started", activeAfter)
	if activeAfter > time.Second {
		t.Errorf("The Runner was Active %s after the job started, want within 1s of the in_progress delivery", activeAfter)
	}
	if hint := e.jobHint(t, r); hint == nil || hint.JobID != job.ID || hint.RunID != job.RunID {
		t.Errorf("Job hint %+v, want job %d of run %d", hint, job.ID, job.RunID)
	}
	var inProgress *githubsim.Delivery
	for _, d := range e.sim.Deliveries() {
		if d.JobID == job.ID && d.Action == githubsim.JobInProgress {
			inProgress = &d
		}
	}
	if inProgress == nil || inProgress.StatusCode != http.StatusAccepted {
		t.Errorf("The in_progress delivery: %+v, want it answered 202", inProgress)
	}

	// A redelivery changes nothing.
	if inProgress != nil {
		if err := e.sim.Redeliver(inProgress.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.sim.CompleteJob(job.ID); err != nil {
		t.Fatal(err)
	}
	r = e.waitForPhase(t, "fast", octorunv1alpha1.RunnerPhaseComplete)
	Eventually(t, "the completion on the job hint", func(ctx context.Context) (bool, error) {
		cur, err := e.client.OctorunV1alpha1().Runners(e.ns).Get(ctx, "fast", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		hint := e.jobHint(t, cur)
		return hint != nil && hint.JobID == job.ID && hint.CompletedAt != nil, nil
	})
	for _, d := range e.sim.Deliveries() {
		if d.StatusCode/100 != 2 {
			t.Errorf("Delivery %s (%s %s) answered %d %s, want 2xx", d.ID, d.Event, d.Action, d.StatusCode, d.Err)
		}
	}
}

// TestSyncWithoutWebhooks: with webhook delivery switched off, the sync
// sees the busy runner on GitHub and the Runner turns Active, then Complete
// when its job is done.
func TestSyncWithoutWebhooks(t *testing.T) {
	e := startEventsEnv(t, time.Second)
	e.sim.SetWebhook("", "")
	e.createRunner(t, "no-hooks", nil)
	r := e.waitForPhase(t, "no-hooks", octorunv1alpha1.RunnerPhaseIdle)
	e.waitOnline(t, r)
	deliveries := len(e.sim.Deliveries())

	job := e.sim.QueueJob(githubsim.JobRequest{Owner: "octo", Repo: "hello"})
	if j, _ := e.sim.Job(job.ID); j.RunnerID != r.Spec.ID {
		t.Fatalf("The job went to runner %d, want %d", j.RunnerID, r.Spec.ID)
	}
	r = e.waitForPhase(t, "no-hooks", octorunv1alpha1.RunnerPhaseActive)
	if hint := e.jobHint(t, r); hint == nil || hint.JobID != 0 {
		t.Errorf("Job hint %+v, want the sync's (no job id)", hint)
	}
	if err := e.sim.CompleteJob(job.ID); err != nil {
		t.Fatal(err)
	}
	e.waitForPhase(t, "no-hooks", octorunv1alpha1.RunnerPhaseComplete)
	if n := len(e.sim.Deliveries()); n != deliveries {
		t.Errorf("%d webhook deliveries while webhooks were off", n-deliveries)
	}
}

// TestSyncDeletesOrphans: a GitHub runner named like Octorun's without a
// Runner is removed from GitHub; others' runners and the Runners' stay.
// The sync lists the organization once a period.
func TestSyncDeletesOrphans(t *testing.T) {
	e := startEventsEnv(t, time.Second)
	e.createRunner(t, "keeper", nil)
	keeper := e.waitForPhase(t, "keeper", octorunv1alpha1.RunnerPhaseIdle)

	listsBefore := e.sim.Calls()["GET /orgs/{org}/actions/runners"]
	start := time.Now()
	orphan := e.sim.AddRunner("octo", "", envPrefix+"orphan")
	foreign := e.sim.AddRunner("octo", "", "laptop")
	Eventually(t, "the orphan to be removed from GitHub", func(context.Context) (bool, error) {
		_, ok := e.sim.Runner(orphan.ID)
		return !ok, nil
	})
	elapsed := time.Since(start)
	t.Logf("The orphan was removed after %s", elapsed)
	if _, ok := e.sim.Runner(foreign.ID); !ok {
		t.Error("A runner not named like Octorun's was removed")
	}
	if _, ok := e.sim.Runner(keeper.Spec.ID); !ok {
		t.Error("The Runner's GitHub runner was removed")
	}
	if got := e.sim.Calls()["DELETE /orgs/{org}/actions/runners/{id}"]; got != 1 {
		t.Errorf("%d GitHub deletes, want 1", got)
	}
	// One list a period (and the period's jitter), at most.
	if lists := e.sim.Calls()["GET /orgs/{org}/actions/runners"] - listsBefore; float64(lists) > elapsed.Seconds()+2 {
		t.Errorf("%d lists in %s, want at most one a second", lists, elapsed)
	}
	if cur, err := e.client.OctorunV1alpha1().Runners(e.ns).Get(context.Background(), "keeper", metav1.GetOptions{}); err != nil || cur.Status.Phase != octorunv1alpha1.RunnerPhaseIdle {
		t.Errorf("The keeper Runner is %v (%v), want Idle", cur.Status.Phase, err)
	}
}

// TestForgedDeliveryChangesNothing: deliveries without the secret's
// signature are refused with 401 and do not touch the Runner.
func TestForgedDeliveryChangesNothing(t *testing.T) {
	e := startEventsEnv(t, time.Hour)
	e.createRunner(t, "target", nil)
	r := e.waitForPhase(t, "target", octorunv1alpha1.RunnerPhaseIdle)

	body, err := json.Marshal(map[string]any{
		"action": "in_progress",
		"workflow_job": map[string]any{
			"id": 4242, "run_id": 77, "status": "in_progress", "labels": []string{"self-hosted"},
			"runner_id": r.Spec.ID, "runner_name": envPrefix + e.ns + ".target",
			"started_at": time.Now().UTC().Format(time.RFC3339),
		},
		"repository":   map[string]any{"name": "hello", "full_name": "octo/hello", "owner": map[string]any{"login": "octo"}},
		"organization": map[string]any{"login": "octo"},
	})
	if err != nil {
		t.Fatal(err)
	}
	sha1Sig := func(secret string) string {
		mac := hmac.New(sha1.New, []byte(secret))
		mac.Write(body)
		return "sha1=" + hex.EncodeToString(mac.Sum(nil))
	}
	for _, tc := range []struct {
		name    string
		headers map[string]string
	}{
		{name: "wrong secret", headers: map[string]string{"X-Hub-Signature-256": githubsim.Sign([]byte("guessed"), body)}},
		{name: "unsigned", headers: map[string]string{}},
		{name: "SHA-1 only", headers: map[string]string{"X-Hub-Signature": sha1Sig(envWebhookSecret)}},
		{name: "signature of another body", headers: map[string]string{"X-Hub-Signature-256": githubsim.Sign([]byte(envWebhookSecret), []byte("{}"))}},
	} {
		req, err := http.NewRequest(http.MethodPost, e.hookURL, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "workflow_job")
		req.Header.Set("X-GitHub-Delivery", "forged-"+tc.name)
		for k, v := range tc.headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", tc.name, resp.StatusCode)
		}
	}

	// Nothing changes, for as long as a real delivery takes to act.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		cur, err := e.client.OctorunV1alpha1().Runners(e.ns).Get(context.Background(), "target", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, hinted := cur.Annotations[octorunv1alpha1.AnnotationJobAssignment]; hinted || cur.Status.Phase != octorunv1alpha1.RunnerPhaseIdle || cur.ResourceVersion != r.ResourceVersion {
			t.Fatalf("The forged deliveries changed the Runner: phase %s, annotations %v", cur.Status.Phase, cur.Annotations)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
