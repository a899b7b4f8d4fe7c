package githubsim

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Options configures a Server. The zero value is a GitHub with the default
// primary limit, no secondary limit, no faults and no webhooks.
type Options struct {
	// PrimaryLimit is the primary rate limit per token per window
	// (GitHub: 5000 an hour). 0 means 5000.
	PrimaryLimit int
	// PrimaryWindow is the length of a primary rate-limit window. 0 means 1h.
	PrimaryWindow time.Duration
	// SecondaryPointsPerMinute limits the points a token may spend in any 60
	// seconds (GitHub: 900; GET, HEAD and OPTIONS cost 1, POST, PATCH, PUT
	// and DELETE cost 5). 0 disables the secondary limit.
	SecondaryPointsPerMinute int
	// SecondaryRetryAfter is how long a token is refused once it exceeded the
	// secondary limit, sent as Retry-After seconds. 0 means 60s.
	SecondaryRetryAfter time.Duration
	// PrimaryLimitStatus is the status of answers over the primary limit:
	// 403 or 429 (GitHub sends either, with x-ratelimit-remaining 0). 0
	// means 403.
	PrimaryLimitStatus int
	// SecondaryLimit429Share is the fraction [0,1] of answers over the
	// secondary limit that are 429 rather than 403 (GitHub sends either).
	SecondaryLimit429Share float64
	// SecondaryNoRetryAfterRate is the fraction [0,1] of secondary-limit
	// answers (and injected 429s) sent without Retry-After; the client
	// should then wait at least a minute.
	SecondaryNoRetryAfterRate float64
	// LegacySecondaryDocsURL sends the older documentation_url ending
	// "#secondary-rate-limits", which go-github before v56 recognises,
	// instead of today's "#about-secondary-rate-limits".
	LegacySecondaryDocsURL bool
	// ServerErrorRate is the fraction [0,1] of API requests answered 502 or
	// 503 before anything else happens.
	ServerErrorRate float64
	// TooManyRequestsRate is the fraction [0,1] of API requests answered 429
	// with a secondary-limit message and (see SecondaryNoRetryAfterRate)
	// Retry-After, before authentication.
	TooManyRequestsRate float64
	// TooManyRequestsRetryAfter is the Retry-After of those answers. 0 means
	// 1s.
	TooManyRequestsRetryAfter time.Duration
	// TimeoutRate is the fraction [0,1] of API requests that hang, before
	// authentication, until the client gives up or TimeoutAfter has passed,
	// then are answered 504.
	TimeoutRate float64
	// TimeoutAfter is how long those requests hang. 0 means 2m.
	TimeoutAfter time.Duration
	// Latency is added to every API request.
	Latency time.Duration
	// Now is the clock for rate-limit windows, token and JWT expiry and the
	// timestamps of jobs. nil means time.Now. Job durations are timed with
	// real timers whatever the clock. When a GitHub App is used, start a fake
	// clock near the real time: JWTs are signed with the real one.
	Now func() time.Time
	// WebhookURL receives signed workflow_job deliveries. "" means none.
	WebhookURL string
	// WebhookSecret signs the deliveries (X-Hub-Signature-256).
	WebhookSecret string
	// WebhookWorkers is how many deliveries are sent at once. 0 or 1 sends
	// them one at a time, in order; GitHub sends several at once and
	// promises no order.
	WebhookWorkers int
	// WebhookDropRate is the fraction [0,1] of deliveries never sent; they
	// are recorded as Dropped.
	WebhookDropRate float64
	// WebhookDuplicateRate is the fraction [0,1] of deliveries sent twice,
	// with the same X-GitHub-Delivery and body.
	WebhookDuplicateRate float64
	// WebhookReorderRate is the fraction [0,1] of deliveries held back for a
	// random time up to WebhookReorderDelay, so that later ones overtake
	// them.
	WebhookReorderRate float64
	// WebhookReorderDelay is the longest a delivery is held back. 0 means 2s.
	WebhookReorderDelay time.Duration
	// JITSpammedRate is the fraction [0,1] of valid generate-jitconfig
	// calls answered 422 "Validation failed, or the endpoint has been
	// spammed." (REST docs); nothing is registered.
	JITSpammedRate float64
	// DeleteUnprocessableRate is the fraction [0,1] of DELETE
	// …/actions/runners/{id} calls on an idle runner answered 422
	// "Validation Failed" (not the busy runner's message); nothing is
	// removed.
	DeleteUnprocessableRate float64
	// MinRunnerVersion is the oldest runner application version allowed to
	// connect (ConnectRunner); older ones are refused as deprecated. ""
	// means DefaultMinRunnerVersion (GitHub's requirement), and
	// NoMinRunnerVersion means no minimum.
	MinRunnerVersion string
	// NeverConnectedTTL is how long an ephemeral runner may stay offline
	// (never connected, or gone) before GitHub removes it. 0 means
	// DefaultNeverConnectedTTL (a day).
	NeverConnectedTTL time.Duration
	// Logf receives debug output. nil discards it.
	Logf func(format string, args ...any)
}

