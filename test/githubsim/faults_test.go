package githubsim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v50/github"
)

func TestServerErrors(t *testing.T) {
	sim, ts := newSim(t, Options{ServerErrorRate: 1})
	c := newClient(t, ts.URL, testToken)

	for i := 0; i < 20; i++ {
		_, resp, err := generateJIT(t, c, "orgs/"+testOrg, jitRequest{Name: "r", RunnerGroupID: 1, Labels: []string{"x"}})
		var er *github.ErrorResponse
		if !errors.As(err, &er) || (resp.StatusCode != 502 && resp.StatusCode != 503) || er.Message == "" {
			t.Fatalf("err = %v, want a 502 or 503 with a message", err)
		}
	}
	if n := len(sim.Runners()); n != 0 {
		t.Errorf("failed calls registered %d runners", n)
	}
	byStatus := sim.CallsByStatus()
	if byStatus[502]+byStatus[503] != 20 || sim.Calls()["POST /orgs/{org}/actions/runners/generate-jitconfig"] != 20 {
		t.Errorf("counters: %v %v", byStatus, sim.Calls())
	}

	sim.SetServerErrorRate(0)
	_, resp, err := generateJIT(t, c, "orgs/"+testOrg, jitRequest{Name: "r", RunnerGroupID: 1, Labels: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("X-RateLimit-Used") != "1" {
		t.Errorf("used %s after 20 server errors, want 1: errors cost nothing", resp.Header.Get("X-RateLimit-Used"))
	}

	sim.SetServerErrorRate(0.5)
	sim.ResetCalls()
	for i := 0; i < 200; i++ {
		do(t, http.MethodGet, ts.URL+"/orgs/octo/actions/runners", testToken, nil)
	}
	byStatus = sim.CallsByStatus()
	if byStatus[200] < 60 || byStatus[200] > 140 || byStatus[502] == 0 || byStatus[503] == 0 {
		t.Errorf("with rate 0.5: %v", byStatus)
	}
}

func TestLatency(t *testing.T) {
	sim, ts := newSim(t, Options{Latency: 100 * time.Millisecond})
	start := time.Now()
	if resp, _ := do(t, http.MethodGet, ts.URL+"/orgs/octo/actions/runners", testToken, nil); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("answered in %v, want at least 100ms", d)
	}

	// A client that gives up is not kept waiting, and its call changes nothing.
	sim.SetLatency(time.Minute)
	c := newClient(t, ts.URL, testToken)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, _, err := generateJITCtx(ctx, c, jitRequest{Name: "r", RunnerGroupID: 1, Labels: []string{"x"}})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Errorf("err = %v after %v, want the deadline", err, time.Since(start))
	}
	eventually(t, "the abandoned call to be counted", func() bool { return sim.CallsByStatus()[statusClientClosedRequest] == 1 })
	if n := len(sim.Runners()); n != 0 {
		t.Errorf("an abandoned call registered %d runners", n)
	}
}

func generateJITCtx(ctx context.Context, c *github.Client, body jitRequest) (*jitResponse, *github.Response, error) {
	req, err := c.NewRequest(http.MethodPost, "orgs/"+testOrg+"/actions/runners/generate-jitconfig", body)
	if err != nil {
		return nil, nil, err
	}
	out := new(jitResponse)
	resp, err := c.Do(ctx, req, out)
	return out, resp, err
}

