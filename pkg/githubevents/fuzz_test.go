package githubevents

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzReceiver sends arbitrary deliveries, signed (sign true) or with the
// given signature, and checks the receiver never panics, answers only with
// the statuses it documents, and never accepts what is not validly signed.
func FuzzReceiver(f *testing.F) {
	inProgress := job{action: actionInProgress, id: 10, runID: 5, repo: "hello", labels: []string{"linux"}, runnerID: 7, runnerName: "prod-ns-r1"}.payload()
	queued := job{action: actionQueued, id: 11, runID: 5, repo: "hello", labels: []string{"self-hosted", "gpu"}}.payload()
	completed := job{action: actionCompleted, id: 10, runID: 5, repo: "hello", runnerID: 7, runnerName: "prod-ns-r1"}.payload()
	for _, seed := range []struct {
		body                          []byte
		event, contentType, signature string
		sign                          bool
		deliveryID                    string
	}{
		{inProgress, "workflow_job", "application/json", "", true, "d1"},
		{queued, "workflow_job", "application/json; charset=utf-8", "", true, "d2"},
		{completed, "workflow_job", "application/json", "", true, "d3"},
		{[]byte(`{"zen":"Speak like a human."}`), "ping", "application/json", "", true, "d4"},
		{[]byte(`{"action":"created"}`), "push", "application/json", "", true, "d5"},
		{[]byte(`{"action":"queued","workflow_job":{"id":-1}}`), "workflow_job", "application/json", "", true, "d6"},
		{[]byte(`{"workflow_job":null}`), "workflow_job", "application/json", "", true, ""},
		{[]byte("not json"), "workflow_job", "application/json", "", true, "d7"},
		{inProgress, "workflow_job", "application/json", "sha256=00", false, "d8"},
		{inProgress, "workflow_job", "application/json", "sha1=0123456789abcdef0123456789abcdef01234567", false, "d9"},
		{inProgress, "workflow_job", "application/x-www-form-urlencoded", "", true, "d10"},
		{inProgress, "", "", "", false, ""},
	} {
		f.Add(seed.body, seed.event, seed.contentType, seed.signature, seed.sign, seed.deliveryID)
	}
	f.Fuzz(func(t *testing.T, body []byte, event, contentType, signature string, sign bool, deliveryID string) {
		r, err := NewReceiver(Options{Secret: testSecret, Sink: newFakeSink(), MaxBodyBytes: 4096, QueueSize: 4,
			Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
		if err != nil {
			t.Fatal(err)
		}
		if sign {
			signature = Sign(testSecret, body)
		}
		req := httptest.NewRequest(http.MethodPost, DefaultPath, strings.NewReader(string(body)))
		setHeader := func(k, v string) {
			// Header values the HTTP server would never let through are
			// not the handler's concern.
			if v != "" && !strings.ContainsAny(v, "\r\n\x00") {
				req.Header.Set(k, v)
			}
		}
		setHeader("Content-Type", contentType)
		setHeader(headerEvent, event)
		setHeader(headerDelivery, deliveryID)
		setHeader(headerSignature256, signature)

		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)

		switch w.Code {
		case http.StatusOK, http.StatusAccepted, http.StatusBadRequest, http.StatusUnauthorized,
			http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusServiceUnavailable:
		default:
			t.Fatalf("Status %d is not one the receiver documents", w.Code)
		}
		valid := validSignature(req.Header.Get(headerSignature256), body, testSecret)
		if w.Code < 300 && !valid {
			t.Fatalf("Status %d for a delivery without a valid signature %q", w.Code, req.Header.Get(headerSignature256))
		}
		if w.Code == http.StatusAccepted {
			if req.Header.Get(headerEvent) != "workflow_job" {
				t.Fatalf("A %q delivery was queued", req.Header.Get(headerEvent))
			}
			if len(r.queue) != 1 {
				t.Fatalf("Accepted, but %d events queued", len(r.queue))
			}
			ev := <-r.queue
			if ev.jobID <= 0 || ev.org == "" || actionLabel(ev.action) == "other" {
				t.Fatalf("Queued an event the workers cannot use: %+v", ev)
			}
			// The same delivery again is a duplicate.
			w2 := httptest.NewRecorder()
			req2 := httptest.NewRequest(http.MethodPost, DefaultPath, strings.NewReader(string(body)))
			req2.Header = req.Header.Clone()
			r.ServeHTTP(w2, req2)
			if w2.Code != http.StatusOK {
				t.Fatalf("The same delivery again: status %d, want 200", w2.Code)
			}
		} else if len(r.queue) != 0 {
			t.Fatalf("Status %d, but an event was queued", w.Code)
		}
	})
}

// FuzzSignature checks that only GitHub's signature of the body, with the
// secret, is valid.
func FuzzSignature(f *testing.F) {
	f.Add([]byte("Hello, World!"), "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
	f.Add([]byte("Hello, World!"), "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59")
	f.Add([]byte(""), "sha256=")
	f.Add([]byte("{}"), "sha256=zz")
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		want := strings.EqualFold(header, Sign(testSecret, body)) && strings.HasPrefix(header, "sha256=")
		if got := validSignature(header, body, testSecret); got != want {
			t.Fatalf("validSignature(%q) = %v, want %v", header, got, want)
		}
	})
}