// Server is a simulated GitHub. It is safe for concurrent use.
type Server struct {
	now           func() time.Time
	logf          func(format string, args ...any)
	primaryWindow time.Duration
	retryAfter    time.Duration
	// tooManyRetryAfter is the Retry-After of injected 429s, timeoutAfter
	// how long an injected timeout hangs.
	tooManyRetryAfter time.Duration
	timeoutAfter      time.Duration

	api     *http.ServeMux // REST API, without the /api/v3 prefix
	control *http.ServeMux // /_sim/
	actions *http.ServeMux // the Actions service of runner scale sets, /_actions/
	hooks   *webhookSender

	mu sync.Mutex
	// Tunables.
	primaryLimit              int
	secondaryPPM              int
	errorRate                 float64
	tooManyRate               float64
	timeoutRate               float64
	latency                   time.Duration
	primaryStatus             int
	secondary429Share         float64
	secondaryNoRetryAfterRate float64
	legacySecondaryDocs       bool
	jitSpammedRate            float64
	deleteUnprocessableRate   float64
	// minRunnerVersion is "" when any version may connect.
	minRunnerVersion  string
	neverConnectedTTL time.Duration
	// State.
	orgs          map[string]*org        // by lower-case login
	enterprises   map[string]*enterprise // by lower-case slug
	tokens        map[string]*principal
	apps          map[int64]*app
	installations map[int64]*installation
	runners       map[int64]*runner
	jobs          []*job
	labelIDs      map[string]int64 // by lower-case name
	limits        map[string]*bucket
	calls         map[string]int
	callsByStatus map[int]int
	connections   ConnectionCounts
	scaleSets     scaleSetState
	closed        bool
	// Sequences.
	nextOrgID, nextRepoID, nextGroupID, nextRunnerID int64
	nextJobID, nextRunID, nextLabelID, nextUserID    int64
}

