package githubevents

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestNewReceiverRefusesMissingSecret(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{name: "no secret", opts: Options{Sink: newFakeSink()}},
		{name: "empty secret", opts: Options{Secret: []byte{}, Sink: newFakeSink()}},
		{name: "no sink", opts: Options{Secret: testSecret}},
		{name: "relative path", opts: Options{Secret: testSecret, Sink: newFakeSink(), Path: "hooks"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r, err := NewReceiver(tc.opts); err == nil {
				t.Errorf("NewReceiver(%+v) = %v, want an error", tc.opts, r)
			}
		})
	}
}

// TestSignatures: only a valid X-Hub-Signature-256 is accepted.
func TestSignatures(t *testing.T) {
	body := job{action: actionInProgress, id: 1, runID: 2, repo: "hello", labels: []string{"linux"}, runnerID: 7, runnerName: "r"}.payload()
	for _, tc := range []struct {
		name      string
		signature string
		sha1      string
		want      int
	}{
		{name: "valid", want: http.StatusAccepted},
		{name: "missing", signature: "-", want: http.StatusUnauthorized},
		{name: "wrong secret", signature: Sign([]byte("another secret"), body), want: http.StatusUnauthorized},
		{name: "signature of another body", signature: Sign(testSecret, append(body, ' ')), want: http.StatusUnauthorized},
		{name: "SHA-1 only", signature: "-", sha1: sha1Signature(testSecret, body), want: http.StatusUnauthorized},
		{name: "sha1 prefix in the SHA-256 header", signature: sha1Signature(testSecret, body), want: http.StatusUnauthorized},
		{name: "sha512 prefix", signature: "sha512=" + strings.Repeat("ab", 64), want: http.StatusUnauthorized},
		{name: "no prefix", signature: strings.TrimPrefix(Sign(testSecret, body), "sha256="), want: http.StatusUnauthorized},
		{name: "upper-case prefix", signature: "SHA256=" + strings.TrimPrefix(Sign(testSecret, body), "sha256="), want: http.StatusUnauthorized},
		{name: "truncated", signature: Sign(testSecret, body)[:40], want: http.StatusUnauthorized},
		{name: "not hex", signature: "sha256=" + strings.Repeat("zz", 32), want: http.StatusUnauthorized},
		{name: "empty MAC", signature: "sha256=", want: http.StatusUnauthorized},
		{name: "upper-case hex is the same MAC", signature: "sha256=" + strings.ToUpper(strings.TrimPrefix(Sign(testSecret, body), "sha256=")), want: http.StatusAccepted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, sink, _, reg := newTestReceiver(t, nil)
			run(t, r)
			w := serve(r, delivery{event: "workflow_job", body: body, signature: tc.signature, sha1: tc.sha1}.request())
			if w.Code != tc.want {
				t.Fatalf("Status %d (%s), want %d", w.Code, w.Body, tc.want)
			}
			if tc.want != http.StatusAccepted {
				if got := testutil.ToFloat64(r.metrics.deliveries.WithLabelValues("", "", ResultUnauthorized)); got != 1 {
					t.Errorf("Unauthorized deliveries counted %v, want 1", got)
				}
				time.Sleep(20 * time.Millisecond)
				if calls := sink.Calls(); len(calls) != 0 {
					t.Errorf("A forged delivery reached the sink: %+v", calls)
				}
				return
			}
			waitForProcessed(t, reg, 1)
		})
	}
}

// TestGitHubTestVector checks the signature against the example of GitHub's
// documentation ("Validating webhook deliveries").
func TestGitHubTestVector(t *testing.T) {
	secret := []byte("It's a Secret to Everybody")
	body := []byte("Hello, World!")
	const want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if got := Sign(secret, body); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	if !validSignature(want, body, secret) {
		t.Error("GitHub's example signature is not valid")
	}
	if validSignature(want, []byte("Hello, World?"), secret) {
		t.Error("GitHub's example signature is valid for another body")
	}
}

