package github_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/octorun/octorun/pkg/github"
)

// cannedGitHub answers every request with the status, headers and body of
// the test, and counts the requests that reached it.
type cannedGitHub struct {
	status int
	header map[string]string
	body   string
	calls  atomic.Int32
}

func (g *cannedGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.calls.Add(1)
	for k, v := range g.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(g.status)
	_, _ = w.Write([]byte(g.body))
}

func newCannedClient(t *testing.T, g http.Handler, mutate ...func(*github.Options)) *github.Client {
	t.Helper()
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return newClient(t, srv, append([]func(*github.Options){func(o *github.Options) { o.Retries = -1 }}, mutate...)...)
}

func TestErrorsOf422(t *testing.T) {
	register := func(c *github.Client) error {
		_, err := c.GenerateJITConfig(context.Background(), orgScope, github.JITConfigRequest{Name: "r", Labels: []string{"x"}})
		return err
	}
	deleteRunner := func(c *github.Client) error { return c.DeleteRunner(context.Background(), orgScope, 42) }
	tests := []struct {
		name        string
		call        func(*github.Client) error
		body        string
		want        error
		notWant     error
		wantMessage string
	}{
		{name: "JIT endpoint spammed", call: register,
			body: `{"message":"Validation failed, or the endpoint has been spammed.","documentation_url":"https://docs.github.com/rest/actions/self-hosted-runners#create-configuration-for-a-just-in-time-runner-for-an-organization"}`,
			want: github.ErrEndpointSpammed, notWant: github.ErrInvalidRequest,
			wantMessage: "Validation failed, or the endpoint has been spammed."},
		{name: "JIT validation failed with details", call: register,
			body: `{"message":"Validation Failed","errors":[{"resource":"Runner","field":"labels","code":"invalid"},{"code":"custom","message":"Label 'x y' is not valid"}]}`,
			want: github.ErrInvalidRequest, notWant: github.ErrEndpointSpammed,
			wantMessage: "Validation Failed (Runner.labels invalid; Label 'x y' is not valid)"},
		{name: "JIT validation failed with string errors", call: register,
			body: `{"message":"Invalid request.","errors":["runner_group_id is not a number"]}`,
			want: github.ErrInvalidRequest, wantMessage: "Invalid request. (runner_group_id is not a number)"},
		{name: "DELETE of a busy runner", call: deleteRunner,
			body: `{"message":"Bad request - Runner \"octorun-1\" is still running a job\"","documentation_url":"https://docs.github.com/rest/actions/self-hosted-runners#delete-a-self-hosted-runner-from-an-organization"}`,
			want: github.ErrRunnerBusy, notWant: github.ErrInvalidRequest,
			wantMessage: `Bad request - Runner "octorun-1" is still running a job"`},
		{name: "DELETE refused otherwise", call: deleteRunner,
			body: `{"message":"Bad request - Runner \"octorun-1\" is being updated"}`,
			want: github.ErrInvalidRequest, notWant: github.ErrRunnerBusy,
			wantMessage: `Bad request - Runner "octorun-1" is being updated`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &cannedGitHub{status: http.StatusUnprocessableEntity, body: tt.body}
			err := tt.call(newCannedClient(t, g))
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if tt.notWant != nil && errors.Is(err, tt.notWant) {
				t.Errorf("error = %v, is %v too", err, tt.notWant)
			}
			if got := github.Message(err); got != tt.wantMessage {
				t.Errorf("Message(err) = %q, want %q", got, tt.wantMessage)
			}
			if _, ok := github.RetryAfter(err); ok {
				t.Errorf("error = %v is a *RetryAfterError", err)
			}
		})
	}
	if got := github.Message(errors.New("no answer")); got != "" {
		t.Errorf("Message of a plain error = %q, want empty", got)
	}
}