// New returns a Server. Call Close to stop its timers and webhook sender.
func New(opts Options) *Server {
	s := &Server{
		now:                       opts.Now,
		logf:                      opts.Logf,
		primaryWindow:             opts.PrimaryWindow,
		retryAfter:                opts.SecondaryRetryAfter,
		tooManyRetryAfter:         opts.TooManyRequestsRetryAfter,
		timeoutAfter:              opts.TimeoutAfter,
		primaryLimit:              opts.PrimaryLimit,
		secondaryPPM:              opts.SecondaryPointsPerMinute,
		errorRate:                 opts.ServerErrorRate,
		tooManyRate:               opts.TooManyRequestsRate,
		timeoutRate:               opts.TimeoutRate,
		latency:                   opts.Latency,
		minRunnerVersion:          normalizeMinVersion(opts.MinRunnerVersion),
		jitSpammedRate:            opts.JITSpammedRate,
		deleteUnprocessableRate:   opts.DeleteUnprocessableRate,
		primaryStatus:             opts.PrimaryLimitStatus,
		secondary429Share:         opts.SecondaryLimit429Share,
		secondaryNoRetryAfterRate: opts.SecondaryNoRetryAfterRate,
		legacySecondaryDocs:       opts.LegacySecondaryDocsURL,
		neverConnectedTTL:         opts.NeverConnectedTTL,
		orgs:                      map[string]*org{},
		enterprises:               map[string]*enterprise{},
		tokens:                    map[string]*principal{},
		apps:                      map[int64]*app{},
		installations:             map[int64]*installation{},
		runners:                   map[int64]*runner{},
		labelIDs:                  map[string]int64{},
		limits:                    map[string]*bucket{},
		calls:                     map[string]int{},
		callsByStatus:             map[int]int{},
		nextOrgID:                 1000,
		nextRepoID:                100000,
		nextGroupID:               2, // 1 is every organization's Default group
		nextRunnerID:              1,
		nextJobID:                 1,
		nextRunID:                 1,
		nextLabelID:               1,
		nextUserID:                1,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	if s.primaryWindow <= 0 {
		s.primaryWindow = time.Hour
	}
	if s.retryAfter <= 0 {
		s.retryAfter = time.Minute
	}
	if s.tooManyRetryAfter <= 0 {
		s.tooManyRetryAfter = time.Second
	}
	if s.neverConnectedTTL <= 0 {
		s.neverConnectedTTL = DefaultNeverConnectedTTL
	}
	if s.timeoutAfter <= 0 {
		s.timeoutAfter = 2 * time.Minute
	}
	s.labelID(selfHostedLabel) // id 1, as on a fresh GitHub
	s.hooks = newWebhookSender(opts, s.logf)
	s.api = s.apiMux()
	s.control = s.controlMux()
	s.actions = s.actionsMux()
	s.scaleSets.init()
	return s
}

// Close stops the job timers and the webhook sender. Undelivered webhooks,
// queued or held back, are dropped. The Server still answers requests afterwards, but jobs no longer
// complete on their own.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for _, j := range s.jobs {
		if j.timer != nil {
			j.timer.Stop()
			j.timer = nil
		}
	}
	s.mu.Unlock()
	s.hooks.close()
}

// SetPrimaryLimit changes the primary rate limit per token and window.
// 0 means 5000.
func (s *Server) SetPrimaryLimit(limit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.primaryLimit = limit
}

// SetSecondaryPointsPerMinute changes the secondary rate limit. 0 disables it.
func (s *Server) SetSecondaryPointsPerMinute(points int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secondaryPPM = points
}

// SetServerErrorRate changes the fraction of API requests answered 502 or 503.
func (s *Server) SetServerErrorRate(rate float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errorRate = rate
}

// SetTooManyRequestsRate changes the fraction of API requests answered 429.
func (s *Server) SetTooManyRequestsRate(rate float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tooManyRate = rate
}

// SetJITSpammedRate changes the fraction of generate-jitconfig calls
// answered 422 "Validation failed, or the endpoint has been spammed.".
func (s *Server) SetJITSpammedRate(rate float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jitSpammedRate = rate
}

// SetDeleteUnprocessableRate changes the fraction of deletes of idle runners
// answered 422 "Validation Failed".
func (s *Server) SetDeleteUnprocessableRate(rate float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleteUnprocessableRate = rate
}

// SetTimeoutRate changes the fraction of API requests that hang until the
// client gives up or Options.TimeoutAfter has passed.
func (s *Server) SetTimeoutRate(rate float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timeoutRate = rate
}

// SetLatency changes the latency added to every API request.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetWebhook changes where workflow_job deliveries go and the secret that
// signs them. An empty url stops deliveries.
func (s *Server) SetWebhook(url, secret string) {
	s.hooks.configure(url, secret)
}

// prefixKey holds the path prefix ("" or "/api/v3") a request came in on.
type prefixKey struct{}