func TestContentTypes(t *testing.T) {
	body := job{action: actionQueued, id: 1, repo: "hello", labels: []string{"linux"}}.payload()
	for _, tc := range []struct {
		contentType string
		want        int
	}{
		{"application/json", http.StatusAccepted},
		{"application/json; charset=utf-8", http.StatusAccepted},
		{"Application/JSON", http.StatusAccepted},
		{"application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"text/plain", http.StatusUnsupportedMediaType},
		{"application/json-patch+json", http.StatusUnsupportedMediaType},
		{"application/json; charset", http.StatusUnsupportedMediaType},
		{"-", http.StatusUnsupportedMediaType},
	} {
		t.Run(tc.contentType, func(t *testing.T) {
			r, _, _, _ := newTestReceiver(t, nil)
			req := delivery{event: "workflow_job", body: body, contentType: tc.contentType}.request()
			if tc.contentType == "-" {
				req.Header.Del("Content-Type")
			}
			if w := serve(r, req); w.Code != tc.want {
				t.Errorf("Status %d (%s), want %d", w.Code, w.Body, tc.want)
			}
		})
	}
}

func TestSizeLimit(t *testing.T) {
	r, _, _, _ := newTestReceiver(t, func(o *Options) { o.MaxBodyBytes = 1024 })
	small := job{action: actionQueued, id: 1, repo: "hello", labels: []string{"linux"}}.payload()
	big := job{action: actionQueued, id: 2, repo: "hello", labels: []string{strings.Repeat("x", 2000)}}.payload()

	if w := serve(r, delivery{event: "workflow_job", body: small}.request()); w.Code != http.StatusAccepted {
		t.Errorf("A small body: status %d, want %d", w.Code, http.StatusAccepted)
	}
	if w := serve(r, delivery{event: "workflow_job", body: big}.request()); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("A big body: status %d, want %d", w.Code, http.StatusRequestEntityTooLarge)
	}
	// Without a Content-Length (chunked), the limit holds while reading.
	req := delivery{event: "workflow_job", body: big}.request()
	req.ContentLength = -1
	req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(big)))
	if w := serve(r, req); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("A big chunked body: status %d, want %d", w.Code, http.StatusRequestEntityTooLarge)
	}
	if got := testutil.ToFloat64(r.metrics.deliveries.WithLabelValues("", "", ResultTooLarge)); got != 2 {
		t.Errorf("Too large deliveries counted %v, want 2", got)
	}
}

func TestMalformedDeliveries(t *testing.T) {
	valid := job{action: actionInProgress, id: 1, repo: "hello", runnerID: 1, runnerName: "r"}.payload()
	for _, tc := range []struct {
		name string
		d    delivery
		want int
	}{
		{name: "not JSON", d: delivery{event: "workflow_job", body: []byte("{not json")}, want: http.StatusBadRequest},
		{name: "JSON of the wrong shape", d: delivery{event: "workflow_job", body: []byte(`{"workflow_job": 42}`)}, want: http.StatusBadRequest},
		{name: "empty body", d: delivery{event: "workflow_job", body: []byte{}}, want: http.StatusBadRequest},
		{name: "no workflow_job", d: delivery{event: "workflow_job", body: []byte(`{"action":"queued"}`)}, want: http.StatusBadRequest},
		{name: "no job id", d: delivery{event: "workflow_job", body: []byte(`{"action":"queued","workflow_job":{"labels":["a"]},"repository":{"name":"r","owner":{"login":"o"}}}`)}, want: http.StatusBadRequest},
		{name: "no action", d: delivery{event: "workflow_job", body: []byte(`{"workflow_job":{"id":1},"repository":{"name":"r","owner":{"login":"o"}}}`)}, want: http.StatusBadRequest},
		{name: "no owner", d: delivery{event: "workflow_job", body: []byte(`{"action":"queued","workflow_job":{"id":1}}`)}, want: http.StatusBadRequest},
		{name: "no event header", d: delivery{body: valid}, want: http.StatusBadRequest},
		{name: "unknown action", d: delivery{event: "workflow_job", body: []byte(`{"action":"requested","workflow_job":{"id":1},"repository":{"name":"r","owner":{"login":"o"}}}`)}, want: http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, sink, _, _ := newTestReceiver(t, nil)
			run(t, r)
			if w := serve(r, tc.d.request()); w.Code != tc.want {
				t.Errorf("Status %d (%s), want %d", w.Code, w.Body, tc.want)
			}
			time.Sleep(10 * time.Millisecond)
			if calls := sink.Calls(); len(calls) != 0 {
				t.Errorf("The sink was called: %+v", calls)
			}
		})
	}
	t.Run("no delivery id", func(t *testing.T) {
		r, _, _, _ := newTestReceiver(t, nil)
		req := delivery{event: "workflow_job", body: valid}.request()
		req.Header.Del(headerDelivery)
		if w := serve(r, req); w.Code != http.StatusBadRequest {
			t.Errorf("Status %d, want %d", w.Code, http.StatusBadRequest)
		}
	})
}

