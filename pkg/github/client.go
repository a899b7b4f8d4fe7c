package github

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	gogithub "github.com/google/go-github/v50/github"
)

// Operation names, as used in errors and metrics.
const (
	OpGenerateJITConfig = "GenerateJITConfig"
	OpListRunnerGroups  = "ListRunnerGroups"
	OpGetRunner         = "GetRunner"
	OpListRunners       = "ListRunners"
	OpDeleteRunner      = "DeleteRunner"
	OpFindRunnerByName  = "FindRunnerByName"
	// OpFindInstallation finds the App's installation on a scope.
	OpFindInstallation = "FindInstallation"
)

// DefaultRunnerGroup is the runner group every organization has, and the
// only one of repository runners.
const DefaultRunnerGroup = "Default"

// defaultRunnerGroupID is the id GitHub gives the Default group.
const defaultRunnerGroupID = 1

// Options configures a Client.
type Options struct {
	// ServerURL is GitHub's web URL: https://github.com (the default) or a
	// GitHub Enterprise Server's, e.g. https://ghe.example.com. Runner URLs
	// must be on its host.
	ServerURL string
	// APIURL overrides the REST API base URL derived from ServerURL (for a
	// GitHub simulator in tests).
	APIURL string
	// Credentials authenticate the client.
	Credentials Credentials
	// Transport is the base HTTP transport; nil means a clone of
	// http.DefaultTransport.
	Transport http.RoundTripper
	// Timeout bounds each HTTP request; zero means 30s.
	Timeout time.Duration
	// Budget configures the request budget of the credentials.
	Budget BudgetOptions
	// Metrics records requests; nil means metrics nobody collects.
	Metrics *Metrics
	// Retries is how often a failed idempotent request (5xx, no response)
	// is retried with exponential backoff; zero means 3, negative none.
	Retries int
	// RetryBackoff is the first backoff between retries; zero means 250ms.
	RetryBackoff time.Duration
	// RunnerGroupTTL is how long runner group ids are cached; zero means 10m.
	RunnerGroupTTL time.Duration
	// ConditionalCacheSize is how many GET responses are remembered for
	// conditional requests; zero means 4096.
	ConditionalCacheSize int
	// UserAgent is sent with every request; empty means "octorun".
	UserAgent string
}

// Client is Octorun's client of one GitHub host with one set of credentials.
// It is safe for concurrent use.
//
// Requests go out with one credential per scope: the token; or, for a
// GitHub App, the installation on the scope's organization, repository or
// enterprise (or the fixed Credentials.InstallationID). Each credential has
// its own Budget and its own entries in the conditional cache, so a rate
// limit of one installation holds back that installation only, and all
// callers of the Client that use it.
type Client struct {
	host        string
	apiURL      string
	metrics     *Metrics
	opts        Options
	conditional *conditionalCache

	fixed *credential // the token or the fixed installation; nil otherwise
	app   *credential // the App's JWT; nil without App credentials
	installationCache

	groupsMu sync.Mutex
	groups   map[string]groupCacheEntry // by groupKey
}

type groupCacheEntry struct {
	ids     map[string]int64 // by lower-case name
	fetched time.Time
}

// Runner is a self-hosted runner as GitHub knows it.
type Runner struct {
	ID     int64
	Name   string
	OS     string
	Status string // "online" or "offline"
	Busy   bool
	Labels []string
}

// JITConfigRequest asks for a just-in-time runner configuration.
type JITConfigRequest struct {
	// Name of the runner; unique in its scope.
	Name string
	// RunnerGroupID is the group to register in (see RunnerGroupID).
	RunnerGroupID int64
	// Labels of the runner, 1 to 100. They are all its labels: a JIT
	// registration adds none, not even "self-hosted" or the OS and
	// architecture that config.sh adds (REST docs "Self-hosted runners",
	// the generate-jitconfig example), so send those that workflows ask for.
	Labels []string
	// WorkFolder is the runner's work directory, relative to its home.
	WorkFolder string
}

