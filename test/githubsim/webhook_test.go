package githubsim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v50/github"
)

func TestSign(t *testing.T) {
	// GitHub's published test vector for X-Hub-Signature-256.
	got := Sign([]byte("It's a Secret to Everybody"), []byte("Hello, World!"))
	want := "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

// received is one webhook delivery as the receiver saw it.
type received struct {
	header  http.Header
	payload []byte
	event   *github.WorkflowJobEvent
	err     error // validation or parsing
}

// receiver is a webhook endpoint that validates and parses what it gets,
// as Octorun's webhook server does.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	status int
}

func newReceiver(t *testing.T, secret string) *receiver {
	t.Helper()
	rc := &receiver{status: http.StatusAccepted}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rec received
		rec.header = r.Header.Clone()
		rec.payload, rec.err = github.ValidatePayload(r, []byte(secret))
		if rec.err == nil {
			var ev any
			ev, rec.err = github.ParseWebHook(github.WebHookType(r), rec.payload)
			rec.event, _ = ev.(*github.WorkflowJobEvent)
		}
		rc.mu.Lock()
		rc.got = append(rc.got, rec)
		status := rc.status
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) setStatus(status int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.status = status
}

func (rc *receiver) deliveries() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func (rc *receiver) wait(t *testing.T, n int) []received {
	t.Helper()
	eventually(t, "webhook deliveries", func() bool { return len(rc.deliveries()) >= n })
	return rc.deliveries()
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestWorkflowJobWebhooks(t *testing.T) {
	const secret = "s3cret"
	rc := newReceiver(t, secret)
	sim, ts := newSim(t, Options{WebhookURL: rc.URL, WebhookSecret: secret})
	gpu := sim.AddRunnerGroup(testOrg, "gpu")
	c := newClient(t, ts.URL, testToken)
	jit, _, err := generateJIT(t, c, "orgs/"+testOrg, jitRequest{Name: "runner-1", RunnerGroupID: gpu, Labels: []string{"self-hosted", "linux"}})
	if err != nil {
		t.Fatal(err)
	}
	job := sim.QueueJob(JobRequest{Owner: testOrg, Repo: testRepo, Labels: []string{"self-hosted", "linux"}, WorkflowName: "Build"})
	if err := sim.SetRunnerOnline(jit.Runner.GetID(), true); err != nil {
		t.Fatal(err)
	}
	if err := sim.CompleteJob(job.ID); err != nil {
		t.Fatal(err)
	}

	got := rc.wait(t, 3)
	if len(got) != 3 {
		t.Fatalf("%d deliveries, want 3", len(got))
	}
	ids := map[string]bool{}
	for i, action := range []string{"queued", "in_progress", "completed"} {
		d := got[i]
		if d.err != nil {
			t.Fatalf("delivery %d: %v", i, d.err)
		}
		h := d.header
		if h.Get("X-GitHub-Event") != "workflow_job" || h.Get("Content-Type") != "application/json" ||
			!strings.HasPrefix(h.Get("User-Agent"), "GitHub-Hookshot/") || !uuidPattern.MatchString(h.Get("X-GitHub-Delivery")) ||
			h.Get("X-Hub-Signature-256") != Sign([]byte(secret), d.payload) {
			t.Errorf("delivery %d headers: %v", i, h)
		}
		ids[h.Get("X-GitHub-Delivery")] = true
		ev := d.event
		if ev == nil {
			t.Fatalf("delivery %d did not parse as a WorkflowJobEvent", i)
		}
		wj := ev.GetWorkflowJob()
		if ev.GetAction() != action || wj.GetStatus() != action || wj.GetID() != job.ID || wj.GetRunID() != job.RunID ||
			wj.GetRunAttempt() != 1 || wj.GetWorkflowName() != "Build" || wj.GetName() != "build" ||
			strings.Join(wj.Labels, ",") != "self-hosted,linux" || wj.GetStartedAt().IsZero() {
			t.Errorf("delivery %d: action %s, job %+v", i, ev.GetAction(), wj)
		}
		if ev.GetOrg().GetLogin() != testOrg || ev.GetRepo().GetFullName() != "octo/hello" || ev.GetRepo().GetOwner().GetLogin() != testOrg || ev.GetSender().GetLogin() == "" {
			t.Errorf("delivery %d: org %v repo %v sender %v", i, ev.GetOrg(), ev.GetRepo(), ev.GetSender())
		}
		assigned := action != "queued"
		if assigned != (wj.RunnerID != nil) || assigned != (wj.RunnerName != nil) || assigned != (wj.RunnerGroupID != nil) {
			t.Errorf("delivery %d: runner fields %v/%v/%v, want set iff assigned", i, wj.RunnerID, wj.RunnerName, wj.RunnerGroupID)
		}
		if assigned && (wj.GetRunnerID() != jit.Runner.GetID() || wj.GetRunnerName() != "runner-1" || wj.GetRunnerGroupID() != gpu || wj.GetRunnerGroupName() != "gpu") {
			t.Errorf("delivery %d: runner %d %q group %d %q", i, wj.GetRunnerID(), wj.GetRunnerName(), wj.GetRunnerGroupID(), wj.GetRunnerGroupName())
		}
		completed := action == "completed"
		if completed != (wj.Conclusion != nil) || completed != (wj.CompletedAt != nil) || (completed && wj.GetConclusion() != "success") {
			t.Errorf("delivery %d: conclusion %v completed_at %v", i, wj.Conclusion, wj.CompletedAt)
		}
	}
	if len(ids) != 3 {
		t.Errorf("delivery ids not unique: %v", ids)
	}

	// GitHub sends the runner fields as null until a runner is assigned.
	var raw struct {
		WorkflowJob map[string]json.RawMessage `json:"workflow_job"`
	}
	if err := json.Unmarshal(got[0].payload, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"runner_id", "runner_name", "runner_group_id", "runner_group_name", "conclusion", "completed_at"} {
		if string(raw.WorkflowJob[k]) != "null" {
			t.Errorf("queued %s = %s, want null", k, raw.WorkflowJob[k])
		}
	}

	if ds := sim.Deliveries(); len(ds) != 3 || ds[2].Action != "completed" || ds[2].StatusCode != http.StatusAccepted {
		t.Errorf("Deliveries() = %+v", ds)
	}

	// A redelivery repeats the delivery id and payload, for deduplication.
	first := got[0].header.Get("X-GitHub-Delivery")
	if err := sim.Redeliver(first); err != nil {
		t.Fatal(err)
	}
	again := rc.wait(t, 4)[3]
	if again.header.Get("X-GitHub-Delivery") != first || string(again.payload) != string(got[0].payload) || again.err != nil {
		t.Errorf("redelivery %s (%v), want %s with the same payload", again.header.Get("X-GitHub-Delivery"), again.err, first)
	}
	if err := sim.Redeliver("nope"); err == nil {
		t.Error("redelivered an unknown delivery")
	}
}

func TestWebhookWrongSecretFailsValidation(t *testing.T) {
	rc := newReceiver(t, "expected")
	sim, _ := newSim(t, Options{WebhookURL: rc.URL, WebhookSecret: "other"})
	sim.QueueJob(JobRequest{Owner: testOrg, Repo: testRepo})
	if d := rc.wait(t, 1)[0]; d.err == nil {
		t.Error("a payload signed with another secret validated")
	}
}

func TestWebhookFailuresAreNotRetried(t *testing.T) {
	rc := newReceiver(t, "s")
	rc.setStatus(http.StatusInternalServerError)
	sim, _ := newSim(t, Options{WebhookURL: rc.URL, WebhookSecret: "s"})
	sim.QueueJob(JobRequest{Owner: testOrg, Repo: testRepo})
	sim.QueueJob(JobRequest{Owner: testOrg, Repo: testRepo})
	rc.wait(t, 2)
	eventually(t, "the attempts to be recorded", func() bool { return len(sim.Deliveries()) == 2 })
	time.Sleep(50 * time.Millisecond)
	if n := len(rc.deliveries()); n != 2 {
		t.Errorf("%d requests, want 2 (no retries)", n)
	}
	for _, d := range sim.Deliveries() {
		if d.StatusCode != http.StatusInternalServerError {
			t.Errorf("delivery %+v, want status 500 recorded", d)
		}
	}

	// An unreachable receiver is recorded as an error, and later events go on.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	sim.SetWebhook(dead.URL, "s")
	sim.QueueJob(JobRequest{Owner: testOrg, Repo: testRepo})
	sim.SetWebhook(rc.URL, "s")
	sim.QueueJob(JobRequest{Owner: testOrg, Repo: testRepo})
	rc.wait(t, 3)
	eventually(t, "the attempts to be recorded", func() bool { return len(sim.Deliveries()) == 4 })
	if d := sim.Deliveries()[2]; d.Err == "" || d.StatusCode != 0 {
		t.Errorf("delivery to a dead receiver = %+v, want an error", d)
	}
}

func TestWebhooksDoNotBlockTheAPI(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var order []int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		var ev github.WorkflowJobEvent
		_ = json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		order = append(order, ev.GetWorkflowJob().GetID())
		mu.Unlock()
	}))
	defer slow.Close()
	sim := New(Options{WebhookURL: slow.URL, WebhookSecret: "s"})
	defer sim.Close()

	start := time.Now()
	for i := 0; i < 5; i++ {
		sim.QueueJob(JobRequest{Owner: testOrg, Repo: testRepo})
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("queueing took %v with a stuck receiver", d)
	}
	close(release)
	eventually(t, "all deliveries", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 5
	})
	mu.Lock()
	defer mu.Unlock()
	for i, id := range order {
		if id != int64(i+1) {
			t.Errorf("deliveries out of order: %v", order)
			break
		}
	}
}