func TestMethodsAndPaths(t *testing.T) {
	r, _, _, _ := newTestReceiver(t, func(o *Options) { o.Path = "/hooks/github" })
	if r.Path() != "/hooks/github" {
		t.Errorf("Path() = %q", r.Path())
	}
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		w := serve(r, httptest.NewRequest(method, "/hooks/github", nil))
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != http.MethodPost {
			t.Errorf("%s: status %d, Allow %q; want 405 and POST", method, w.Code, w.Header().Get("Allow"))
		}
	}
	req := delivery{event: "ping", body: []byte(`{"zen":"Keep it logically awesome."}`)}.request()
	req.URL.Path = "/other"
	if w := serve(r, req); w.Code != http.StatusNotFound {
		t.Errorf("Another path: status %d, want 404", w.Code)
	}
}

func TestPingAndUnknownEvents(t *testing.T) {
	r, sink, _, reg := newTestReceiver(t, nil)
	run(t, r)
	ping := []byte(`{"zen":"Design for failure.","hook_id":424242,"hook":{"type":"Organization","events":["workflow_job"]}}`)
	if w := serve(r, delivery{event: "ping", body: ping}.request()); w.Code != http.StatusOK {
		t.Errorf("ping: status %d, want 200", w.Code)
	}
	for _, event := range []string{"push", "workflow_run", "check_run", "Weird-Event!"} {
		if w := serve(r, delivery{event: event, body: []byte(`{"action":"completed"}`)}.request()); w.Code != http.StatusOK {
			t.Errorf("%s: status %d, want 200", event, w.Code)
		}
	}
	if calls := sink.Calls(); len(calls) != 0 {
		t.Errorf("The sink was called: %+v", calls)
	}
	want := `
# HELP octorun_githubevents_deliveries_total GitHub webhook deliveries received, by event, action and result. Event and action are empty for deliveries rejected before their signature was verified.
# TYPE octorun_githubevents_deliveries_total counter
octorun_githubevents_deliveries_total{action="",event="check_run",result="ignored"} 1
octorun_githubevents_deliveries_total{action="",event="other",result="ignored"} 1
octorun_githubevents_deliveries_total{action="",event="ping",result="ping"} 1
octorun_githubevents_deliveries_total{action="",event="push",result="ignored"} 1
octorun_githubevents_deliveries_total{action="",event="workflow_run",result="ignored"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "octorun_githubevents_deliveries_total"); err != nil {
		t.Error(err)
	}
}

// TestJobsReachTheSink: in_progress and completed go to the sink with what
// GitHub said.
func TestJobsReachTheSink(t *testing.T) {
	r, sink, _, _ := newTestReceiver(t, nil)
	run(t, r)
	for _, j := range []job{
		{action: actionQueued, id: 10, runID: 5, repo: "hello", labels: []string{"linux"}},
		{action: actionInProgress, id: 10, runID: 5, repo: "hello", labels: []string{"linux"}, runnerID: 7, runnerName: "prod-ns-r1"},
		{action: actionCompleted, id: 10, runID: 5, repo: "hello", labels: []string{"linux"}, runnerID: 7, runnerName: "prod-ns-r1"},
	} {
		if w := serve(r, delivery{event: "workflow_job", body: j.payload()}.request()); w.Code != http.StatusAccepted {
			t.Fatalf("%s: status %d (%s)", j.action, w.Code, w.Body)
		}
	}
	started := time.Date(2026, 7, 1, 11, 59, 30, 0, time.UTC)
	want := []sinkCall{
		{Method: "JobStarted", Org: "octo", Repo: "hello", RunnerID: 7, RunnerName: "prod-ns-r1", JobID: 10, RunID: 5, StartedAt: started},
		{Method: "JobCompleted", Org: "octo", Repo: "hello", RunnerID: 7, RunnerName: "prod-ns-r1", JobID: 10, RunID: 5, StartedAt: started,
			CompletedAt: time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)},
	}
	got := waitForCalls(t, sink, 2)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Sink calls (-want +got):\n%s", diff)
	}
}

// TestDuplicateDelivery: a redelivery (same X-GitHub-Delivery) is
// acknowledged and not processed again.
func TestDuplicateDelivery(t *testing.T) {
	r, sink, clock, reg := newTestReceiver(t, func(o *Options) { o.DeliveryTTL = time.Hour })
	run(t, r)
	d := delivery{event: "workflow_job", id: "dup-1", body: job{action: actionInProgress, id: 1, repo: "hello", runnerID: 7, runnerName: "r"}.payload()}
	if w := serve(r, d.request()); w.Code != http.StatusAccepted {
		t.Fatalf("First delivery: status %d", w.Code)
	}
	for range 3 {
		if w := serve(r, d.request()); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), ResultDuplicate) {
			t.Fatalf("Redelivery: status %d (%s), want 200 duplicate", w.Code, w.Body)
		}
	}
	waitForProcessed(t, reg, 1)
	time.Sleep(20 * time.Millisecond)
	if calls := sink.Calls(); len(calls) != 1 {
		t.Errorf("The sink was called %d times, want 1", len(calls))
	}
	if got := testutil.ToFloat64(r.metrics.deliveries.WithLabelValues("workflow_job", actionInProgress, ResultDuplicate)); got != 3 {
		t.Errorf("Duplicates counted %v, want 3", got)
	}
	// Once forgotten, a delivery id is taken again (the sink is idempotent).
	clock.Step(time.Hour)
	if w := serve(r, d.request()); w.Code != http.StatusAccepted {
		t.Errorf("Delivery after the TTL: status %d, want 202", w.Code)
	}
}

// TestReplayWithNewDeliveryID: the signature covers the body only, so a
// captured delivery sent again under a fresh X-GitHub-Delivery is signed
// all the same; it is acknowledged and not processed again, until its body
// is forgotten.
func TestReplayWithNewDeliveryID(t *testing.T) {
	r, sink, clock, reg := newTestReceiver(t, func(o *Options) { o.DeliveryTTL = time.Hour })
	run(t, r)
	body := job{action: actionInProgress, id: 1, repo: "hello", runnerID: 7, runnerName: "r"}.payload()
	if w := serve(r, delivery{event: "workflow_job", id: "first", body: body}.request()); w.Code != http.StatusAccepted {
		t.Fatalf("First delivery: status %d", w.Code)
	}
	for i := range 3 {
		replay := delivery{event: "workflow_job", id: fmt.Sprintf("replay-%d", i), body: body}
		if w := serve(r, replay.request()); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), ResultReplayed) {
			t.Fatalf("Replay %d: status %d (%s), want 200 %s", i, w.Code, w.Body, ResultReplayed)
		}
	}
	waitForProcessed(t, reg, 1)
	time.Sleep(20 * time.Millisecond)
	if calls := sink.Calls(); len(calls) != 1 {
		t.Errorf("The sink was called %d times, want 1", len(calls))
	}
	if got := testutil.ToFloat64(r.metrics.deliveries.WithLabelValues("workflow_job", actionInProgress, ResultReplayed)); got != 3 {
		t.Errorf("Replays counted %v, want 3", got)
	}
	// Another event of the same job is no replay.
	completed := job{action: actionCompleted, id: 1, repo: "hello", runnerID: 7, runnerName: "r"}.payload()
	if w := serve(r, delivery{event: "workflow_job", body: completed}.request()); w.Code != http.StatusAccepted {
		t.Errorf("The job's completed delivery: status %d, want 202", w.Code)
	}
	clock.Step(time.Hour)
	if w := serve(r, delivery{event: "workflow_job", id: "late", body: body}.request()); w.Code != http.StatusAccepted {
		t.Errorf("Delivery after the TTL: status %d, want 202", w.Code)
	}
}

// TestReplayDigestsAreBounded: the digests remembered are as bounded as the
// delivery ids: when full, the oldest is forgotten first.
func TestReplayDigestsAreBounded(t *testing.T) {
	r, _, _, _ := newTestReceiver(t, func(o *Options) { o.DeliveryCacheSize = 2 })
	run(t, r)
	for id := int64(1); id <= 3; id++ {
		j := job{action: actionInProgress, id: id, repo: "hello", runnerID: 7, runnerName: "r"}
		if w := serve(r, delivery{event: "workflow_job", body: j.payload()}.request()); w.Code != http.StatusAccepted {
			t.Fatalf("Job %d: status %d", id, w.Code)
		}
	}
	if got := r.bodies.len(); got != 2 {
		t.Errorf("%d digests remembered, want 2", got)
	}
}

// TestOutOfOrder: completed before in_progress, and a queued event after
// the job started, are harmless.
func TestOutOfOrder(t *testing.T) {
	r, sink, _, reg := newTestReceiver(t, nil)
	run(t, r)
	send := func(j job) {
		t.Helper()
		if w := serve(r, delivery{event: "workflow_job", body: j.payload()}.request()); w.Code != http.StatusAccepted {
			t.Fatalf("%s: status %d (%s)", j.action, w.Code, w.Body)
		}
	}
	base := job{id: 3, runID: 4, repo: "hello", labels: []string{"linux"}, runnerID: 9, runnerName: "r9"}
	completed, inProgress, queued := base, base, base
	completed.action, inProgress.action, queued.action = actionCompleted, actionInProgress, actionQueued
	queued.runnerID, queued.runnerName = 0, ""
	send(completed)
	send(inProgress)
	send(queued)
	waitForProcessed(t, reg, 3)
	calls := sink.Calls()
	if len(calls) != 2 || calls[0].Method != "JobCompleted" || calls[1].Method != "JobStarted" {
		t.Errorf("Sink calls = %+v, want JobCompleted then JobStarted", calls)
	}
	if n := queuedJobs(t, r, "octo", "", []string{"linux"}); n != 0 {
		t.Errorf("A job that ran counts as queued: QueuedJobs = %d, want 0", n)
	}
	if got := testutil.ToFloat64(r.metrics.jobs.WithLabelValues(actionQueued, JobNotCounted)); got != 1 {
		t.Errorf("The late queued event counted %v as not_counted, want 1", got)
	}
}

// TestUnknownRunner: jobs on runners that are not Octorun's are counted and
// otherwise ignored; a job cancelled while queued has no runner at all.
func TestUnknownRunner(t *testing.T) {
	r, sink, _, reg := newTestReceiver(t, nil)
	sink.unknown[99] = true
	run(t, r)
	for _, j := range []job{
		{action: actionInProgress, id: 1, repo: "hello", runnerID: 99, runnerName: "laptop"},
		{action: actionCompleted, id: 1, repo: "hello", runnerID: 99, runnerName: "laptop"},
		{action: actionCompleted, id: 2, repo: "hello"},
	} {
		if w := serve(r, delivery{event: "workflow_job", body: j.payload()}.request()); w.Code != http.StatusAccepted {
			t.Fatalf("Status %d", w.Code)
		}
	}
	waitForProcessed(t, reg, 3)
	want := `
# HELP octorun_githubevents_jobs_total workflow_job events processed, by action and result.
# TYPE octorun_githubevents_jobs_total counter
octorun_githubevents_jobs_total{action="completed",result="no_runner"} 1
octorun_githubevents_jobs_total{action="completed",result="unknown_runner"} 1
octorun_githubevents_jobs_total{action="in_progress",result="unknown_runner"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "octorun_githubevents_jobs_total"); err != nil {
		t.Error(err)
	}
	if calls := sink.Calls(); len(calls) != 2 {
		t.Errorf("The sink was called %d times, want 2 (not for the job without a runner)", len(calls))
	}
}