const enterprisePrefix = "/api/v3"

// ServeHTTP serves the REST API at the root (like api.github.com) and under
// /api/v3 (like GitHub Enterprise Server), and the control API under /_sim/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, "/_sim/"):
		s.control.ServeHTTP(w, r)
	case strings.HasPrefix(p, actionsPrefix):
		s.actions.ServeHTTP(w, r)
	case p == enterprisePrefix || strings.HasPrefix(p, enterprisePrefix+"/"):
		r2 := r.Clone(context.WithValue(r.Context(), prefixKey{}, enterprisePrefix))
		r2.URL.Path = strings.TrimPrefix(p, enterprisePrefix)
		if r2.URL.Path == "" {
			r2.URL.Path = "/"
		}
		r2.URL.RawPath = ""
		s.api.ServeHTTP(w, r2)
	default:
		s.api.ServeHTTP(w, r)
	}
}

// authKind says how an endpoint authenticates.
type authKind int

const (
	// authToken: a personal access token or an installation token, required;
	// the call counts against the token's rate limits.
	authToken authKind = iota
	// authOptional: a token if one is sent (then it must be valid and the
	// call counts against its limits).
	authOptional
	// authRateLimit: like authOptional, but the call costs nothing.
	authRateLimit
	// authJWT: a GitHub App's JWT, required.
	authJWT
)

// UnmatchedPattern is the pattern under which Calls counts requests for
// paths the simulator does not serve, e.g. "GET <unmatched>".
const UnmatchedPattern = "<unmatched>"

func (s *Server) apiMux() *http.ServeMux {
	mux := http.NewServeMux()
	route := func(pattern string, kind authKind, h func(*call)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			s.serveAPI(w, r, kind, h)
		})
	}
	route("POST /orgs/{org}/actions/runners/generate-jitconfig", authToken, s.generateJITConfig)
	route("POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig", authToken, s.generateJITConfig)
	route("GET /orgs/{org}/actions/runners", authToken, s.listRunners)
	route("GET /repos/{owner}/{repo}/actions/runners", authToken, s.listRunners)
	route("GET /orgs/{org}/actions/runners/{id}", authToken, s.getRunner)
	route("GET /repos/{owner}/{repo}/actions/runners/{id}", authToken, s.getRunner)
	route("DELETE /orgs/{org}/actions/runners/{id}", authToken, s.deleteRunner)
	route("DELETE /repos/{owner}/{repo}/actions/runners/{id}", authToken, s.deleteRunner)
	route("POST /enterprises/{enterprise}/actions/runners/generate-jitconfig", authToken, s.generateJITConfig)
	route("GET /enterprises/{enterprise}/actions/runners", authToken, s.listRunners)
	route("GET /enterprises/{enterprise}/actions/runners/{id}", authToken, s.getRunner)
	route("DELETE /enterprises/{enterprise}/actions/runners/{id}", authToken, s.deleteRunner)
	route("GET /enterprises/{enterprise}/actions/runner-groups", authToken, s.listRunnerGroups)
	route("GET /orgs/{org}/actions/runner-groups", authToken, s.listRunnerGroups)
	route("GET /orgs/{org}/actions/runner-groups/{id}", authToken, s.getRunnerGroup)
	route("POST /app/installations/{id}/access_tokens", authJWT, s.createInstallationToken)
	route("GET /orgs/{org}/installation", authJWT, s.getOrgInstallation)
	route("GET /repos/{owner}/{repo}/installation", authJWT, s.getRepoInstallation)
	route("GET /enterprises/{enterprise}/installation", authJWT, s.getEnterpriseInstallation)
	route("GET /rate_limit", authRateLimit, s.rateLimit)
	// Runner scale sets: the registration token and its exchange for the
	// Actions service (scaleset_service.go).
	route("POST /orgs/{org}/actions/runners/registration-token", authToken, s.createRegistrationToken)
	route("POST /repos/{owner}/{repo}/actions/runners/registration-token", authToken, s.createRegistrationToken)
	route("POST /enterprises/{enterprise}/actions/runners/registration-token", authToken, s.createRegistrationToken)
	mux.HandleFunc("POST /actions/runner-registration", s.serveRunnerRegistration)
	route("/", authOptional, func(c *call) { c.notFound() })
	return mux
}