// TestWebhookWorkersDeliverAtOnce: with several workers, deliveries wait for
// a slow receiver side by side, and each records when it was answered.
func TestWebhookWorkersDeliverAtOnce(t *testing.T) {
	var mu sync.Mutex
	inFlight, most := 0, 0
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		inFlight--
		mu.Unlock()
	}))
	defer slow.Close()
	sim := New(Options{WebhookURL: slow.URL, WebhookSecret: "s", WebhookWorkers: 4})
	defer sim.Close()

	before := time.Now()
	for i := 0; i < 8; i++ {
		sim.QueueJob(JobRequest{Owner: testOrg, Repo: testRepo})
	}
	eventually(t, "all deliveries", func() bool { return len(sim.Deliveries()) == 8 })
	mu.Lock()
	defer mu.Unlock()
	if most < 2 {
		t.Errorf("at most %d deliveries in flight, want several", most)
	}
	for _, d := range sim.Deliveries() {
		if d.StatusCode != http.StatusOK || d.SentAt.Before(before) || d.AnsweredAt.Sub(d.SentAt) < 100*time.Millisecond {
			t.Errorf("delivery %+v: want 200, sent after the jobs were queued and answered 100ms later", d)
		}
	}
}

func TestWebhookFaults(t *testing.T) {
	const secret, jobs = "s", 10
	tests := []struct {
		name string
		opts Options
		// wantSent is how many requests the receiver gets, wantCopies how
		// many times it gets each delivery id.
		wantSent, wantCopies int
		// wantRecorded is the length of Deliveries(), the others count its
		// flags.
		wantRecorded, wantDropped, wantDuplicates, wantReordered int
		wantInOrder                                              bool
	}{
		{
			name:         "rates of 0 change nothing",
			opts:         Options{WebhookReorderDelay: time.Millisecond},
			wantSent:     jobs,
			wantCopies:   1,
			wantRecorded: jobs,
			wantInOrder:  true,
		},
		{
			name:         "drop",
			opts:         Options{WebhookDropRate: 1},
			wantRecorded: jobs,
			wantDropped:  jobs,
		},
		{
			name:           "duplicate",
			opts:           Options{WebhookDuplicateRate: 1},
			wantSent:       2 * jobs,
			wantCopies:     2,
			wantRecorded:   2 * jobs,
			wantDuplicates: jobs,
			wantInOrder:    true,
		},
		{
			// In order with a chance of 1 in 10!.
			name:          "reorder",
			opts:          Options{WebhookReorderRate: 1, WebhookReorderDelay: 200 * time.Millisecond},
			wantSent:      jobs,
			wantCopies:    1,
			wantRecorded:  jobs,
			wantReordered: jobs,
		},
		{
			name:         "drop wins over duplicate and reorder",
			opts:         Options{WebhookDropRate: 1, WebhookDuplicateRate: 1, WebhookReorderRate: 1},
			wantRecorded: jobs,
			wantDropped:  jobs,
		},
		{
			name:           "a reordered delivery keeps its duplicate",
			opts:           Options{WebhookDuplicateRate: 1, WebhookReorderRate: 1, WebhookReorderDelay: 200 * time.Millisecond},
			wantSent:       2 * jobs,
			wantCopies:     2,
			wantRecorded:   2 * jobs,
			wantDuplicates: jobs,
			wantReordered:  2 * jobs,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, secret)
			tt.opts.WebhookURL, tt.opts.WebhookSecret = rc.URL, secret
			sim, _ := newSim(t, tt.opts)
			for range jobs {
				sim.QueueJob(JobRequest{Owner: testOrg, Repo: testRepo})
			}

			eventually(t, "the deliveries to be recorded", func() bool { return len(sim.Deliveries()) == tt.wantRecorded })
			got := rc.wait(t, tt.wantSent)
			time.Sleep(50 * time.Millisecond)
			if n := len(rc.deliveries()); n != tt.wantSent {
				t.Fatalf("receiver got %d requests, want %d", n, tt.wantSent)
			}
			copies, payloads := map[string]int{}, map[string]string{}
			var order []int64
			for i, d := range got {
				id := d.header.Get("X-GitHub-Delivery")
				if d.err != nil || d.event == nil {
					t.Fatalf("request %d (%s): %v", i, id, d.err)
				}
				if p, ok := payloads[id]; ok && p != string(d.payload) {
					t.Errorf("delivery %s sent with two payloads", id)
				}
				copies[id]++
				payloads[id] = string(d.payload)
				order = append(order, d.event.GetWorkflowJob().GetID())
			}
			for id, n := range copies {
				if n != tt.wantCopies {
					t.Errorf("delivery %s received %d times, want %d", id, n, tt.wantCopies)
				}
			}
			if inOrder := slices.IsSorted(order); tt.wantSent > 0 && inOrder != tt.wantInOrder {
				t.Errorf("jobs in the order received: %v, want in order %v", order, tt.wantInOrder)
			}

			var dropped, duplicates, reordered int
			for _, d := range sim.Deliveries() {
				if d.Dropped {
					dropped++
					if !d.SentAt.IsZero() || d.StatusCode != 0 {
						t.Errorf("dropped delivery %+v was sent", d)
					}
				} else if d.StatusCode != http.StatusAccepted {
					t.Errorf("delivery %+v, want answered 202", d)
				}
				if d.Duplicate {
					duplicates++
				}
				if d.Reordered {
					reordered++
				}
			}
			if dropped != tt.wantDropped || duplicates != tt.wantDuplicates || reordered != tt.wantReordered {
				t.Errorf("recorded %d dropped, %d duplicates, %d reordered; want %d, %d, %d",
					dropped, duplicates, reordered, tt.wantDropped, tt.wantDuplicates, tt.wantReordered)
			}

			// Rates of 0 stop the faults.
			sim.SetWebhookDropRate(0)
			sim.SetWebhookDuplicateRate(0)
			sim.SetWebhookReorderRate(0)
			job := sim.QueueJob(JobRequest{Owner: testOrg, Repo: testRepo})
			last := rc.wait(t, tt.wantSent+1)[tt.wantSent]
			if last.event.GetWorkflowJob().GetID() != job.ID {
				t.Errorf("last request for job %d, want %d", last.event.GetWorkflowJob().GetID(), job.ID)
			}
			eventually(t, "the last delivery to be recorded", func() bool { return len(sim.Deliveries()) == tt.wantRecorded+1 })
			if d := sim.Deliveries()[tt.wantRecorded]; d.Dropped || d.Duplicate || d.Reordered {
				t.Errorf("delivery with no faults = %+v", d)
			}
		})
	}
}