// TestSinkFailures: a failing sink is retried, then the event is dropped
// and counted.
func TestSinkFailures(t *testing.T) {
	r, sink, _, reg := newTestReceiver(t, func(o *Options) { o.SinkAttempts = 3 })
	sink.fail = 4
	run(t, r)
	for id := int64(1); id <= 2; id++ {
		j := job{action: actionInProgress, id: id, repo: "hello", runnerID: 7, runnerName: "r"}
		if w := serve(r, delivery{event: "workflow_job", body: j.payload()}.request()); w.Code != http.StatusAccepted {
			t.Fatalf("Status %d", w.Code)
		}
	}
	waitForProcessed(t, reg, 2)
	if calls := sink.Calls(); len(calls) != 5 {
		t.Errorf("The sink was called %d times, want 3 (failed) + 2 (failed, then recorded)", len(calls))
	}
	if got := testutil.ToFloat64(r.metrics.jobs.WithLabelValues(actionInProgress, JobFailed)); got != 1 {
		t.Errorf("failed = %v, want 1", got)
	}
	if got := testutil.ToFloat64(r.metrics.jobs.WithLabelValues(actionInProgress, JobRecorded)); got != 1 {
		t.Errorf("recorded = %v, want 1", got)
	}
}

// TestQueueFull: when the workers fall behind, deliveries are refused with
// 503 (GitHub records a failure), counted, and taken again when redelivered.
func TestQueueFull(t *testing.T) {
	r, _, _, reg := newTestReceiver(t, func(o *Options) { o.QueueSize = 2 })
	d := func(id string, jobID int64) delivery {
		return delivery{event: "workflow_job", id: id, body: job{action: actionQueued, id: jobID, repo: "hello", labels: []string{"x"}}.payload()}
	}
	for i, want := range []int{http.StatusAccepted, http.StatusAccepted, http.StatusServiceUnavailable} {
		if w := serve(r, d(string(rune('a'+i)), int64(i+1)).request()); w.Code != want {
			t.Errorf("Delivery %d: status %d, want %d", i, w.Code, want)
		}
	}
	if got := testutil.ToFloat64(r.metrics.queueDepth); got != 2 {
		t.Errorf("Queue depth %v, want 2", got)
	}
	if got := testutil.ToFloat64(r.metrics.deliveries.WithLabelValues("workflow_job", actionQueued, ResultQueueFull)); got != 1 {
		t.Errorf("queue_full = %v, want 1", got)
	}
	run(t, r)
	waitForProcessed(t, reg, 2)
	if w := serve(r, d("c", 3).request()); w.Code != http.StatusAccepted {
		t.Errorf("The redelivery of the refused delivery: status %d, want 202", w.Code)
	}
	waitForProcessed(t, reg, 3)
	if n := queuedJobs(t, r, "octo", "hello", []string{"x"}); n != 3 {
		t.Errorf("QueuedJobs = %d, want 3", n)
	}
}

