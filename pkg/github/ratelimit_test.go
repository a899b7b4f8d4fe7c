package github

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRateLimitOf(t *testing.T) {
	reset := time.Unix(1_800_000_000, 0)
	const (
		aboutSecondary = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits"
		oldSecondary   = "https://docs.github.com/rest/overview/resources-in-the-rest-api#secondary-rate-limits"
		abuse          = "https://developer.github.com/v3/#abuse-rate-limits"
		primaryDoc     = "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"
		secondaryMsg   = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
	)
	headers := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	exhausted := headers("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1800000000")
	tests := []struct {
		name   string
		answer answer
		want   rateLimit
		wantOK bool
	}{
		{name: "secondary 403, today's documentation_url, no Retry-After",
			answer: answer{status: 403, header: headers(), message: secondaryMsg, docURL: aboutSecondary},
			want:   rateLimit{secondary: true}, wantOK: true},
		{name: "secondary 429, today's documentation_url, Retry-After",
			answer: answer{status: 429, header: headers("Retry-After", "30"), message: secondaryMsg, docURL: aboutSecondary},
			want:   rateLimit{secondary: true, retryAfter: 30 * time.Second}, wantOK: true},
		{name: "secondary 403, old documentation_url, Retry-After",
			answer: answer{status: 403, header: headers("Retry-After", "60"), docURL: oldSecondary},
			want:   rateLimit{secondary: true, retryAfter: time.Minute}, wantOK: true},
		{name: "secondary 403, abuse documentation_url",
			answer: answer{status: 403, header: headers(), docURL: abuse},
			want:   rateLimit{secondary: true}, wantOK: true},
		{name: "secondary by message only",
			answer: answer{status: 403, header: headers(), message: secondaryMsg},
			want:   rateLimit{secondary: true}, wantOK: true},
		{name: "secondary 429 by message only",
			answer: answer{status: 429, header: headers(), message: secondaryMsg},
			want:   rateLimit{secondary: true}, wantOK: true},
		{name: "secondary with remaining 0 waits for the reset",
			answer: answer{status: 403, header: exhausted, message: secondaryMsg, docURL: aboutSecondary},
			want:   rateLimit{secondary: true, reset: reset}, wantOK: true},
		{name: "primary 403",
			answer: answer{status: 403, header: exhausted, message: "API rate limit exceeded for user ID 1.", docURL: primaryDoc},
			want:   rateLimit{reset: reset}, wantOK: true},
		{name: "primary 429",
			answer: answer{status: 429, header: exhausted, message: "API rate limit exceeded"},
			want:   rateLimit{reset: reset}, wantOK: true},
		{name: "bare 429 is a secondary limit",
			answer: answer{status: 429, header: headers()},
			want:   rateLimit{secondary: true}, wantOK: true},
		{name: "403 with Retry-After is a secondary limit",
			answer: answer{status: 403, header: headers("Retry-After", "5")},
			want:   rateLimit{secondary: true, retryAfter: 5 * time.Second}, wantOK: true},
		{name: "Retry-After as an HTTP date in the past",
			answer: answer{status: 429, header: headers("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"), docURL: aboutSecondary},
			want:   rateLimit{secondary: true}, wantOK: true},
		{name: "documentation_url in capitals",
			answer: answer{status: 403, header: headers(), docURL: "https://docs.github.com/REST#About-Secondary-Rate-Limits"},
			want:   rateLimit{secondary: true}, wantOK: true},
		{name: "403 not accessible by integration",
			answer: answer{status: 403, header: headers("X-RateLimit-Remaining", "4999"), message: "Resource not accessible by integration"}},
		{name: "403 forbidden",
			answer: answer{status: 403, header: headers(), message: "Must have admin rights to Repository."}},
		{name: "422 mentioning a secondary rate limit",
			answer: answer{status: 422, header: headers(), message: secondaryMsg, docURL: aboutSecondary}},
		{name: "404 with remaining 0",
			answer: answer{status: 404, header: exhausted}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := rateLimitOf(tt.answer)
			if ok != tt.wantOK {
				t.Fatalf("rateLimitOf ok = %t, want %t", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(rateLimit{})); diff != "" {
				t.Errorf("rateLimitOf (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBudgetSecondaryLimitUntilReset(t *testing.T) {
	clock := newFakeClock()
	b := NewBudget(BudgetOptions{Now: clock.Now}, nil)
	if d := b.secondaryLimited(0, clock.t.Add(3*time.Minute)); d != 3*time.Minute {
		t.Errorf("wait with x-ratelimit-reset in 3m = %s, want 3m", d)
	}
	// A reset in the past is no wait: at least a minute then.
	b = NewBudget(BudgetOptions{Now: clock.Now}, nil)
	if d := b.secondaryLimited(0, clock.t.Add(-time.Second)); d < time.Minute {
		t.Errorf("wait with a past reset = %s, want at least 1m", d)
	}
}
