package githubsim

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

const (
	defaultPrimaryLimit = 5000
	// unauthenticatedLimit is GitHub's primary limit per IP address.
	unauthenticatedLimit = 60
	secondaryWindow      = time.Minute
)

// bucket is one token's (or installation's) rate-limit state.
type bucket struct {
	// used counts the calls in the primary window that ends at reset; the
	// window starts with the first call after the previous one ended.
	used  int
	reset time.Time
	// spent holds the secondary points of the last minute.
	spent []spend
	// blockedUntil is when a token that exceeded the secondary limit may
	// call again.
	blockedUntil time.Time
}

type spend struct {
	at     time.Time
	points int
}

func (s *Server) primaryLimitLocked() int {
	if s.primaryLimit <= 0 {
		return defaultPrimaryLimit
	}
	return s.primaryLimit
}

// bucketLocked returns the bucket of a key with its primary window current.
func (s *Server) bucketLocked(key string, now time.Time) *bucket {
	b, ok := s.limits[key]
	if !ok {
		b = &bucket{}
		s.limits[key] = b
	}
	if !now.Before(b.reset) {
		b.used = 0
		// X-RateLimit-Reset is in whole seconds: end the window on one, so
		// a client that waits until the reset it was told finds it over.
		b.reset = now.Add(s.primaryWindow).Truncate(time.Second)
		if b.reset.Before(now.Add(s.primaryWindow)) {
			b.reset = b.reset.Add(time.Second)
		}
	}
	return b
}

// secondaryLimitMessage begins GitHub's answer to a call over a secondary
// limit; GitHub goes on with "If you reach out to GitHub Support for help,
// please include the request ID …".
const secondaryLimitMessage = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."

// secondaryLimited answers a call over a secondary limit as GitHub does
// (github/docs content/rest/using-the-rest-api/rate-limits-for-the-rest-api.md,
// "Exceeding the rate limit"): status 403 or 429, a message saying a
// secondary rate limit was exceeded, and a Retry-After header that may be
// absent (then the client should wait at least a minute). The caller holds
// s.mu.
func (s *Server) secondaryLimitedLocked(c *call, status int, retryAfter time.Duration) {
	if !chance(s.secondaryNoRetryAfterRate) {
		c.header.Set("Retry-After", retryAfterSeconds(retryAfter))
	}
	docs := docsSecondary
	if s.legacySecondaryDocs {
		docs = docsSecondaryLegacy
	}
	c.requestID = requestID()
	c.error(status, secondaryLimitMessage+" If you reach out to GitHub Support for help, please include the request ID "+c.requestID+".", docs)
}

// secondaryStatusLocked is the status of a secondary-limit answer: 429 for
// a share of them (Options.SecondaryLimit429Share), else 403.
func (s *Server) secondaryStatusLocked() int {
	if chance(s.secondary429Share) {
		return http.StatusTooManyRequests
	}
	return http.StatusForbidden
}

// retryAfterSeconds renders a wait as Retry-After: whole seconds, rounded up.
func retryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

// points is what a request costs against the secondary limit.
func points(method string) int {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return 1
	}
	return 5
}

// admit applies the primary and the secondary rate limit to an authenticated
// call before it runs. A call refused by either is answered here (403, or
// 429 as configured: GitHub answers either), costs nothing and changes
// nothing. An admitted call takes one unit of the
// primary limit (given back by settle if it ends in a 304) and its points.
func (s *Server) admit(c *call) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	b := s.bucketLocked(c.principal.limitKey, now)
	limit := s.primaryLimitLocked()
	if b.used >= limit {
		// "If you exceed your primary rate limit, you will receive a 403 or
		// 429 response, and the x-ratelimit-remaining header will be 0"
		// (rate-limits-for-the-rest-api.md).
		s.rateHeadersLocked(c, b)
		c.error(s.primaryStatusLocked(), fmt.Sprintf("API rate limit exceeded for %s.", c.principal.limitedWhom), docsRateLimit)
		return false
	}
	if ppm := s.secondaryPPM; ppm > 0 {
		cost := points(c.r.Method)
		kept := b.spent[:0]
		sum := 0
		for _, sp := range b.spent {
			if now.Sub(sp.at) < secondaryWindow {
				kept = append(kept, sp)
				sum += sp.points
			}
		}
		b.spent = kept
		if !now.Before(b.blockedUntil) && sum+cost > ppm {
			b.blockedUntil = now.Add(s.retryAfter)
			b.spent = nil
		}
		if now.Before(b.blockedUntil) {
			s.rateHeadersLocked(c, b)
			s.secondaryLimitedLocked(c, s.secondaryStatusLocked(), b.blockedUntil.Sub(now))
			return false
		}
		b.spent = append(b.spent, spend{at: now, points: cost})
	}
	b.used++
	c.reserved = true
	return true
}