// TestDemand: queued jobs count until they start, complete or expire;
// waiting jobs do not count.
func TestDemand(t *testing.T) {
	r, _, clock, reg := newTestReceiver(t, nil)
	run(t, r)
	if n, known := r.QueuedJobs("octo", "", []string{"linux"}); n != 0 || known {
		t.Errorf("Before any delivery QueuedJobs = %d, %v; want 0, false", n, known)
	}
	now := clock.Now()
	send := func(j job) {
		t.Helper()
		if j.createdAt.IsZero() {
			j.createdAt = now
		}
		if w := serve(r, delivery{event: "workflow_job", body: j.payload()}.request()); w.Code != http.StatusAccepted {
			t.Fatalf("Status %d (%s)", w.Code, w.Body)
		}
	}
	send(job{action: actionQueued, id: 1, repo: "hello", labels: []string{"self-hosted", "linux"}})
	send(job{action: actionQueued, id: 2, repo: "world", labels: []string{"Linux", "GPU"}})
	send(job{action: actionWaiting, id: 3, repo: "hello", labels: []string{"linux"}})
	send(job{action: actionQueued, id: 4, owner: "other", repo: "hello", labels: []string{"linux"}})
	send(job{action: actionQueued, id: 5, repo: "hello", labels: []string{"linux"}, createdAt: now.Add(-25 * time.Hour)})
	waitForProcessed(t, reg, 5)

	check := func(org, repo string, labels []string, want int) {
		t.Helper()
		if got := queuedJobs(t, r, org, repo, labels); got != want {
			t.Errorf("QueuedJobs(%q, %q, %v) = %d, want %d", org, repo, labels, got, want)
		}
	}
	// Job 3 waits for an approval: no runner can take it, it is no demand.
	check("octo", "", []string{"linux"}, 1)
	check("OCTO", "", []string{"self-hosted", "linux", "gpu"}, 2)
	check("octo", "hello", []string{"linux", "gpu"}, 1)
	check("octo", "world", []string{"linux", "gpu"}, 1)
	check("octo", "", nil, 0)
	check("other", "", []string{"linux"}, 1)
	if got := testutil.ToFloat64(r.metrics.queuedJobs); got != 3 {
		t.Errorf("octorun_githubevents_queued_jobs = %v, want 3", got)
	}
	if got := testutil.ToFloat64(r.metrics.jobs.WithLabelValues(actionWaiting, JobNotCounted)); got != 1 {
		t.Errorf("waiting not_counted = %v, want 1", got)
	}

	send(job{action: actionInProgress, id: 1, repo: "hello", labels: []string{"linux"}, runnerID: 1, runnerName: "r"})
	send(job{action: actionCompleted, id: 3, repo: "hello", labels: []string{"linux"}}) // cancelled while waiting
	waitForProcessed(t, reg, 7)
	check("octo", "", []string{"linux", "gpu"}, 1)

	clock.Step(24 * time.Hour)
	check("octo", "", []string{"linux", "gpu"}, 0)
	check("other", "", []string{"linux"}, 0)
}