// JITConfig is a registered runner with the configuration its process
// starts with. EncodedJITConfig is a secret.
type JITConfig struct {
	Runner           Runner
	EncodedJITConfig string
}

// New returns a client for the GitHub host of opts.ServerURL.
func New(opts Options) (*Client, error) {
	if opts.ServerURL == "" {
		opts.ServerURL = "https://github.com"
	}
	server, err := url.Parse(opts.ServerURL)
	if err != nil || server.Scheme != "https" || server.Host == "" || strings.Trim(server.Path, "/") != "" {
		return nil, fmt.Errorf("invalid GitHub server URL %q: want https://<host>", opts.ServerURL)
	}
	apiURL := opts.APIURL
	if apiURL == "" {
		apiURL = APIURL(server.Host)
	}
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/"
	}
	if opts.Transport == nil {
		opts.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.Retries == 0 {
		opts.Retries = 3
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = 250 * time.Millisecond
	}
	if opts.RunnerGroupTTL <= 0 {
		opts.RunnerGroupTTL = 10 * time.Minute
	}
	if opts.ConditionalCacheSize <= 0 {
		opts.ConditionalCacheSize = 4096
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "octorun"
	}
	if err := opts.Credentials.Validate(); err != nil {
		return nil, err
	}
	c := &Client{
		host:        strings.ToLower(server.Host),
		apiURL:      apiURL,
		metrics:     opts.Metrics,
		opts:        opts,
		conditional: newConditionalCache(opts.ConditionalCacheSize),
		groups:      map[string]groupCacheEntry{},
		installationCache: installationCache{
			installations: map[int64]*credential{},
			scopes:        map[string]scopeInstallation{},
		},
	}
	creds := opts.Credentials
	switch {
	case !creds.IsApp():
		c.fixed, err = c.newCredential(creds.tokenKey(), creds.tokenTransport(opts.Transport), true)
	case creds.InstallationID != 0:
		c.fixed, err = c.installation(creds.InstallationID)
	default:
		var atr http.RoundTripper
		if atr, err = creds.appsTransport(opts.Transport, apiURL); err == nil {
			c.app, err = c.newCredential(credentialApp, atr, false)
		}
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Host returns the GitHub host the client talks to, e.g. "github.com".
func (c *Client) Host() string { return c.host }

func (c *Client) checkScope(s Scope) error {
	if !strings.EqualFold(s.Host, c.host) {
		return fmt.Errorf("runner URL %s is not on the configured GitHub host %s", s.URL(), c.host)
	}
	return nil
}

// GenerateJITConfig registers a runner in scope and returns its just-in-time
// configuration. A name already taken in the scope fails with
// ErrRunnerNameTaken.
func (c *Client) GenerateJITConfig(ctx context.Context, scope Scope, r JITConfigRequest) (*JITConfig, error) {
	if err := c.checkScope(scope); err != nil {
		return nil, err
	}
	switch {
	case r.Name == "":
		return nil, errors.New("generating a JIT runner config: the runner name is empty")
	case len(r.Labels) < 1 || len(r.Labels) > 100:
		return nil, fmt.Errorf("generating a JIT runner config: a runner needs 1 to 100 labels, got %d", len(r.Labels))
	}
	if r.RunnerGroupID == 0 {
		r.RunnerGroupID = defaultRunnerGroupID
	}
	body := struct {
		Name          string   `json:"name"`
		RunnerGroupID int64    `json:"runner_group_id"`
		Labels        []string `json:"labels"`
		WorkFolder    string   `json:"work_folder,omitempty"`
	}{r.Name, r.RunnerGroupID, r.Labels, r.WorkFolder}
	var out struct {
		Runner           *gogithub.Runner `json:"runner"`
		EncodedJITConfig string           `json:"encoded_jit_config"`
	}
	_, err := c.send(ctx, scope, OpGenerateJITConfig, http.MethodPost, runnersPath(scope)+"/generate-jitconfig", body, &out)
	if err != nil {
		return nil, fmt.Errorf("registering runner %q in %s: %w", r.Name, scope, err)
	}
	if out.Runner == nil || out.EncodedJITConfig == "" {
		return nil, fmt.Errorf("registering runner %q in %s: GitHub's answer has no runner or no config", r.Name, scope)
	}
	return &JITConfig{Runner: runnerFrom(out.Runner), EncodedJITConfig: out.EncodedJITConfig}, nil
}

// RunnerGroupID resolves a runner group name (case-insensitive; empty means
// Default) to its id. Groups of organizations and enterprises are cached; a
// name not found fails with ErrRunnerGroupNotFound. Repository runners have
// only the Default group. Default is id 1 in organizations and enterprises
// alike (actions/actions-runner-controller registers in runner group 1 when
// none is named, for enterprise URLs too: autoscalingrunnerset_controller.go).
func (c *Client) RunnerGroupID(ctx context.Context, scope Scope, name string) (int64, error) {
	if err := c.checkScope(scope); err != nil {
		return 0, err
	}
	if name == "" || strings.EqualFold(name, DefaultRunnerGroup) {
		return defaultRunnerGroupID, nil
	}
	if scope.IsRepository() {
		return 0, fmt.Errorf("runner group %q for repository %s: repository runners belong to the %s group only: %w",
			name, scope, DefaultRunnerGroup, ErrRunnerGroupNotFound)
	}
	key := strings.ToLower(name)
	owner := strings.ToLower(scope.String()) // "org" or "enterprises/slug"

	c.groupsMu.Lock()
	defer c.groupsMu.Unlock()
	entry, ok := c.groups[owner]
	fresh := ok && time.Since(entry.fetched) < c.opts.RunnerGroupTTL
	if id, found := entry.ids[key]; fresh && found {
		return id, nil
	}
	// A miss in a list younger than a minute is trusted, so a wrong group
	// name does not cost a list per sync.
	if !fresh || time.Since(entry.fetched) >= time.Minute {
		ids, err := c.listRunnerGroups(ctx, scope)
		if err != nil {
			if id, found := entry.ids[key]; found {
				return id, nil // stale, but better than failing
			}
			return 0, fmt.Errorf("resolving runner group %q of %s: %w", name, scope, err)
		}
		entry = groupCacheEntry{ids: ids, fetched: time.Now()}
		c.groups[owner] = entry
	}
	if id, found := entry.ids[key]; found {
		return id, nil
	}
	return 0, fmt.Errorf("runner group %q of %s: %w", name, scope, ErrRunnerGroupNotFound)
}

// listRunnerGroups lists the runner groups of an organization or
// enterprise: GET /orgs/{org}/actions/runner-groups or
// /enterprises/{enterprise}/actions/runner-groups, both answering
// {"total_count", "runner_groups": [{"id", "name", ...}]} (REST docs
// "Self-hosted runner groups").
func (c *Client) listRunnerGroups(ctx context.Context, scope Scope) (map[string]int64, error) {
	ids := map[string]int64{}
	for page := 1; ; {
		var groups gogithub.RunnerGroups
		resp, err := c.send(ctx, scope, OpListRunnerGroups, http.MethodGet, runnerGroupsPath(scope)+"?per_page=100&page="+strconv.Itoa(page), nil, &groups)
		if err != nil {
			return nil, err
		}
		for _, g := range groups.RunnerGroups {
			ids[strings.ToLower(g.GetName())] = g.GetID()
		}
		if resp.NextPage == 0 {
			return ids, nil
		}
		page = resp.NextPage
	}
}

// GetRunner returns the runner with id in scope; ErrNotFound if GitHub has
// none.
func (c *Client) GetRunner(ctx context.Context, scope Scope, id int64) (*Runner, error) {
	if err := c.checkScope(scope); err != nil {
		return nil, err
	}
	var r gogithub.Runner
	_, err := c.send(ctx, scope, OpGetRunner, http.MethodGet, runnersPath(scope)+"/"+strconv.FormatInt(id, 10), nil, &r)
	if err != nil {
		return nil, fmt.Errorf("getting runner %d of %s: %w", id, scope, err)
	}
	out := runnerFrom(&r)
	return &out, nil
}

// ListRunners returns every runner of scope, 100 per request. Pages that did
// not change since the last call are answered from GitHub's conditional
// requests, which cost no primary rate limit.
func (c *Client) ListRunners(ctx context.Context, scope Scope) ([]Runner, error) {
	if err := c.checkScope(scope); err != nil {
		return nil, err
	}
	var all []Runner
	for pageNumber := 1; ; {
		var page gogithub.Runners
		resp, err := c.send(ctx, scope, OpListRunners, http.MethodGet, runnersPath(scope)+"?per_page=100&page="+strconv.Itoa(pageNumber), nil, &page)
		if err != nil {
			return nil, fmt.Errorf("listing runners of %s: %w", scope, err)
		}
		for _, r := range page.Runners {
			all = append(all, runnerFrom(r))
		}
		if resp.NextPage == 0 {
			return all, nil
		}
		pageNumber = resp.NextPage
	}
}

// FindRunnerByName returns the runner of scope with exactly that name, or
// ErrNotFound. It costs one request (GitHub filters by name).
func (c *Client) FindRunnerByName(ctx context.Context, scope Scope, name string) (*Runner, error) {
	if err := c.checkScope(scope); err != nil {
		return nil, err
	}
	var page gogithub.Runners
	_, err := c.send(ctx, scope, OpFindRunnerByName, http.MethodGet, runnersPath(scope)+"?per_page=100&name="+url.QueryEscape(name), nil, &page)
	if err != nil {
		return nil, fmt.Errorf("finding runner %q of %s: %w", name, scope, err)
	}
	for _, r := range page.Runners {
		if r.GetName() == name {
			out := runnerFrom(r)
			return &out, nil
		}
	}
	return nil, fmt.Errorf("finding runner %q of %s: %w", name, scope, ErrNotFound)
}

// DeleteRunner removes a runner from GitHub. A runner running a job fails
// with ErrRunnerBusy; one GitHub does not know fails with ErrNotFound.
func (c *Client) DeleteRunner(ctx context.Context, scope Scope, id int64) error {
	if err := c.checkScope(scope); err != nil {
		return err
	}
	_, err := c.send(ctx, scope, OpDeleteRunner, http.MethodDelete, runnersPath(scope)+"/"+strconv.FormatInt(id, 10), nil, nil)
	if err != nil {
		return fmt.Errorf("deleting runner %d of %s: %w", id, scope, err)
	}
	return nil
}

// send sends one request about scope with the scope's credential: body (if
// not nil) as JSON, the answer decoded into out (if not nil).
func (c *Client) send(ctx context.Context, scope Scope, op, method, path string, body, out any) (*gogithub.Response, error) {
	cred, err := c.credentialFor(ctx, scope)
	if err != nil {
		return nil, err
	}
	var resp *gogithub.Response
	err = c.call(ctx, cred, op, method, func(ctx context.Context) (*gogithub.Response, error) {
		req, err := cred.gh.NewRequest(method, path, body)
		if err != nil {
			return nil, err
		}
		resp, err = cred.gh.Do(ctx, req, out)
		return resp, err
	})
	if errors.Is(err, ErrNotInstalled) {
		c.forgetInstallation(scope)
		if !strings.Contains(err.Error(), describe(scope)) {
			err = fmt.Errorf("the GitHub App's installation does not cover %s, or lacks the Self-hosted runners permission there: %w", describe(scope), err)
		}
	}
	return resp, err
}

// call sends one request of cred through its budget, records it, classifies
// its error and retries idempotent requests that failed on GitHub's side.
func (c *Client) call(ctx context.Context, cred *credential, op, method string, send func(context.Context) (*gogithub.Response, error)) error {
	points, idempotent := readPoints, true
	if method != http.MethodGet && method != http.MethodHead {
		points = writePoints
		idempotent = method == http.MethodDelete
	}
	backoff := c.opts.RetryBackoff
	for attempt := 0; ; attempt++ {
		if err := cred.budget.acquire(ctx, points); err != nil {
			if ra, ok := err.(*RetryAfterError); ok {
				c.metrics.deferred.WithLabelValues(op, ra.Reason).Inc()
			}
			return err
		}
		start := time.Now()
		resp, err := send(ctx)
		c.metrics.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
		var httpResp *http.Response
		if resp != nil {
			httpResp = resp.Response
		}
		code := "error"
		if httpResp != nil {
			code = strconv.Itoa(httpResp.StatusCode)
			cred.budget.observe(httpResp)
		}
		var rle *gogithub.RateLimitError
		if errors.As(err, &rle) && (httpResp == nil || rle.Response == nil) {
			code = "budget" // go-github refused to send: it knows the limit is exhausted
		}
		c.metrics.requests.WithLabelValues(op, code).Inc()

		err = classify(ctx, cred.budget, op, httpResp, err)
		if err == nil {
			return nil
		}
		if !idempotent || !errors.Is(err, ErrServer) || attempt >= c.opts.Retries || c.opts.Retries < 0 {
			return err
		}
		wait := backoff + time.Duration(rand.Int64N(int64(backoff)/2+1))
		backoff *= 2
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return err
		case <-timer.C:
		}
	}
}

// classify turns go-github's errors into this package's, and tells budget
// of the rate limits GitHub answered.
func classify(ctx context.Context, budget *Budget, op string, resp *http.Response, err error) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	var a answer
	var details []string
	var rle *gogithub.RateLimitError
	var abuse *gogithub.AbuseRateLimitError
	var er *gogithub.ErrorResponse
	var tokenErr *ghinstallation.HTTPError
	switch {
	case errors.As(err, &rle):
		if rle.Response == nil || rle.Response.Header.Get("X-RateLimit-Remaining") == "" {
			// go-github refused to send: it knows the limit is exhausted.
			return &RetryAfterError{After: budget.primaryExhausted(resourceOf(resp), rle.Rate.Reset.Time), Reason: "primary rate limit"}
		}
		a = answer{status: rle.Response.StatusCode, header: rle.Response.Header, message: rle.Message}
	case errors.As(err, &abuse):
		// go-github v50 recognises only the old documentation_url
		// "#secondary-rate-limits" (and refuses to send while a Retry-After
		// it saw runs).
		retryAfter := abuse.GetRetryAfter()
		if abuse.Response == nil {
			return &RetryAfterError{After: budget.secondaryLimited(retryAfter, time.Time{}), Reason: "secondary rate limit"}
		}
		a = answer{status: abuse.Response.StatusCode, header: abuse.Response.Header, message: abuse.Message,
			docURL: "https://docs.github.com/rest/overview/resources-in-the-rest-api#secondary-rate-limits"}
		if retryAfter > 0 && a.header.Get("Retry-After") == "" {
			a.header = a.header.Clone()
			a.header.Set("Retry-After", strconv.FormatInt(int64(retryAfter/time.Second), 10))
		}
	case errors.As(err, &er) && er.Response != nil:
		a = answer{status: er.Response.StatusCode, header: er.Response.Header, message: er.Message, docURL: er.DocumentationURL}
		details = errorDetails(er.Errors)
	case errors.As(err, &tokenErr) && tokenErr.Response != nil:
		// ghinstallation could not get an installation token: POST
		// /app/installations/{id}/access_tokens answered an error.
		a = answer{status: tokenErr.Response.StatusCode, header: tokenErr.Response.Header, message: tokenErr.Error()}
		if a.status == http.StatusNotFound || a.status == http.StatusForbidden {
			// The installation is gone (uninstalled), or suspended.
			return &APIError{Operation: op, StatusCode: a.status, Message: a.message, kind: ErrNotInstalled}
		}
	default:
		// No response: the network or a timeout.
		return &APIError{Operation: op, Message: err.Error(), kind: ErrServer}
	}
	if a.header == nil {
		a.header = http.Header{}
	}
	if rl, ok := rateLimitOf(a); ok {
		if rl.secondary {
			return &RetryAfterError{After: budget.secondaryLimited(rl.retryAfter, rl.reset), Reason: "secondary rate limit"}
		}
		return &RetryAfterError{After: budget.primaryExhausted(a.header.Get("X-RateLimit-Resource"), rl.reset), Reason: "primary rate limit"}
	}
	apiErr := &APIError{Operation: op, StatusCode: a.status, Message: a.message, Details: details}
	apiErr.kind = kindOf(op, a.status, a.message)
	return apiErr
}