// primaryStatusLocked is the status of a primary-limit answer:
// Options.PrimaryLimitStatus, 403 by default.
func (s *Server) primaryStatusLocked() int {
	if s.primaryStatus == http.StatusTooManyRequests {
		return http.StatusTooManyRequests
	}
	return http.StatusForbidden
}

// SetRateLimitAnswers changes how rate limits answer: the primary limit's
// status (403 or 429; 0 means 403), the share [0,1] of secondary-limit
// answers that are 429 rather than 403, the share [0,1] of secondary-limit
// answers (and injected 429s) sent without Retry-After, and whether their
// documentation_url is the legacy "#secondary-rate-limits" one.
func (s *Server) SetRateLimitAnswers(primaryStatus int, secondary429Share, noRetryAfterRate float64, legacyDocs bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.primaryStatus = primaryStatus
	s.secondary429Share = secondary429Share
	s.secondaryNoRetryAfterRate = noRetryAfterRate
	s.legacySecondaryDocs = legacyDocs
}

// ExhaustPrimaryLimit uses up the primary rate limit of every token added
// so far: in its current window (a new one if none is under way) it has
// none left, and its calls are refused as GitHub refuses them until the
// window ends.
func (s *Server) ExhaustPrimaryLimit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now, limit := s.now(), s.primaryLimitLocked()
	for _, p := range s.tokens {
		b := s.bucketLocked(p.limitKey, now)
		b.used = max(b.used, limit)
	}
}

// settle gives back the primary unit of a call answered 304 and puts the
// rate-limit headers on the answer.
func (s *Server) settle(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bucketLocked(c.principal.limitKey, s.now())
	if c.status == http.StatusNotModified && c.reserved && b.used > 0 {
		b.used--
	}
	s.rateHeadersLocked(c, b)
}

func (s *Server) rateHeadersLocked(c *call, b *bucket) {
	limit := s.primaryLimitLocked()
	setRateHeaders(c.header, rateJSON{
		Limit:     limit,
		Used:      b.used,
		Remaining: max(limit-b.used, 0),
		Reset:     b.reset.Unix(),
		Resource:  "core",
	})
}

func setRateHeaders(h http.Header, r rateJSON) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(r.Limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(r.Remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(r.Used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(r.Reset, 10))
	h.Set("X-RateLimit-Resource", r.Resource)
}

type rateJSON struct {
	Limit     int    `json:"limit"`
	Used      int    `json:"used"`
	Remaining int    `json:"remaining"`
	Reset     int64  `json:"reset"`
	Resource  string `json:"resource"`
}

type rateLimitJSON struct {
	Resources map[string]rateJSON `json:"resources"`
	Rate      rateJSON            `json:"rate"`
}

// rateLimit serves GET /rate_limit, which costs nothing. Only the core
// resource is simulated; the others are reported unused.
func (s *Server) rateLimit(c *call) {
	s.mu.Lock()
	now := s.now()
	fresh := now.Add(s.primaryWindow).Unix()
	core := rateJSON{Limit: unauthenticatedLimit, Remaining: unauthenticatedLimit, Reset: fresh, Resource: "core"}
	if c.principal != nil {
		limit := s.primaryLimitLocked()
		core = rateJSON{Limit: limit, Remaining: limit, Reset: fresh, Resource: "core"}
		if b, ok := s.limits[c.principal.limitKey]; ok && now.Before(b.reset) {
			core.Used, core.Remaining, core.Reset = b.used, max(limit-b.used, 0), b.reset.Unix()
		}
	}
	s.mu.Unlock()
	unused := func(resource string, limit int, window time.Duration) rateJSON {
		return rateJSON{Limit: limit, Remaining: limit, Reset: now.Add(window).Unix(), Resource: resource}
	}
	resources := map[string]rateJSON{
		"core":                        core,
		"search":                      unused("search", 30, time.Minute),
		"code_search":                 unused("code_search", 10, time.Minute),
		"graphql":                     unused("graphql", 5000, time.Hour),
		"integration_manifest":        unused("integration_manifest", 5000, time.Hour),
		"actions_runner_registration": unused("actions_runner_registration", 10000, time.Hour),
	}
	if c.principal == nil {
		resources["search"] = unused("search", 10, time.Minute)
		resources["graphql"] = unused("graphql", 0, time.Hour)
	}
	if c.principal != nil {
		setRateHeaders(c.header, core)
	}
	c.json(http.StatusOK, rateLimitJSON{Resources: resources, Rate: core})
}
