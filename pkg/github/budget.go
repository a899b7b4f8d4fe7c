package github

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Points GitHub's secondary rate limit charges per REST request.
const (
	readPoints  = 1
	writePoints = 5
)

// BudgetOptions configures the request budget of one credential. The zero
// value gives GitHub's documented limits.
type BudgetOptions struct {
	// SecondaryPointsPerMinute is GitHub's secondary limit on REST requests,
	// in points per minute (GET 1, POST/PATCH/PUT/DELETE 5). Zero means
	// GitHub's 900; negative turns pacing off.
	SecondaryPointsPerMinute int
	// Utilization is the fraction of the secondary limit the budget paces
	// to, leaving room for other users of the credential. Zero means 0.97.
	Utilization float64
	// Burst is how many points may be spent at once. Zero means 25 (five
	// writes); it never exceeds what keeps any minute under the limit.
	Burst int
	// MaxWait is the longest an operation waits in line for pacing; a
	// longer wait fails at once with a *RetryAfterError. Zero means 2s;
	// negative means never wait.
	MaxWait time.Duration
	// PrimaryReserve is how many requests of the primary (hourly) limit are
	// left unused, e.g. for humans sharing the credential.
	PrimaryReserve int
	// SecondaryBackoff is the first wait after a secondary-limit response
	// without Retry-After; it doubles with each one in a row, up to
	// MaxSecondaryBackoff. Zero means 1 minute (GitHub's advice) and 15
	// minutes.
	SecondaryBackoff, MaxSecondaryBackoff time.Duration

	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Budget decides whether a request may go to GitHub now. It paces requests
// under the secondary limit, and after GitHub says "wait" (primary limit
// exhausted, secondary limit hit, Retry-After) it refuses requests until
// the wait is over, so no request is sent that GitHub would reject.
type Budget struct {
	opts    BudgetOptions
	limiter *rate.Limiter
	metrics *Metrics

	mu           sync.Mutex
	primary      map[string]primaryState // by X-RateLimit-Resource
	blockedUntil time.Time               // after a secondary-limit response
	strikes      int                     // secondary-limit responses in a row
}

type primaryState struct {
	limit, remaining int
	reset            time.Time
}

// NewBudget returns a budget for one credential.
func NewBudget(opts BudgetOptions, metrics *Metrics) *Budget {
	if opts.SecondaryPointsPerMinute == 0 {
		opts.SecondaryPointsPerMinute = 900
	}
	if opts.Utilization <= 0 || opts.Utilization > 1 {
		opts.Utilization = 0.97
	}
	if opts.MaxWait == 0 {
		opts.MaxWait = 2 * time.Second
	}
	if opts.SecondaryBackoff <= 0 {
		opts.SecondaryBackoff = time.Minute
	}
	if opts.MaxSecondaryBackoff <= 0 {
		opts.MaxSecondaryBackoff = 15 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	limit, burst := rate.Inf, 0
	if opts.SecondaryPointsPerMinute > 0 {
		perMinute := float64(opts.SecondaryPointsPerMinute) * opts.Utilization
		limit = rate.Limit(perMinute / 60)
		// Any 60 s window may see burst + 60*rate points: keep that under
		// the limit.
		maxBurst := int(float64(opts.SecondaryPointsPerMinute) - perMinute)
		burst = opts.Burst
		if burst <= 0 {
			burst = 25
		}
		burst = min(burst, maxBurst)
		burst = max(burst, writePoints)
	}
	return &Budget{
		opts:    opts,
		limiter: rate.NewLimiter(limit, burst),
		metrics: metrics,
		primary: map[string]primaryState{},
	}
}

// acquire takes the points of one request from the budget, waiting up to
// MaxWait for pacing. It returns a *RetryAfterError when the request must
// not be sent now.
func (b *Budget) acquire(ctx context.Context, points int) error {
	now := b.opts.Now()
	if err := b.blocked(now); err != nil {
		return err
	}
	r := b.limiter.ReserveN(now, points)
	if !r.OK() {
		return &RetryAfterError{After: time.Second, Reason: "pacing"}
	}
	delay := r.DelayFrom(now)
	if delay <= 0 {
		return nil
	}
	if delay > b.opts.MaxWait {
		r.CancelAt(now)
		return &RetryAfterError{After: delay, Reason: "pacing"}
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		r.Cancel()
		return ctx.Err()
	case <-timer.C:
		b.metrics.budgetWait.Add(delay.Seconds())
		// GitHub may have said wait while this request waited its turn.
		return b.blocked(b.opts.Now())
	}
}

// blocked says whether GitHub told us to wait and the wait is not over.
func (b *Budget) blocked(now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Before(b.blockedUntil) {
		return &RetryAfterError{After: b.blockedUntil.Sub(now), Reason: "secondary rate limit"}
	}
	if st, ok := b.primary["core"]; ok && st.remaining <= b.opts.PrimaryReserve && now.Before(st.reset) {
		return &RetryAfterError{After: st.reset.Sub(now), Reason: "primary rate limit"}
	}
	return nil
}

// observe records the rate-limit headers of a response GitHub sent.
func (b *Budget) observe(resp *http.Response) {
	if resp == nil {
		return
	}
	h := resp.Header
	remaining, err1 := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	limit, err2 := strconv.Atoi(h.Get("X-RateLimit-Limit"))
	reset, err3 := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return
	}
	resource := h.Get("X-RateLimit-Resource")
	if resource == "" {
		resource = "core"
	}
	b.mu.Lock()
	b.primary[resource] = primaryState{limit: limit, remaining: remaining, reset: time.Unix(reset, 0)}
	if resp.StatusCode < 400 {
		b.strikes = 0
	}
	b.mu.Unlock()
	b.metrics.rateLimit.WithLabelValues(resource).Set(float64(limit))
	b.metrics.rateRemaining.WithLabelValues(resource).Set(float64(remaining))
}

// primaryExhausted records that the primary limit is used up until reset,
// and returns how long to wait.
func (b *Budget) primaryExhausted(resource string, reset time.Time) time.Duration {
	now := b.opts.Now()
	if !reset.After(now) {
		// The window turned already, or GitHub sent no reset: a short pause.
		reset = now.Add(time.Second)
	}
	if resource == "" {
		resource = "core"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.primary[resource]
	st.remaining, st.reset = 0, reset
	b.primary[resource] = st
	return reset.Sub(now)
}

// secondaryLimited records a secondary-limit response and returns how long
// to wait, by github/docs rate-limits-for-the-rest-api.md ("Exceeding the
// rate limit"): Retry-After when GitHub sent it; else until reset, GitHub's
// x-ratelimit-reset when it said x-ratelimit-remaining 0 (zero otherwise);
// else "at least one minute", then "an exponentially increasing amount of
// time" for each secondary-limit response in a row (SecondaryBackoff
// doubling up to MaxSecondaryBackoff, plus up to 25% jitter). Until the
// wait is over acquire refuses every request of the credential, whichever
// caller sends it: "continuing to make requests while you are rate limited
// may result in the banning of your integration".
func (b *Budget) secondaryLimited(retryAfter time.Duration, reset time.Time) time.Duration {
	now := b.opts.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	// An answer that comes while a wait is under way is one to a request
	// sent before it (acquire sends none during a wait): it is the same
	// strike, not a retry that failed again.
	blocked := now.Before(b.blockedUntil)
	strikes := b.strikes
	if blocked && strikes > 0 {
		strikes--
	}
	wait := retryAfter
	if wait <= 0 && reset.After(now) {
		wait = reset.Sub(now)
	}
	if wait <= 0 {
		wait = b.opts.SecondaryBackoff << min(strikes, 10)
		wait = min(wait, b.opts.MaxSecondaryBackoff)
		wait += time.Duration(rand.Int64N(int64(wait)/4 + 1)) // jitter
	}
	if !blocked {
		b.strikes++
	}
	if until := now.Add(wait); until.After(b.blockedUntil) {
		b.blockedUntil = until
	}
	return b.blockedUntil.Sub(now)
}