// kindOf returns the sentinel error of a GitHub error answer that is no rate
// limit, or nil.
func kindOf(op string, status int, message string) error {
	switch {
	case status == http.StatusUnauthorized:
		return ErrUnauthorized
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusForbidden && notAccessibleByIntegration(message):
		return ErrNotInstalled
	case status == http.StatusConflict && op == OpGenerateJITConfig:
		return ErrRunnerNameTaken
	case status == http.StatusUnprocessableEntity && op == OpGenerateJITConfig && isSpammed(message):
		return ErrEndpointSpammed
	case status == http.StatusUnprocessableEntity && op == OpDeleteRunner && isBusy(message):
		return ErrRunnerBusy
	case status == http.StatusUnprocessableEntity:
		return ErrInvalidRequest
	case status >= 500:
		return ErrServer
	}
	return nil
}

// notAccessibleByIntegration tells whether a 403 is GitHub's "Resource not
// accessible by integration": an installation token used on a scope its
// installation does not cover (another organization, a repository not
// selected) or without the permission the endpoint needs (REST docs
// "Permissions required for GitHub Apps": Self-hosted runners for an
// organization's runners, Administration for a repository's). It is taken
// as ErrNotInstalled: in both cases someone must change the App's
// installation before a retry can work.
func notAccessibleByIntegration(message string) bool {
	return strings.Contains(strings.ToLower(message), "resource not accessible by integration")
}