// serveAPI runs one REST call through the stages GitHub puts it through:
// latency, injected faults (502/503, 429, timeout), authentication, rate
// limits, the handler, conditional requests; then it writes and counts the
// answer.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, kind authKind, h func(*call)) {
	c := &call{s: s, r: r, header: http.Header{}}
	pattern := UnmatchedPattern
	if _, path, ok := strings.Cut(r.Pattern, " "); ok {
		pattern = path
	}
	key := r.Method + " " + pattern
	// Count before answering, so a client that has its answer finds the
	// call counted.
	finish := func() {
		s.count(key, c.status)
		c.write(w)
	}

	// Read the body up front: once it is consumed, net/http watches the
	// connection and cancels the context of a client that gave up.
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		c.error(http.StatusBadRequest, "Problems parsing JSON", docsREST)
		finish()
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))

	// A call whose client gave up is counted, and nothing is written.
	abandoned := func() {
		c.status = statusClientClosedRequest
		s.count(key, c.status)
	}

	s.mu.Lock()
	latency, errorRate, tooManyRate, timeoutRate := s.latency, s.errorRate, s.tooManyRate, s.timeoutRate
	s.mu.Unlock()
	if latency > 0 && !wait(r.Context(), latency) {
		abandoned()
		return
	}
	switch {
	case chance(errorRate):
		if rand.IntN(2) == 0 {
			c.json(http.StatusBadGateway, errorBody{Message: "Server Error"})
		} else {
			c.json(http.StatusServiceUnavailable, errorBody{Message: "Service Unavailable"})
		}
		finish()
		return
	case chance(tooManyRate):
		s.mu.Lock()
		s.secondaryLimitedLocked(c, http.StatusTooManyRequests, s.tooManyRetryAfter)
		s.mu.Unlock()
		finish()
		return
	case chance(timeoutRate):
		if !wait(r.Context(), s.timeoutAfter) {
			abandoned()
			return
		}
		c.json(http.StatusGatewayTimeout, errorBody{Message: timeoutMessage})
		finish()
		return
	}

	if !s.authenticate(c, kind) {
		finish()
		return
	}
	limited := c.principal != nil && kind != authRateLimit
	if limited && !s.admit(c) {
		finish()
		return
	}
	h(c)
	c.conditional()
	if limited {
		s.settle(c)
	}
	finish()
}

// statusClientClosedRequest is recorded for calls whose client went away
// during the injected latency or timeout (nginx's convention); nothing is
// written.
const statusClientClosedRequest = 499

// timeoutMessage is GitHub's answer to a request it could not serve in time.
const timeoutMessage = "We couldn't respond to your request in time. Sorry about that. Please try resubmitting your request and contact us if the problem persists."

// chance reports true with probability rate; never when rate is 0.
func chance(rate float64) bool {
	return rate > 0 && rand.Float64() < rate
}

// wait sleeps for d and reports true, or reports false as soon as ctx is
// done (the client gave up).
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Server) count(key string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[key]++
	s.callsByStatus[status]++
}

// Calls returns how many API calls were made, by "METHOD pattern", e.g.
// "GET /orgs/{org}/actions/runners". Paths the simulator does not serve
// count under UnmatchedPattern. Control API calls are not counted.
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// CallsByStatus returns how many API calls were answered with each status;
// 499 counts calls whose client gave up during the injected latency or
// timeout.
func (s *Server) CallsByStatus() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int]int, len(s.callsByStatus))
	for k, v := range s.callsByStatus {
		out[k] = v
	}
	return out
}

// ResetCalls sets the call counters back to zero.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = map[string]int{}
	s.callsByStatus = map[int]int{}
}
