package githubevents

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/klog/v2/ktesting"
)

var testSecret = []byte("It's a Secret to Everybody")

// sinkCall is one call of the fakeSink.
type sinkCall struct {
	Method                 string
	Org, Repo              string
	RunnerID               int64
	RunnerName             string
	JobID, RunID           int64
	StartedAt, CompletedAt time.Time
}

// fakeSink records its calls; runners it knows are "known", others not.
type fakeSink struct {
	mu      sync.Mutex
	calls   []sinkCall
	unknown map[int64]bool
	fail    int // fail that many calls first
	called  chan struct{}
}

func newFakeSink() *fakeSink {
	return &fakeSink{unknown: map[int64]bool{}, called: make(chan struct{}, 100)}
}

func (s *fakeSink) record(c sinkCall) (bool, error) {
	s.mu.Lock()
	defer func() {
		s.mu.Unlock()
		s.called <- struct{}{}
	}()
	s.calls = append(s.calls, c)
	if s.fail > 0 {
		s.fail--
		return false, fmt.Errorf("the API server is down")
	}
	return !s.unknown[c.RunnerID], nil
}

func (s *fakeSink) JobStarted(_ context.Context, org, repo string, runnerID int64, runnerName string, jobID, runID int64, startedAt time.Time) (bool, error) {
	return s.record(sinkCall{"JobStarted", org, repo, runnerID, runnerName, jobID, runID, startedAt, time.Time{}})
}

func (s *fakeSink) JobCompleted(_ context.Context, org, repo string, runnerID int64, runnerName string, jobID, runID int64, startedAt, completedAt time.Time) (bool, error) {
	return s.record(sinkCall{"JobCompleted", org, repo, runnerID, runnerName, jobID, runID, startedAt, completedAt})
}

func (s *fakeSink) Calls() []sinkCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkCall(nil), s.calls...)
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newTestReceiver returns a Receiver with a fake sink, a fake clock and its
// own registry, not running.
func newTestReceiver(t *testing.T, modify func(*Options)) (*Receiver, *fakeSink, *fakeClock, *prometheus.Registry) {
	t.Helper()
	sink, clock, reg := newFakeSink(), newFakeClock(), prometheus.NewRegistry()
	opts := Options{Secret: testSecret, Sink: sink, Registerer: reg, Now: clock.Now, RetryBackoff: time.Millisecond}
	if modify != nil {
		modify(&opts)
	}
	r, err := NewReceiver(opts)
	if err != nil {
		t.Fatalf("NewReceiver: %v", err)
	}
	return r, sink, clock, reg
}

// run runs r's workers until the test ends.
func run(t *testing.T, r *Receiver) {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// job describes a workflow_job payload.
type job struct {
	action     string
	id, runID  int64
	owner      string
	repo       string
	labels     []string
	runnerID   int64
	runnerName string
	createdAt  time.Time
}

// payload renders a workflow_job event as GitHub does (the fields the
// receiver reads, and some it does not).
func (j job) payload() []byte {
	wj := map[string]any{
		"id":            j.id,
		"run_id":        j.runID,
		"status":        j.action,
		"labels":        j.labels,
		"name":          "build",
		"workflow_name": "CI",
		"steps":         []any{},
		"created_at":    j.createdAt.UTC().Format(time.RFC3339),
		"started_at":    j.createdAt.UTC().Format(time.RFC3339),
		"conclusion":    nil,
		"completed_at":  nil,
		"runner_id":     nil,
		"runner_name":   nil,
	}
	if j.createdAt.IsZero() {
		wj["created_at"] = "2026-07-01T11:59:00Z"
		wj["started_at"] = "2026-07-01T11:59:30Z"
	}
	if j.runnerID != 0 || j.runnerName != "" {
		wj["runner_id"], wj["runner_name"] = j.runnerID, j.runnerName
	}
	if j.action == actionCompleted {
		wj["conclusion"], wj["completed_at"] = "success", "2026-07-01T12:00:00Z"
	}
	owner := j.owner
	if owner == "" {
		owner = "octo"
	}
	ev := map[string]any{
		"action":       j.action,
		"workflow_job": wj,
		"repository": map[string]any{
			"id": 100000, "name": j.repo, "full_name": owner + "/" + j.repo,
			"owner": map[string]any{"login": owner, "id": 1000, "type": "Organization"},
		},
		"organization": map[string]any{"login": owner, "id": 1000},
		"sender":       map[string]any{"login": "octocat", "id": 1, "type": "User"},
	}
	data, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	return data
}

// delivery is a webhook request.
type delivery struct {
	event       string
	id          string
	body        []byte
	contentType string
	signature   string // "" means signed with testSecret; "-" means none
	sha1        string // X-Hub-Signature
}

var deliverySeq int

func (d delivery) request() *http.Request {
	req := httptest.NewRequest(http.MethodPost, DefaultPath, strings.NewReader(string(d.body)))
	if d.contentType == "" {
		d.contentType = "application/json"
	}
	req.Header.Set("Content-Type", d.contentType)
	if d.event != "" {
		req.Header.Set(headerEvent, d.event)
	}
	if d.id == "" {
		deliverySeq++
		d.id = fmt.Sprintf("72d3162e-cc78-11e3-81ab-%012d", deliverySeq)
	}
	req.Header.Set(headerDelivery, d.id)
	switch d.signature {
	case "":
		req.Header.Set(headerSignature256, Sign(testSecret, d.body))
	case "-":
	default:
		req.Header.Set(headerSignature256, d.signature)
	}
	if d.sha1 != "" {
		req.Header.Set("X-Hub-Signature", d.sha1)
	}
	return req
}

// serve sends one request to r and returns the response.
func serve(r http.Handler, req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	return w
}

// waitForCalls waits until the sink was called n times in all.
func waitForCalls(t *testing.T, s *fakeSink, n int) []sinkCall {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for len(s.Calls()) < n {
		select {
		case <-s.called:
		case <-deadline:
			t.Fatalf("The sink was called %d times, want %d: %+v", len(s.Calls()), n, s.Calls())
		}
	}
	return s.Calls()
}

// waitForProcessed waits until the receiver processed n workflow_jobs.
func waitForProcessed(t *testing.T, reg *prometheus.Registry, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := 0
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "octorun_githubevents_jobs_total" {
				for _, m := range mf.GetMetric() {
					got += int(m.GetCounter().GetValue())
				}
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d workflow_jobs processed, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// sha1Signature is the legacy X-Hub-Signature of body.
func sha1Signature(secret, body []byte) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write(body)
	return "sha1=" + hex.EncodeToString(mac.Sum(nil))
}

// queuedJobs is r.QueuedJobs, which must know.
func queuedJobs(t *testing.T, r *Receiver, org, repo string, labels []string) int {
	t.Helper()
	n, known := r.QueuedJobs(org, repo, labels)
	if !known {
		t.Fatalf("QueuedJobs(%q, %q, %v) does not know", org, repo, labels)
	}
	return n
}