func TestInjectedFaults(t *testing.T) {
	const calls = 3
	tests := []struct {
		name  string
		opts  Options
		token string // "" means testToken
		// clientTimeout is how long the client waits; 0 means until answered.
		clientTimeout  time.Duration
		wantStatus     int
		wantMessage    string
		wantRetryAfter string
	}{
		{
			name:       "rates of 0 change nothing",
			opts:       Options{TooManyRequestsRetryAfter: time.Minute, TimeoutAfter: time.Millisecond},
			wantStatus: http.StatusCreated,
		},
		{
			name:           "429",
			opts:           Options{TooManyRequestsRate: 1},
			wantStatus:     http.StatusTooManyRequests,
			wantMessage:    secondaryLimitMessage,
			wantRetryAfter: "1",
		},
		{
			name:           "429 with a longer Retry-After",
			opts:           Options{TooManyRequestsRate: 1, TooManyRequestsRetryAfter: 90 * time.Second},
			wantStatus:     http.StatusTooManyRequests,
			wantMessage:    secondaryLimitMessage,
			wantRetryAfter: "90",
		},
		{
			name:           "429 Retry-After rounded up",
			opts:           Options{TooManyRequestsRate: 1, TooManyRequestsRetryAfter: 1500 * time.Millisecond},
			wantStatus:     http.StatusTooManyRequests,
			wantMessage:    secondaryLimitMessage,
			wantRetryAfter: "2",
		},
		{
			name:           "429 before authentication",
			opts:           Options{TooManyRequestsRate: 1},
			token:          "nope",
			wantStatus:     http.StatusTooManyRequests,
			wantMessage:    secondaryLimitMessage,
			wantRetryAfter: "1",
		},
		{
			name:        "timeout",
			opts:        Options{TimeoutRate: 1, TimeoutAfter: 50 * time.Millisecond},
			wantStatus:  http.StatusGatewayTimeout,
			wantMessage: timeoutMessage,
		},
		{
			name:        "timeout before authentication",
			opts:        Options{TimeoutRate: 1, TimeoutAfter: 50 * time.Millisecond},
			token:       "nope",
			wantStatus:  http.StatusGatewayTimeout,
			wantMessage: timeoutMessage,
		},
		{
			name:          "timeout, the client gives up",
			opts:          Options{TimeoutRate: 1},
			clientTimeout: 50 * time.Millisecond,
			wantStatus:    statusClientClosedRequest,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, ts := newSim(t, tt.opts)
			token := tt.token
			if token == "" {
				token = testToken
			}
			c := newClient(t, ts.URL, token)
			for i := range calls {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if tt.clientTimeout > 0 {
					ctx, cancel = context.WithTimeout(ctx, tt.clientTimeout)
				}
				start := time.Now()
				_, resp, err := generateJITCtx(ctx, c, jitRequest{Name: fmt.Sprintf("r%d", i), RunnerGroupID: 1, Labels: []string{"x"}})
				cancel()
				if tt.wantStatus == statusClientClosedRequest {
					if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
						t.Fatalf("call %d: err = %v after %v, want the deadline", i, err, time.Since(start))
					}
					continue
				}
				if resp == nil || resp.StatusCode != tt.wantStatus {
					t.Fatalf("call %d: err = %v, want status %d", i, err, tt.wantStatus)
				}
				var er *github.ErrorResponse
				if tt.wantMessage != "" && (!errors.As(err, &er) || !strings.HasPrefix(er.Message, tt.wantMessage)) {
					t.Errorf("call %d: err = %v, want message %q", i, err, tt.wantMessage)
				}
				if got := resp.Header.Get("Retry-After"); got != tt.wantRetryAfter {
					t.Errorf("call %d: Retry-After %q, want %q", i, got, tt.wantRetryAfter)
				}
				if tt.opts.TimeoutRate > 0 && time.Since(start) < tt.opts.TimeoutAfter {
					t.Errorf("call %d: answered after %v, want at least %v", i, time.Since(start), tt.opts.TimeoutAfter)
				}
				if faulted := tt.wantStatus != http.StatusCreated; faulted && resp.Header.Get("X-RateLimit-Used") != "" {
					t.Errorf("call %d: X-RateLimit-Used %q on an injected fault", i, resp.Header.Get("X-RateLimit-Used"))
				}
			}

			eventually(t, "the calls to be counted", func() bool { return sim.CallsByStatus()[tt.wantStatus] == calls })
			if got := sim.Calls()["POST /orgs/{org}/actions/runners/generate-jitconfig"]; got != calls {
				t.Errorf("calls counted = %d, want %d", got, calls)
			}
			wantRunners, wantUsed := 0, "1"
			if tt.wantStatus == http.StatusCreated {
				wantRunners, wantUsed = calls, strconv.Itoa(calls+1)
			}
			if n := len(sim.Runners()); n != wantRunners {
				t.Errorf("%d runners registered, want %d", n, wantRunners)
			}

			// Faults cost nothing, and a rate of 0 stops them.
			sim.SetTooManyRequestsRate(0)
			sim.SetTimeoutRate(0)
			_, resp, err := generateJIT(t, newClient(t, ts.URL, testToken), "orgs/"+testOrg, jitRequest{Name: "last", RunnerGroupID: 1, Labels: []string{"x"}})
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Header.Get("X-RateLimit-Used"); got != wantUsed {
				t.Errorf("used %s after the faults, want %s", got, wantUsed)
			}
		})
	}
}