func TestRateLimitAnswers(t *testing.T) {
	const secondaryBody = `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",` +
		`"documentation_url":"https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		wantReason string
		wantMin    time.Duration
		wantMax    time.Duration
	}{
		{name: "secondary 403 without Retry-After", status: 403, body: secondaryBody,
			wantReason: "secondary rate limit", wantMin: time.Minute, wantMax: 75 * time.Second},
		{name: "secondary 429 without Retry-After", status: 429, body: secondaryBody,
			wantReason: "secondary rate limit", wantMin: time.Minute, wantMax: 75 * time.Second},
		{name: "secondary 429 with Retry-After", status: 429, header: map[string]string{"Retry-After": "17"}, body: secondaryBody,
			wantReason: "secondary rate limit", wantMin: 17 * time.Second, wantMax: 17 * time.Second},
		{name: "secondary by message, no documentation_url", status: 403,
			body:       `{"message":"You have exceeded a secondary rate limit and have been temporarily blocked from content creation."}`,
			wantReason: "secondary rate limit", wantMin: time.Minute, wantMax: 75 * time.Second},
		{name: "secondary with remaining 0 waits for the reset", status: 403,
			header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Limit": "5000", "X-RateLimit-Reset": "1800000300"}, body: secondaryBody,
			wantReason: "secondary rate limit", wantMin: 5 * time.Minute, wantMax: 5 * time.Minute},
		{name: "primary 429", status: 429,
			header:     map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Limit": "5000", "X-RateLimit-Reset": "1800000600"},
			body:       `{"message":"API rate limit exceeded for installation ID 1."}`,
			wantReason: "primary rate limit", wantMin: 10 * time.Minute, wantMax: 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &cannedGitHub{status: tt.status, header: tt.header, body: tt.body}
			clock := &atomicClock{}
			clock.Set(time.Unix(1_800_000_000, 0))
			c := newCannedClient(t, g, func(o *github.Options) { o.Budget.Now = clock.Now })
			ctx := context.Background()

			_, err := c.GetRunner(ctx, orgScope, 1)
			var ra *github.RetryAfterError
			if !errors.As(err, &ra) || ra.Reason != tt.wantReason || ra.After < tt.wantMin || ra.After > tt.wantMax {
				t.Fatalf("error = %v, want a %s wait of %s..%s", err, tt.wantReason, tt.wantMin, tt.wantMax)
			}

			// Every later call of the credential waits too, whatever the
			// operation and scope, until the wait is over.
			var wg sync.WaitGroup
			for _, call := range []func() error{
				func() error { _, err := c.GetRunner(ctx, orgScope, 2); return err },
				func() error { _, err := c.ListRunners(ctx, repoScope); return err },
				func() error { return c.DeleteRunner(ctx, repoScope, 3) },
				func() error {
					_, err := c.GenerateJITConfig(ctx, orgScope, github.JITConfigRequest{Name: "r", Labels: []string{"x"}})
					return err
				},
			} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if d, ok := github.RetryAfter(call()); !ok || d <= 0 || d > ra.After {
						t.Errorf("later call: wait %s (%t), want one up to %s", d, ok, ra.After)
					}
				}()
			}
			wg.Wait()
			clock.Add(ra.After - time.Second)
			if _, ok := github.RetryAfter(func() error { _, err := c.GetRunner(ctx, orgScope, 4); return err }()); !ok {
				t.Error("A call a second before the wait ends was not refused")
			}
			if got := g.calls.Load(); got != 1 {
				t.Fatalf("%d requests reached GitHub during the wait, want only the first", got)
			}
			if tt.header["X-RateLimit-Remaining"] == "0" {
				return // go-github keeps its own record of the reset, by the real clock
			}
			clock.Add(time.Second)
			g.status, g.header, g.body = http.StatusOK, nil, `{"id":5,"name":"r"}`
			if _, err := c.GetRunner(ctx, orgScope, 5); err != nil {
				t.Errorf("GetRunner after the wait: %v", err)
			}
		})
	}
}

// TestSecondaryLimitBacksOffExponentially: a secondary limit without
// Retry-After in a row doubles the wait, from at least a minute.
func TestSecondaryLimitBacksOffExponentially(t *testing.T) {
	g := &cannedGitHub{status: http.StatusForbidden,
		body: `{"message":"You have exceeded a secondary rate limit.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`}
	clock := &atomicClock{}
	clock.Set(time.Unix(1_800_000_000, 0))
	c := newCannedClient(t, g, func(o *github.Options) { o.Budget.Now = clock.Now })
	var last time.Duration
	for i, min := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute} {
		_, err := c.ListRunners(context.Background(), orgScope)
		d, ok := github.RetryAfter(err)
		if !ok || d < min || d > min*5/4 || d <= last {
			t.Fatalf("secondary limit %d: wait %s (%v), want %s..%s", i+1, d, err, min, min*5/4)
		}
		last = d
		clock.Add(d)
	}
	if !strings.Contains(g.body, "secondary") || g.calls.Load() != 4 {
		t.Errorf("%d requests reached GitHub, want 4", g.calls.Load())
	}
}
