package github

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// answer is what this package reads of a GitHub error response.
type answer struct {
	status  int
	header  http.Header
	message string
	docURL  string // the body's documentation_url
}

// rateLimit is what GitHub's answer says about its rate limits.
type rateLimit struct {
	// secondary is true for a secondary limit, false for the primary one.
	secondary bool
	// retryAfter is the Retry-After header; zero when absent.
	retryAfter time.Duration
	// reset is X-RateLimit-Reset when X-RateLimit-Remaining is 0; zero
	// otherwise.
	reset time.Time
}

// rateLimitOf tells whether a answers that a rate limit was exceeded, and
// which, by the rules of github/docs
// content/rest/using-the-rest-api/rate-limits-for-the-rest-api.md
// ("Exceeding the rate limit"):
//
//   - the primary limit answers 403 or 429 with x-ratelimit-remaining 0:
//     wait until x-ratelimit-reset;
//   - a secondary limit answers 403 or 429 "and an error message that
//     indicates that you exceeded a secondary rate limit": wait Retry-After
//     when present, else until x-ratelimit-reset when remaining is 0, else at
//     least a minute, exponentially longer on repeats (the budget does that).
//
// A secondary limit is recognised by its documentation_url, which ends
// "#about-secondary-rate-limits" today and "#secondary-rate-limits" or
// "#abuse-rate-limits" in older answers (go-github v50 knows only the older
// ones; go-github PR #3001 matches the suffix "secondary-rate-limits"), or
// by its message ("You have exceeded a secondary rate limit"). A 429 is
// always a rate limit, and so is a 403 with Retry-After; any other 403
// (e.g. "Resource not accessible by integration") is not.
func rateLimitOf(a answer) (rateLimit, bool) {
	if a.status != http.StatusForbidden && a.status != http.StatusTooManyRequests {
		return rateLimit{}, false
	}
	var rl rateLimit
	rl.retryAfter = parseRetryAfter(a.header.Get("Retry-After"))
	exhausted := a.header.Get("X-RateLimit-Remaining") == "0"
	if exhausted {
		if reset, err := strconv.ParseInt(a.header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			rl.reset = time.Unix(reset, 0)
		}
	}
	doc := strings.ToLower(a.docURL)
	rl.secondary = strings.HasSuffix(doc, "secondary-rate-limits") || strings.HasSuffix(doc, "#abuse-rate-limits") ||
		strings.Contains(strings.ToLower(a.message), "secondary rate limit")
	switch {
	case rl.secondary:
		return rl, true
	case exhausted:
		return rl, true
	case a.status == http.StatusTooManyRequests || rl.retryAfter > 0:
		rl.secondary = true
		return rl, true
	}
	return rateLimit{}, false
}

// parseRetryAfter reads a Retry-After header: seconds (what GitHub sends) or
// an HTTP date (RFC 9110, section 10.2.3). Zero when absent or invalid.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