// TestFaultRates: a rate between 0 and 1 faults about that fraction of calls.
func TestFaultRates(t *testing.T) {
	tests := []struct {
		name       string
		set        func(*Server, float64)
		wantStatus int
	}{
		{"502 or 503", (*Server).SetServerErrorRate, http.StatusBadGateway},
		{"429", (*Server).SetTooManyRequestsRate, http.StatusTooManyRequests},
		{"timeout", (*Server).SetTimeoutRate, http.StatusGatewayTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, ts := newSim(t, Options{TimeoutAfter: time.Millisecond})
			tt.set(sim, 0.5)
			for range 200 {
				do(t, http.MethodGet, ts.URL+"/orgs/octo/actions/runners", testToken, nil)
			}
			byStatus := sim.CallsByStatus()
			faults := byStatus[tt.wantStatus]
			if tt.wantStatus == http.StatusBadGateway {
				faults += byStatus[http.StatusServiceUnavailable]
			}
			if byStatus[200] < 60 || byStatus[200] > 140 || byStatus[200]+faults != 200 {
				t.Errorf("with rate 0.5: %v", byStatus)
			}
		})
	}
}

func TestExhaustPrimaryLimit(t *testing.T) {
	clock := newFakeClock()
	sim, ts := newSim(t, Options{Now: clock.Now, PrimaryLimit: 100})
	sim.AddToken("idle") // user ID 2, no call yet
	list := ts.URL + "/orgs/octo/actions/runners"
	if resp, _ := do(t, http.MethodGet, list, testToken, nil); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	windowStart := clock.Now()
	clock.Step(10 * time.Minute)
	sim.ExhaustPrimaryLimit()

	tests := []struct {
		name      string
		token     string
		whom      string
		wantReset time.Time
	}{
		{"token in a window keeps its reset", testToken, "user ID 1", windowStart.Add(time.Hour)},
		{"idle token starts a window", "idle", "user ID 2", clock.Now().Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, http.MethodPost, list+"/generate-jitconfig", tt.token,
				jitRequest{Name: "r", RunnerGroupID: 1, Labels: []string{"x"}})
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403", resp.StatusCode)
			}
			want := errorBody{Message: "API rate limit exceeded for " + tt.whom + ".", DocumentationURL: docsRateLimit}
			if diff := cmp.Diff(want, decodeBody[errorBody](t, body)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantRate(100, 100, tt.wantReset), rateHeaders(resp)); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
			_, _, err := newClient(t, ts.URL, tt.token).Actions.ListOrganizationRunners(context.Background(), testOrg, nil)
			var rle *github.RateLimitError
			if !errors.As(err, &rle) || rle.Rate.Remaining != 0 || !rle.Rate.Reset.Time.Equal(tt.wantReset) {
				t.Errorf("go-github error = %#v, want RateLimitError resetting at %v", err, tt.wantReset)
			}
			limits, _, err := newClient(t, ts.URL, tt.token).RateLimits(context.Background())
			if err != nil || limits.GetCore().Remaining != 0 {
				t.Errorf("/rate_limit core = %+v (%v), want none remaining", limits.GetCore(), err)
			}
		})
	}
	if n := len(sim.Runners()); n != 0 {
		t.Errorf("refused calls registered %d runners", n)
	}

	// Each token gets its limit back when its window ends.
	clock.Step(50 * time.Minute)
	if resp, _ := do(t, http.MethodGet, list, testToken, nil); resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Remaining") != "99" {
		t.Errorf("after the window: %d remaining %s, want 200 remaining 99", resp.StatusCode, resp.Header.Get("X-RateLimit-Remaining"))
	}
	if resp, _ := do(t, http.MethodGet, list, "idle", nil); resp.StatusCode != 403 {
		t.Errorf("idle token before its window ends: %d, want 403", resp.StatusCode)
	}
	clock.Step(10 * time.Minute)
	if resp, _ := do(t, http.MethodGet, list, "idle", nil); resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Remaining") != "99" {
		t.Errorf("idle token after its window: %d remaining %s, want 200 remaining 99", resp.StatusCode, resp.Header.Get("X-RateLimit-Remaining"))
	}
}