// isSpammed tells whether a 422 of generate-jitconfig is GitHub's
// "Validation failed, or the endpoint has been spammed." (REST docs
// "Self-hosted runners", github/rest-api-description: the 422 response of
// the generate-jitconfig operations). The message is the same whether a
// field failed validation or the endpoint was flooded; Octorun checks
// the name, group and labels before sending, so it is taken as transient.
// Other 422 messages (e.g. "Validation Failed" with an errors array) are
// validation errors.
func isSpammed(message string) bool {
	return strings.Contains(strings.ToLower(message), "endpoint has been spammed")
}

// isBusy tells whether a 422 of a runner's DELETE says the runner runs a
// job: `Bad request - Runner "NAME" is still running a job` (as quoted in
// actions/actions-runner-controller
// controllers/actions.summerwind.net/runner_graceful_stop.go). Other 422s
// of DELETE are other refusals.
func isBusy(message string) bool {
	return strings.Contains(strings.ToLower(message), "is still running a job")
}

// errorDetails formats the "errors" array of a GitHub error answer, one
// entry each: the message GitHub gave, or "resource.field code" (codes
// missing, missing_field, invalid, already_exists, unprocessable, custom:
// REST docs "Troubleshooting the REST API", client errors).
func errorDetails(errs []gogithub.Error) []string {
	var out []string
	for _, e := range errs {
		var where string
		switch {
		case e.Field != "" && e.Resource != "":
			where = e.Resource + "." + e.Field
		case e.Field != "":
			where = e.Field
		default:
			where = e.Resource
		}
		switch {
		case e.Message != "" && where != "":
			out = append(out, where+": "+e.Message)
		case e.Message != "":
			out = append(out, e.Message)
		case where != "" || e.Code != "":
			out = append(out, strings.TrimSpace(where+" "+e.Code))
		}
	}
	return out
}

func resourceOf(resp *http.Response) string {
	if resp == nil {
		return ""
	}
	return resp.Header.Get("X-RateLimit-Resource")
}

func runnerFrom(r *gogithub.Runner) Runner {
	out := Runner{ID: r.GetID(), Name: r.GetName(), OS: r.GetOS(), Status: r.GetStatus(), Busy: r.GetBusy()}
	for _, l := range r.Labels {
		out.Labels = append(out.Labels, l.GetName())
	}
	return out
}