// TestRedeliverDropped: a dropped delivery can be redelivered, and then it
// is sent.
func TestRedeliverDropped(t *testing.T) {
	rc := newReceiver(t, "s")
	sim, _ := newSim(t, Options{WebhookURL: rc.URL, WebhookSecret: "s", WebhookDropRate: 1})
	sim.QueueJob(JobRequest{Owner: testOrg, Repo: testRepo})
	dropped := sim.Deliveries()[0]
	if !dropped.Dropped {
		t.Fatalf("delivery %+v, want dropped", dropped)
	}
	if err := sim.Redeliver(dropped.ID); err != nil {
		t.Fatal(err)
	}
	if got := rc.wait(t, 1)[0]; got.header.Get("X-GitHub-Delivery") != dropped.ID || got.err != nil {
		t.Errorf("redelivery %s (%v), want %s", got.header.Get("X-GitHub-Delivery"), got.err, dropped.ID)
	}
	eventually(t, "the redelivery to be recorded", func() bool { return len(sim.Deliveries()) == 2 })
	if d := sim.Deliveries()[1]; d.ID != dropped.ID || d.Dropped || d.StatusCode != http.StatusAccepted {
		t.Errorf("redelivery = %+v", d)
	}
}

// TestCloseAbandonsHeldDeliveries: Close does not wait for deliveries held
// back to be reordered, and they are not sent afterwards.
func TestCloseAbandonsHeldDeliveries(t *testing.T) {
	const delay = 500 * time.Millisecond
	rc := newReceiver(t, "s")
	sim := New(Options{WebhookURL: rc.URL, WebhookSecret: "s", WebhookReorderRate: 1, WebhookReorderDelay: delay})
	for range 5 {
		sim.QueueJob(JobRequest{Owner: testOrg, Repo: testRepo})
	}
	start := time.Now()
	sim.Close()
	if d := time.Since(start); d > delay/2 {
		t.Errorf("Close took %v with deliveries held for up to %v", d, delay)
	}
	// A hold shorter than QueueJob and Close may have let one out before.
	sent := len(rc.deliveries())
	time.Sleep(delay + 100*time.Millisecond)
	if n := len(rc.deliveries()) - sent; n != 0 {
		t.Errorf("%d held deliveries sent after Close", n)
	}
}
