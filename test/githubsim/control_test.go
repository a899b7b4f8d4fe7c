package githubsim

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// control calls the control API and checks the answer's status.
func control(t *testing.T, base, method, path string, body any, wantStatus int) []byte {
	t.Helper()
	resp, b := do(t, method, base+"/_sim"+path, "", body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s /_sim%s = %d, want %d: %s", method, path, resp.StatusCode, wantStatus, b)
	}
	return b
}

func TestControlAPI(t *testing.T) {
	sim, ts := newSim(t, Options{})
	ctl := func(method, path string, body any, wantStatus int) []byte {
		t.Helper()
		return control(t, ts.URL, method, path, body, wantStatus)
	}

	ctl("POST", "/orgs", map[string]string{"name": "acme"}, 201)
	ctl("POST", "/repos", map[string]string{"owner": "acme", "name": "app"}, 201)
	group := decodeBody[struct{ ID int64 }](t, ctl("POST", "/runner-groups", map[string]string{"org": "acme", "name": "big"}, 201))
	ctl("POST", "/tokens", map[string]string{"token": "t2"}, 201)
	ctl("POST", "/orgs", map[string]string{}, 400)
	ctl("POST", "/repos", map[string]string{"owner": "acme", "nam": "typo"}, 400)

	c := newClient(t, ts.URL, "t2")
	jit, _, err := generateJIT(t, c, "orgs/acme", jitRequest{Name: "r1", RunnerGroupID: group.ID, Labels: []string{"linux"}})
	if err != nil {
		t.Fatal(err)
	}

	// What a runner pod does with its config.
	runner := decodeBody[RunnerJSON](t, ctl("POST", "/runners/by-jit-config", map[string]string{"encoded_jit_config": jit.EncodedJITConfig}, 200))
	if runner.ID != jit.Runner.GetID() || runner.GroupID != group.ID || runner.Status != "offline" || !runner.Ephemeral {
		t.Errorf("runner by jit config = %+v", runner)
	}
	ctl("POST", "/runners/by-jit-config", map[string]string{"encoded_jit_config": "bm9wZQ=="}, 404)
	online := decodeBody[RunnerJSON](t, ctl("POST", fmt.Sprintf("/runners/%d/online", runner.ID), nil, 200))
	if online.Status != "online" || online.OS != "Linux" {
		t.Errorf("online runner = %+v", online)
	}
	ctl("POST", "/runners/999/online", nil, 404)

	job := decodeBody[JobJSON](t, ctl("POST", "/jobs", map[string]any{"owner": "acme", "repo": "app", "labels": []string{"linux"}, "duration": "1h"}, 201))
	if job.Status != JobInProgress || job.RunnerID != runner.ID || job.Duration != "1h0m0s" {
		t.Errorf("queued job = %+v", job)
	}
	jobs := decodeBody[[]JobJSON](t, ctl("GET", "/jobs", nil, 200))
	if diff := cmp.Diff([]JobJSON{job}, jobs); diff != "" {
		t.Errorf("jobs (-want +got):\n%s", diff)
	}
	done := decodeBody[JobJSON](t, ctl("POST", fmt.Sprintf("/jobs/%d/complete", job.ID), nil, 200))
	if done.Status != JobCompleted || done.Conclusion != ConclusionSuccess || done.CompletedAt == "" {
		t.Errorf("completed job = %+v", done)
	}
	ctl("POST", fmt.Sprintf("/jobs/%d/complete", job.ID), nil, 409)
	ctl("POST", "/jobs/99/complete", nil, 404)
	ctl("GET", fmt.Sprintf("/jobs/%d", job.ID), nil, 200)
	if runners := decodeBody[[]RunnerJSON](t, ctl("GET", "/runners", nil, 200)); len(runners) != 0 {
		t.Errorf("runners after the ephemeral runner's job = %+v, want none", runners)
	}

	added := decodeBody[RunnerJSON](t, ctl("POST", "/runners", map[string]any{"owner": "acme", "name": "static", "labels": []string{"gpu"}}, 201))
	if added.Ephemeral || added.Status != "offline" || fmt.Sprint(added.Labels) != "[self-hosted Linux X64 gpu]" {
		t.Errorf("added runner = %+v", added)
	}
	ctl("GET", fmt.Sprintf("/runners/%d", added.ID), nil, 200)
	ctl("POST", fmt.Sprintf("/runners/%d/offline", added.ID), nil, 200)

	// A duration in seconds; the job completes on its own.
	ctl("POST", fmt.Sprintf("/runners/%d/online", added.ID), nil, 200)
	short := decodeBody[JobJSON](t, ctl("POST", "/jobs", map[string]any{"owner": "acme", "repo": "app", "labels": []string{"gpu"}, "duration": 0.01}, 201))
	eventually(t, "the short job", func() bool { j, _ := sim.Job(short.ID); return j.Status == JobCompleted })

	// Control calls are not API calls.
	type callsJSON struct {
		Calls    map[string]int `json:"calls"`
		ByStatus map[string]int `json:"by_status"`
	}
	calls := decodeBody[callsJSON](t, ctl("GET", "/calls", nil, 200))
	want := callsJSON{
		Calls:    map[string]int{"POST /orgs/{org}/actions/runners/generate-jitconfig": 1},
		ByStatus: map[string]int{"201": 1},
	}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	ctl("DELETE", "/calls", nil, 204)
	if len(sim.Calls()) != 0 {
		t.Errorf("calls after reset: %v", sim.Calls())
	}

	cfg := decodeBody[ConfigJSON](t, ctl("PUT", "/config", map[string]any{"primary_limit": 1, "secondary_points_per_minute": 0, "server_error_rate": 0, "latency_ms": 0}, 200))
	if *cfg.PrimaryLimit != 1 {
		t.Errorf("config = %+v", cfg)
	}
	if resp, _ := do(t, "GET", ts.URL+"/orgs/acme/actions/runners", "t2", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("after lowering the limit: %d, want 403", resp.StatusCode)
	}
	cfg = decodeBody[ConfigJSON](t, ctl("PUT", "/config", map[string]any{"scale_set_session_idle_ttl": "3s"}, 200))
	if got := time.Duration(*cfg.ScaleSetSessionIdleTTL); got != 3*time.Second {
		t.Errorf("scale_set_session_idle_ttl = %s, want 3s", got)
	}
	cfg = decodeBody[ConfigJSON](t, ctl("PUT", "/config", map[string]any{"scale_set_session_idle_ttl": 0}, 200))
	if got := time.Duration(*cfg.ScaleSetSessionIdleTTL); got != DefaultScaleSetSessionIdleTTL {
		t.Errorf("scale_set_session_idle_ttl after 0 = %s, want the default", got)
	}
	ctl("PUT", "/config", map[string]any{"server_error_rate": 2}, 400)
	ctl("PUT", "/config", map[string]any{"no_such_knob": 1}, 400)
	ctl("GET", "/config", nil, 200)
	ctl("GET", "/nothing", nil, 404)

	key, _ := appKey(t)
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	ctl("POST", "/apps", map[string]any{"app_id": 9, "public_key_pem": pub}, 201)
	ctl("POST", "/apps", map[string]any{"app_id": 9, "public_key_pem": "junk"}, 400)
	ctl("POST", "/installations", map[string]any{"app_id": 9, "installation_id": 90, "orgs": []string{"acme"}}, 201)
	ctl("GET", "/deliveries", nil, 200)
	ctl("POST", "/deliveries/nope/redeliver", nil, 404)
}

