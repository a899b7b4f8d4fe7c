package github

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time       { return c.t }
func (c *fakeClock) Step(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock            { return &fakeClock{t: time.Unix(1_800_000_000, 0)} }
func retryAfterOf(t *testing.T, err error) time.Duration {
	t.Helper()
	d, ok := RetryAfter(err)
	if !ok {
		t.Fatalf("error = %v, want a *RetryAfterError", err)
	}
	return d
}

func rateHeaders(limit, remaining int, reset time.Time) *http.Response {
	h := http.Header{}
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	return &http.Response{StatusCode: http.StatusOK, Header: h}
}

func TestBudgetPacesWritesUnderTheSecondaryLimit(t *testing.T) {
	clock := newFakeClock()
	b := NewBudget(BudgetOptions{Now: clock.Now, MaxWait: -1}, nil)
	ctx := context.Background()

	// In any minute, at most 900 points: count what a caller that retries
	// exactly when told gets through in 10 minutes.
	var sent []time.Time
	end := clock.t.Add(10 * time.Minute)
	for clock.t.Before(end) {
		err := b.acquire(ctx, writePoints)
		if err == nil {
			sent = append(sent, clock.t)
			continue
		}
		clock.Step(retryAfterOf(t, err))
	}
	for i := range sent {
		points := 0
		for j := i; j < len(sent) && sent[j].Sub(sent[i]) < time.Minute; j++ {
			points += writePoints
		}
		if points > 900 {
			t.Fatalf("%d points in the minute from %s, over the secondary limit of 900", points, sent[i])
		}
	}
	perMinute := float64(len(sent)) / 10
	if perMinute < 0.95*180 {
		t.Errorf("Paced to %.1f writes per minute, want at least 95%% of 180", perMinute)
	}
}

func TestBudgetPrimaryLimit(t *testing.T) {
	clock := newFakeClock()
	b := NewBudget(BudgetOptions{Now: clock.Now, PrimaryReserve: 10}, nil)
	ctx := context.Background()
	reset := clock.t.Add(30 * time.Minute)

	b.observe(rateHeaders(5000, 11, reset))
	if err := b.acquire(ctx, readPoints); err != nil {
		t.Fatalf("acquire with 11 left and a reserve of 10: %v", err)
	}
	b.observe(rateHeaders(5000, 10, reset))
	if d := retryAfterOf(t, b.acquire(ctx, readPoints)); d != 30*time.Minute {
		t.Errorf("Retry after %s, want the 30m until reset", d)
	}
	clock.Step(30 * time.Minute)
	if err := b.acquire(ctx, readPoints); err != nil {
		t.Errorf("acquire after the reset: %v", err)
	}

	// A 403/429 "exhausted" answer blocks until the reset it names.
	if d := b.primaryExhausted("core", clock.t.Add(time.Minute)); d != time.Minute {
		t.Errorf("primaryExhausted wait = %s, want 1m", d)
	}
	if d := retryAfterOf(t, b.acquire(ctx, readPoints)); d != time.Minute {
		t.Errorf("Retry after %s, want 1m", d)
	}
}

func TestBudgetSecondaryLimit(t *testing.T) {
	clock := newFakeClock()
	b := NewBudget(BudgetOptions{Now: clock.Now}, nil)
	ctx := context.Background()

	if d := b.secondaryLimited(42*time.Second, time.Time{}); d != 42*time.Second {
		t.Errorf("wait with Retry-After 42s = %s", d)
	}
	if d := retryAfterOf(t, b.acquire(ctx, readPoints)); d != 42*time.Second {
		t.Errorf("Retry after %s, want 42s", d)
	}
	clock.Step(42 * time.Second)
	if err := b.acquire(ctx, readPoints); err != nil {
		t.Errorf("acquire after Retry-After: %v", err)
	}
	b.observe(rateHeaders(5000, 4000, clock.t.Add(time.Hour))) // that request succeeded

	// Without Retry-After: one minute, then doubling, with at most 25% jitter.
	first := b.secondaryLimited(0, time.Time{})
	if first < time.Minute || first > 75*time.Second {
		t.Errorf("first backoff = %s, want 1m..1m15s", first)
	}
	clock.Step(first)
	second := b.secondaryLimited(0, time.Time{})
	if second < 2*time.Minute || second > 150*time.Second {
		t.Errorf("second backoff = %s, want 2m..2m30s", second)
	}
	clock.Step(second)
	b.observe(rateHeaders(5000, 4000, clock.t.Add(time.Hour))) // a success ends the streak
	if third := b.secondaryLimited(0, time.Time{}); third > 75*time.Second {
		t.Errorf("backoff after a success = %s, want it back at 1m", third)
	}
}

func TestBudgetWaitsShortPacingInLine(t *testing.T) {
	b := NewBudget(BudgetOptions{SecondaryPointsPerMinute: 600, Burst: 5, MaxWait: time.Second}, nil)
	ctx := context.Background()
	// 600*0.97 points/min = 9.7/s: after the burst a write waits ~0.5s,
	// under MaxWait, so it is not refused.
	start := time.Now()
	for range 2 {
		if err := b.acquire(ctx, writePoints); err != nil {
			t.Fatalf("acquire: %v", err)
		}
	}
	if waited := time.Since(start); waited < 400*time.Millisecond {
		t.Errorf("second write went after %s, want it paced", waited)
	}
	// A cancelled context gives its error and returns the points.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.acquire(cctx, writePoints); err != context.Canceled {
		t.Errorf("acquire with a cancelled context = %v, want context.Canceled", err)
	}
}

// Answers to requests already on their way when a wait began are the same
// strike: the wait does not double for each of them.
func TestBudgetSecondaryLimitInFlightAnswers(t *testing.T) {
	clock := newFakeClock()
	b := NewBudget(BudgetOptions{Now: clock.Now}, nil)
	first := b.secondaryLimited(0, time.Time{})
	for i := range 4 {
		clock.Step(10 * time.Millisecond)
		if d := b.secondaryLimited(0, time.Time{}); d > 75*time.Second {
			t.Fatalf("in-flight answer %d: wait %s, want at most 1m15s like the first (%s)", i+1, d, first)
		}
	}
	clock.Step(75 * time.Second)
	if d := b.secondaryLimited(0, time.Time{}); d < 2*time.Minute || d > 150*time.Second {
		t.Errorf("a refusal after the wait: %s, want 2m..2m30s (the second strike)", d)
	}
}

// A request that waited its turn under the pacing is not sent when GitHub
// said wait in the meantime.
func TestBudgetPacedRequestChecksTheWaitAgain(t *testing.T) {
	b := NewBudget(BudgetOptions{SecondaryPointsPerMinute: 600, MaxWait: time.Minute}, nil)
	ctx := context.Background()
	// Use up the burst, so the next request waits its turn.
	for b.limiter.Tokens() >= writePoints {
		if err := b.acquire(ctx, writePoints); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- b.acquire(ctx, writePoints) }()
	time.Sleep(50 * time.Millisecond)
	b.secondaryLimited(time.Hour, time.Time{})
	if _, ok := RetryAfter(<-done); !ok {
		t.Error("A paced request went out during GitHub's Retry-After")
	}
}