// TestMetricsLint: the metrics follow Prometheus' conventions.
func TestMetricsLint(t *testing.T) {
	r, _, _, reg := newTestReceiver(t, nil)
	run(t, r)
	serve(r, delivery{event: "workflow_job", body: job{action: actionInProgress, id: 1, repo: "hello", runnerID: 7, runnerName: "r"}.payload()}.request())
	serve(r, delivery{event: "workflow_job", body: []byte("x"), signature: "-"}.request())
	waitForProcessed(t, reg, 1)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if n, err := testutil.GatherAndCount(reg, "octorun_githubevents_processing_seconds"); err != nil || n != 1 {
		t.Errorf("processing_seconds series = %d (%v), want 1", n, err)
	}
	// A second receiver on the same registry is an error, not a panic.
	if _, err := NewReceiver(Options{Secret: testSecret, Sink: newFakeSink(), Registerer: reg}); err == nil {
		t.Error("A second receiver registered its metrics on the same registry")
	}
}

// TestAnswersFast: the handler answers before the sink is done.
func TestAnswersFast(t *testing.T) {
	block := make(chan struct{})
	sink := &blockingSink{fakeSink: newFakeSink(), block: block}
	defer close(block)
	r, err := NewReceiver(Options{Secret: testSecret, Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	run(t, r)
	for id := int64(1); id <= 5; id++ {
		start := time.Now()
		w := serve(r, delivery{event: "workflow_job", body: job{action: actionInProgress, id: id, repo: "hello", runnerID: 7, runnerName: "r"}.payload()}.request())
		if w.Code != http.StatusAccepted {
			t.Fatalf("Status %d", w.Code)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("The answer took %s while the sink was blocked", d)
		}
	}
}

type blockingSink struct {
	*fakeSink
	block chan struct{}
}

func (s *blockingSink) JobStarted(ctx context.Context, org, repo string, runnerID int64, runnerName string, jobID, runID int64, startedAt time.Time) (bool, error) {
	select {
	case <-s.block:
	case <-ctx.Done():
	}
	return true, nil
}

// failingStore fails its writes while fail is set.
type failingStore struct {
	*memoryStore
	fail bool
}

func (s *failingStore) Queued(ctx context.Context, job QueuedJob, now time.Time) (bool, error) {
	if s.fail {
		return false, fmt.Errorf("the API server is down")
	}
	return s.memoryStore.Queued(ctx, job, now)
}

func (s *failingStore) Finished(ctx context.Context, jobID int64, now time.Time) error {
	if s.fail {
		return fmt.Errorf("the API server is down")
	}
	return s.memoryStore.Finished(ctx, jobID, now)
}

// TestStoreFailure: a delivery whose job state could not be stored is not
// acknowledged (503, so GitHub records the failure and it can be
// redelivered), and the redelivery is taken.
func TestStoreFailure(t *testing.T) {
	store := &failingStore{memoryStore: newMemoryStore(10, time.Hour), fail: true}
	r, _, _, reg := newTestReceiver(t, func(o *Options) { o.Jobs = store })
	run(t, r)
	for _, j := range []job{
		{action: actionQueued, id: 1, repo: "hello", labels: []string{"x"}},
		{action: actionInProgress, id: 2, repo: "hello", runnerID: 7, runnerName: "r"},
	} {
		d := delivery{event: "workflow_job", id: fmt.Sprintf("store-%d", j.id), body: j.payload()}
		if w := serve(r, d.request()); w.Code != http.StatusServiceUnavailable {
			t.Errorf("%s while the store fails: status %d, want 503", j.action, w.Code)
		}
		store.fail = false
		if w := serve(r, d.request()); w.Code != http.StatusAccepted {
			t.Errorf("Redelivered %s: status %d, want 202", j.action, w.Code)
		}
		store.fail = true
	}
	waitForProcessed(t, reg, 2)
	if got := testutil.ToFloat64(r.metrics.deliveries.WithLabelValues("workflow_job", actionQueued, ResultStoreFailed)); got != 1 {
		t.Errorf("store_failed = %v, want 1", got)
	}
	if n := queuedJobs(t, r, "octo", "", []string{"x"}); n != 1 {
		t.Errorf("QueuedJobs = %d, want 1", n)
	}
}
