// Package githubsim is an in-memory GitHub that plays github.com (and GitHub
// Enterprise Server under /api/v3) for Octorun's tests and local playground.
//
// It serves the slice of the REST API that Octorun uses, with GitHub's JSON
// shapes, status codes and headers:
//
//	POST   /orgs/{org}/actions/runners/generate-jitconfig
//	POST   /repos/{owner}/{repo}/actions/runners/generate-jitconfig
//	GET    /orgs/{org}/actions/runners              ?per_page&page&name
//	GET    /repos/{owner}/{repo}/actions/runners    ?per_page&page&name
//	GET    /orgs/{org}/actions/runners/{id}         (and the repository variant)
//	DELETE /orgs/{org}/actions/runners/{id}         (and the repository variant)
//	GET    /orgs/{org}/actions/runner-groups        ?per_page&page
//	GET    /orgs/{org}/actions/runner-groups/{id}
//	POST   /app/installations/{id}/access_tokens    (GitHub App JWT)
//	GET    /orgs/{org}/installation                 (GitHub App JWT)
//	GET    /rate_limit
//
// Anything else is 404. Calls authenticate with "Bearer" or "token" and a
// personal access token (AddToken) or an installation token; each token (an
// installation's tokens together) has a primary rate limit and, if enabled,
// a secondary one; every 200 GET carries an ETag, and a 304 answer to
// If-None-Match costs nothing.
//
// Faults are injected on demand (Options, the Set methods, or the control
// API): latency; a fraction of calls answered 502/503, or 429 with
// Retry-After and a secondary-limit message, or left hanging until the
// client gives up (counted as 499) or a timeout answers 504; every token's
// primary limit used up at once (ExhaustPrimaryLimit) until its window
// ends; and a fraction of webhook deliveries dropped (recorded as Dropped),
// sent twice with the same X-GitHub-Delivery, or held back so that later
// ones overtake them.
//
// Behind the API it plays the runners and the jobs. A just-in-time runner is
// offline until its process starts (SetRunnerOnline, or the control API with
// the runner's encoded_jit_config). A job queued with QueueJob goes, first
// in first out, to an online idle runner in scope that has all its labels,
// runs for its duration, and its ephemeral runner then deregisters itself.
// Each step is delivered as a signed workflow_job webhook when a webhook URL
// is set.
//
// A Server is an http.Handler: unit tests mount it on an httptest.Server,
// end-to-end tests and the playground run it as a process with
// cmd/githubsim and drive it through the control API, which needs no
// credentials and is not counted in Calls:
//
//	POST   /_sim/jobs                      {owner, repo, labels, duration ("90s" or seconds), name, workflow_name, head_branch} → 201 JobJSON
//	GET    /_sim/jobs                      → [JobJSON]
//	GET    /_sim/jobs/{id}                 → JobJSON
//	POST   /_sim/jobs/{id}/complete        → JobJSON (409 unless in progress)
//	GET    /_sim/runners                   → [RunnerJSON]
//	POST   /_sim/runners                   {owner, repo, name, labels} → 201 RunnerJSON (a config.sh runner)
//	GET    /_sim/runners/{id}              → RunnerJSON
//	POST   /_sim/runners/{id}/online       → RunnerJSON (and /offline)
//	POST   /_sim/runners/by-jit-config     {encoded_jit_config} → RunnerJSON, 404 if not registered
//	GET    /_sim/calls                     → {calls: {"METHOD pattern": n}, by_status: {"200": n}}
//	DELETE /_sim/calls                     → 204, counters reset
//	GET    /_sim/deliveries                → [Delivery]
//	POST   /_sim/deliveries/{id}/redeliver → 202
//	POST   /_sim/orgs                      {name}
//	POST   /_sim/repos                     {owner, name}
//	POST   /_sim/runner-groups             {org, name} → {id}
//	POST   /_sim/tokens                    {token}
//	POST   /_sim/apps                      {app_id, public_key_pem}
//	POST   /_sim/installations             {app_id, installation_id, orgs}
//	POST   /_sim/ratelimit/exhaust         → 204, ExhaustPrimaryLimit
//	GET    /_sim/config, PUT /_sim/config  ConfigJSON: {primary_limit, secondary_points_per_minute, server_error_rate,
//	                                       too_many_requests_rate, timeout_rate, latency_ms, webhook_url, webhook_secret,
//	                                       webhook_drop_rate, webhook_duplicate_rate, webhook_reorder_rate}
package githubsim
