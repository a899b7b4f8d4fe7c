package githubsim

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v50/github"
)

// rateHeaders picks the rate-limit headers of a response.
func rateHeaders(resp *http.Response) map[string]string {
	out := map[string]string{}
	for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Used", "X-RateLimit-Reset", "X-RateLimit-Resource"} {
		out[h] = resp.Header.Get(h)
	}
	return out
}

func wantRate(limit, used int, reset time.Time) map[string]string {
	return map[string]string{
		"X-RateLimit-Limit":     strconv.Itoa(limit),
		"X-RateLimit-Remaining": strconv.Itoa(max(limit-used, 0)),
		"X-RateLimit-Used":      strconv.Itoa(used),
		"X-RateLimit-Reset":     strconv.FormatInt(reset.Unix(), 10),
		"X-RateLimit-Resource":  "core",
	}
}

func TestPrimaryRateLimit(t *testing.T) {
	clock := newFakeClock()
	sim, ts := newSim(t, Options{Now: clock.Now, PrimaryLimit: 3, PrimaryWindow: time.Hour})
	list := ts.URL + "/orgs/octo/actions/runners"
	reset := clock.Now().Add(time.Hour)

	for used := 1; used <= 3; used++ {
		resp, _ := do(t, http.MethodGet, list, testToken, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("call %d: status %d", used, resp.StatusCode)
		}
		if diff := cmp.Diff(wantRate(3, used, reset), rateHeaders(resp)); diff != "" {
			t.Errorf("call %d headers (-want +got):\n%s", used, diff)
		}
		clock.Step(time.Minute)
	}

	// Exhausted: 403, nothing changes, and go-github sees a RateLimitError.
	resp, body := do(t, http.MethodPost, list+"/generate-jitconfig", testToken,
		jitRequest{Name: "r", RunnerGroupID: 1, Labels: []string{"x"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("exhausted: status %d, want 403", resp.StatusCode)
	}
	wantBody := `{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}`
	if string(body) != wantBody {
		t.Errorf("body %s\nwant %s", body, wantBody)
	}
	if diff := cmp.Diff(wantRate(3, 3, reset), rateHeaders(resp)); diff != "" {
		t.Errorf("exhausted headers (-want +got):\n%s", diff)
	}
	if n := len(sim.Runners()); n != 0 {
		t.Errorf("a refused call registered %d runners", n)
	}
	_, _, err := newClient(t, ts.URL, testToken).Actions.ListOrganizationRunners(context.Background(), testOrg, nil)
	var rle *github.RateLimitError
	if !errors.As(err, &rle) || rle.Rate.Remaining != 0 || rle.Rate.Limit != 3 || !rle.Rate.Reset.Time.Equal(reset) {
		t.Errorf("go-github error = %#v, want RateLimitError resetting at %v", err, reset)
	}

	// Another token has its own budget.
	sim.AddToken("other")
	if resp, _ := do(t, http.MethodGet, list, "other", nil); resp.StatusCode != 200 {
		t.Errorf("other token: %d, want 200", resp.StatusCode)
	}

	// The window ends: a new one starts with the next call.
	clock.Step(time.Hour)
	resp, _ = do(t, http.MethodGet, list, testToken, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("after reset: %d", resp.StatusCode)
	}
	if diff := cmp.Diff(wantRate(3, 1, clock.Now().Add(time.Hour)), rateHeaders(resp)); diff != "" {
		t.Errorf("after reset headers (-want +got):\n%s", diff)
	}

	// The limit can change while running.
	do(t, http.MethodGet, list, testToken, nil)
	do(t, http.MethodGet, list, testToken, nil)
	if resp, _ := do(t, http.MethodGet, list, testToken, nil); resp.StatusCode != 403 {
		t.Fatalf("exhausted again: %d", resp.StatusCode)
	}
	sim.SetPrimaryLimit(10)
	if resp, _ := do(t, http.MethodGet, list, testToken, nil); resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Remaining") != "6" {
		t.Errorf("raised limit: %d remaining %s, want 200 remaining 6", resp.StatusCode, resp.Header.Get("X-RateLimit-Remaining"))
	}
	if got := sim.CallsByStatus()[403]; got != 3 {
		t.Errorf("403s counted = %d, want 3", got)
	}
}

func TestSecondaryRateLimit(t *testing.T) {
	clock := newFakeClock()
	// The legacy documentation_url lets go-github v50 see an
	// AbuseRateLimitError; TestSecondaryRateLimitAnswers covers today's.
	sim, ts := newSim(t, Options{Now: clock.Now, SecondaryPointsPerMinute: 11, SecondaryRetryAfter: 30 * time.Second, LegacySecondaryDocsURL: true})
	c := newClient(t, ts.URL, testToken)
	ctx := context.Background()

	// Two POSTs (10 points) and a GET (1) fit; the next POST does not.
	mustJIT(t, c, "a", "x")
	mustJIT(t, c, "b", "x")
	if _, _, err := c.Actions.ListOrganizationRunners(ctx, testOrg, nil); err != nil {
		t.Fatal(err)
	}
	_, resp, err := generateJIT(t, c, "orgs/"+testOrg, jitRequest{Name: "c", RunnerGroupID: 1, Labels: []string{"x"}})
	var abuse *github.AbuseRateLimitError
	if !errors.As(err, &abuse) || abuse.GetRetryAfter() != 30*time.Second {
		t.Fatalf("err = %v, want AbuseRateLimitError retrying after 30s", err)
	}
	if !strings.HasPrefix(abuse.Message, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID ") ||
		!strings.Contains(abuse.Message, resp.Header.Get("X-GitHub-Request-Id")) {
		t.Errorf("message %q", abuse.Message)
	}
	if resp.Header.Get("X-RateLimit-Remaining") != "4997" {
		t.Errorf("remaining %q, want 4997: a refused call costs nothing", resp.Header.Get("X-RateLimit-Remaining"))
	}
	if n := len(sim.Runners()); n != 2 {
		t.Errorf("%d runners, want 2: a refused call changes nothing", n)
	}

	// Refused until Retry-After has passed, whatever the call.
	clock.Step(29 * time.Second)
	if resp, _ := do(t, http.MethodGet, ts.URL+"/orgs/octo/actions/runners", testToken, nil); resp.StatusCode != 403 || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("during the penalty: %d Retry-After %q, want 403 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	sim.AddToken("other")
	if resp, _ := do(t, http.MethodGet, ts.URL+"/orgs/octo/actions/runners", "other", nil); resp.StatusCode != 200 {
		t.Errorf("other token during the penalty: %d, want 200", resp.StatusCode)
	}
	clock.Step(time.Second)
	// go-github remembers the penalty by the real clock: use a fresh client.
	mustJIT(t, newClient(t, ts.URL, testToken), "c", "x")

	// The window slides: points older than a minute no longer count.
	for i := 0; i < 6; i++ {
		if resp, _ := do(t, http.MethodGet, ts.URL+"/orgs/octo/actions/runners", testToken, nil); resp.StatusCode != 200 {
			t.Fatalf("GET %d: %d", i, resp.StatusCode)
		}
	}
	if resp, _ := do(t, http.MethodGet, ts.URL+"/orgs/octo/actions/runners", testToken, nil); resp.StatusCode != 403 {
		t.Fatalf("12th point: %d, want 403", resp.StatusCode)
	}
	clock.Step(30 * time.Second)
	for i := 0; i < 11; i++ {
		if resp, _ := do(t, http.MethodGet, ts.URL+"/orgs/octo/actions/runners", testToken, nil); resp.StatusCode != 200 {
			t.Fatalf("after the window, GET %d: %d", i, resp.StatusCode)
		}
	}

	sim.SetSecondaryPointsPerMinute(0)
	for i := 0; i < 20; i++ {
		if resp, _ := do(t, http.MethodGet, ts.URL+"/orgs/octo/actions/runners", testToken, nil); resp.StatusCode != 200 {
			t.Fatalf("limit disabled, GET %d: %d", i, resp.StatusCode)
		}
	}
}

func TestConditionalRequests(t *testing.T) {
	sim, ts := newSim(t, Options{})
	sim.AddRunner(testOrg, "", "r1")
	list := ts.URL + "/orgs/octo/actions/runners"

	resp, body := do(t, http.MethodGet, list, testToken, nil)
	tag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || tag == "" || tag[0] != '"' {
		t.Fatalf("first GET: %d ETag %q", resp.StatusCode, tag)
	}
	if again, _ := do(t, http.MethodGet, list, testToken, nil); again.Header.Get("ETag") != tag {
		t.Errorf("same body, different ETag: %q vs %q", again.Header.Get("ETag"), tag)
	}

	tests := []struct {
		name        string
		ifNoneMatch string
		wantStatus  int
	}{
		{"matching", tag, 304},
		{"weak form", "W/" + tag, 304},
		{"in a list", `"nope", ` + tag, 304},
		{"star", "*", 304},
		{"stale", `"stale"`, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := do(t, http.MethodGet, ts.URL+"/rate_limit", testToken, nil)
			resp, got := do(t, http.MethodGet, list, testToken, nil, "If-None-Match", tt.ifNoneMatch)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			used, _ := strconv.Atoi(before.Header.Get("X-RateLimit-Used"))
			if tt.wantStatus == 304 {
				if len(got) != 0 || resp.Header.Get("ETag") != tag {
					t.Errorf("304 with body %q ETag %q", got, resp.Header.Get("ETag"))
				}
				if resp.Header.Get("X-RateLimit-Used") != strconv.Itoa(used) {
					t.Errorf("304 used %s, want %d (not counted)", resp.Header.Get("X-RateLimit-Used"), used)
				}
			} else if resp.Header.Get("X-RateLimit-Used") != strconv.Itoa(used+1) {
				t.Errorf("200 used %s, want %d", resp.Header.Get("X-RateLimit-Used"), used+1)
			}
		})
	}

	sim.AddRunner(testOrg, "", "r2")
	resp, changed := do(t, http.MethodGet, list, testToken, nil, "If-None-Match", tag)
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == tag || string(changed) == string(body) {
		t.Errorf("after a change: %d ETag %q", resp.StatusCode, resp.Header.Get("ETag"))
	}
	if got := sim.CallsByStatus()[304]; got != 4 {
		t.Errorf("304s counted = %d, want 4", got)
	}
	if resp, _ := do(t, http.MethodGet, list+"/999", testToken, nil); resp.Header.Get("ETag") != "" {
		t.Error("a 404 carries an ETag")
	}
}

func TestRateLimitEndpoint(t *testing.T) {
	clock := newFakeClock()
	sim, ts := newSim(t, Options{Now: clock.Now, PrimaryLimit: 100})
	c := newClient(t, ts.URL, testToken)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, _, err := c.Actions.ListOrganizationRunners(ctx, testOrg, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		limits, resp, err := c.RateLimits(ctx)
		if err != nil {
			t.Fatal(err)
		}
		core := limits.GetCore()
		if core.Limit != 100 || core.Remaining != 97 || !core.Reset.Time.Equal(clock.Now().Add(time.Hour)) {
			t.Errorf("core = %+v, want 97 of 100 left", core)
		}
		if resp.Header.Get("X-RateLimit-Remaining") != "97" {
			t.Errorf("X-RateLimit-Remaining %q, want 97", resp.Header.Get("X-RateLimit-Remaining"))
		}
	}
	resp, body := do(t, http.MethodGet, ts.URL+"/rate_limit", "", nil)
	type rate struct {
		Rate struct{ Limit, Remaining int } `json:"rate"`
	}
	if r := decodeBody[rate](t, body); resp.StatusCode != 200 || r.Rate.Limit != 60 || r.Rate.Remaining != 60 {
		t.Errorf("unauthenticated /rate_limit = %d %s", resp.StatusCode, body)
	}
	if got := sim.Calls()["GET /rate_limit"]; got != 3 {
		t.Errorf("GET /rate_limit counted %d times, want 3", got)
	}
}

func TestSecondaryRateLimitAnswers(t *testing.T) {
	tests := []struct {
		name           string
		opts           Options
		wantStatus     int
		wantRetryAfter bool
	}{
		{name: "403 with Retry-After", opts: Options{}, wantStatus: 403, wantRetryAfter: true},
		{name: "429", opts: Options{SecondaryLimit429Share: 1}, wantStatus: 429, wantRetryAfter: true},
		{name: "no Retry-After", opts: Options{SecondaryNoRetryAfterRate: 1}, wantStatus: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.SecondaryPointsPerMinute = 1
			_, ts := newSim(t, tt.opts)
			list := ts.URL + "/orgs/octo/actions/runners"
			do(t, http.MethodGet, list, testToken, nil)
			resp, body := do(t, http.MethodGet, list, testToken, nil)
			e := decodeBody[errorBody](t, body)
			if resp.StatusCode != tt.wantStatus || !strings.HasPrefix(e.Message, secondaryLimitMessage) ||
				e.DocumentationURL != "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits" {
				t.Errorf("answer = %d %+v, want %d, a secondary-limit message and today's documentation_url", resp.StatusCode, e, tt.wantStatus)
			}
			if got := resp.Header.Get("Retry-After") != ""; got != tt.wantRetryAfter {
				t.Errorf("Retry-After present = %v, want %v", got, tt.wantRetryAfter)
			}
		})
	}
}

func TestPrimaryLimitStatus(t *testing.T) {
	for _, status := range []int{403, 429} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			_, ts := newSim(t, Options{PrimaryLimit: 1, PrimaryLimitStatus: status})
			list := ts.URL + "/orgs/octo/actions/runners"
			do(t, http.MethodGet, list, testToken, nil)
			resp, _ := do(t, http.MethodGet, list, testToken, nil)
			if resp.StatusCode != status || resp.Header.Get("X-RateLimit-Remaining") != "0" || resp.Header.Get("X-RateLimit-Reset") == "" {
				t.Errorf("over the limit: %d %v, want %d with none remaining", resp.StatusCode, rateHeaders(resp), status)
			}
			// The control API switches it.
			other := 403 + 429 - status
			control(t, ts.URL, "PUT", "/config", map[string]any{"primary_limit_status": other}, 200)
			if resp, _ := do(t, http.MethodGet, list, testToken, nil); resp.StatusCode != other {
				t.Errorf("after switching: %d, want %d", resp.StatusCode, other)
			}
			control(t, ts.URL, "PUT", "/config", map[string]any{"primary_limit_status": 500}, 400)
		})
	}
}

func TestETagsDifferPerToken(t *testing.T) {
	sim, ts := newSim(t, Options{})
	sim.AddToken("ghp_other")
	list := ts.URL + "/orgs/octo/actions/runners"
	first, _ := do(t, http.MethodGet, list, testToken, nil)
	tag := first.Header.Get("ETag")
	if resp, _ := do(t, http.MethodGet, list, testToken, nil, "If-None-Match", tag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("same token: %d, want 304", resp.StatusCode)
	}
	resp, _ := do(t, http.MethodGet, list, "ghp_other", nil, "If-None-Match", tag)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == tag {
		t.Errorf("other token with the first's ETag: %d ETag %s, want 200 and its own ETag", resp.StatusCode, resp.Header.Get("ETag"))
	}
}