func TestControlFaults(t *testing.T) {
	sim, ts := newSim(t, Options{})
	ctl := func(method, path string, body any, wantStatus int) []byte {
		t.Helper()
		return control(t, ts.URL, method, path, body, wantStatus)
	}
	list := ts.URL + "/orgs/octo/actions/runners"

	rates := map[string]float64{
		"server_error_rate":      0.1,
		"too_many_requests_rate": 0.2,
		"timeout_rate":           0.3,
		"webhook_drop_rate":      0.4,
		"webhook_duplicate_rate": 0.5,
		"webhook_reorder_rate":   0.6,
	}
	ratesOf := func(cfg ConfigJSON) map[string]float64 {
		return map[string]float64{
			"server_error_rate":      *cfg.ServerErrorRate,
			"too_many_requests_rate": *cfg.TooManyRequestsRate,
			"timeout_rate":           *cfg.TimeoutRate,
			"webhook_drop_rate":      *cfg.WebhookDropRate,
			"webhook_duplicate_rate": *cfg.WebhookDuplicateRate,
			"webhook_reorder_rate":   *cfg.WebhookReorderRate,
		}
	}
	if diff := cmp.Diff(rates, ratesOf(decodeBody[ConfigJSON](t, ctl("PUT", "/config", rates, 200)))); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	for _, name := range slices.Sorted(maps.Keys(rates)) {
		t.Run(name+" out of range", func(t *testing.T) {
			control(t, ts.URL, "PUT", "/config", map[string]any{name: 1.5}, 400)
			control(t, ts.URL, "PUT", "/config", map[string]any{name: -0.1}, 400)
		})
	}
	if diff := cmp.Diff(rates, ratesOf(decodeBody[ConfigJSON](t, ctl("GET", "/config", nil, 200)))); diff != "" {
		t.Errorf("config after refused changes (-want +got):\n%s", diff)
	}

	ctl("PUT", "/config", map[string]any{"server_error_rate": 0, "too_many_requests_rate": 1, "timeout_rate": 0}, 200)
	if resp, _ := do(t, "GET", list, testToken, nil); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("with too_many_requests_rate 1: %d Retry-After %q, want 429 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	ctl("PUT", "/config", map[string]any{"too_many_requests_rate": 0}, 200)
	if resp, _ := do(t, "GET", list, testToken, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("with no faults: %d, want 200", resp.StatusCode)
	}

	ctl("POST", "/ratelimit/exhaust", nil, 204)
	resp, _ := do(t, "GET", list, testToken, nil)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-RateLimit-Remaining") != "0" || resp.Header.Get("X-RateLimit-Reset") == "" {
		t.Errorf("after exhaust: %d %v, want 403 with none remaining", resp.StatusCode, rateHeaders(resp))
	}
	if got := sim.CallsByStatus(); got[http.StatusForbidden] != 1 || got[http.StatusTooManyRequests] != 1 {
		t.Errorf("calls by status = %v, want the 429 and the 403 counted", got)
	}
}
