// Package githubsim is an in-memory GitHub that plays github.com (and GitHub
// Enterprise Server under /api/v3) for Octorun's tests and local playground.
//
// It serves the slice of the REST API that Octorun uses, with GitHub's JSON
// shapes, status codes and headers:
//
//	POST   /orgs/{org}/actions/runners/generate-jitconfig
//	POST   /repos/{owner}/{repo}/actions/runners/generate-jitconfig
//	POST   /enterprises/{enterprise}/actions/runners/generate-jitconfig
//	GET    /orgs/{org}/actions/runners              ?per_page&page&name
//	GET    /repos/{owner}/{repo}/actions/runners    ?per_page&page&name
//	GET    /enterprises/{enterprise}/actions/runners ?per_page&page&name
//	GET    /orgs/{org}/actions/runners/{id}         (and the repository and enterprise variants)
//	DELETE /orgs/{org}/actions/runners/{id}         (and the repository and enterprise variants)
//	GET    /orgs/{org}/actions/runner-groups        ?per_page&page (and the enterprise variant)
//	GET    /orgs/{org}/actions/runner-groups/{id}
//	POST   /app/installations/{id}/access_tokens    (GitHub App JWT)
//	GET    /orgs/{org}/installation                 (GitHub App JWT)
//	GET    /repos/{owner}/{repo}/installation       (GitHub App JWT)
//	GET    /enterprises/{enterprise}/installation   (GitHub App JWT)
//	GET    /rate_limit
//
// (Enterprise accounts, /enterprises/{enterprise}, are not GitHub Enterprise
// Server's /api/v3 prefix: both work, e.g. /api/v3/enterprises/acme/….)
//
// Anything else is 404. Calls authenticate with "Bearer" or "token" and a
// personal access token (AddToken, any scope) or an installation token (only
// its installation's organizations, repositories or enterprise: elsewhere
// 403 "Resource not accessible by integration"); each token (an
// installation's tokens together) has a primary rate limit and, if enabled,
// a secondary one. Over the primary limit GitHub answers 403 or 429
// (Options.PrimaryLimitStatus) with x-ratelimit-remaining 0; over a
// secondary limit 403 or 429 (SecondaryLimit429Share) with today's
// documentation_url and, but for a share (SecondaryNoRetryAfterRate),
// Retry-After. Every 200 GET carries an ETag, which differs per token, and a
// 304 answer to If-None-Match costs nothing. Validation failures answer 422
// "Validation Failed" with field errors; generate-jitconfig may answer 422
// "Validation failed, or the endpoint has been spammed." (JITSpammedRate),
// DELETE of a busy runner 422 "Bad request - Runner "NAME" is still running
// a job", of an idle one sometimes 422 "Validation Failed"
// (DeleteUnprocessableRate).
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
// Behind the API it plays the runners and the jobs. A just-in-time runner
// has exactly the labels it was registered with and is offline until its
// process connects (ConnectRunner with the runner's version: below
// Options.MinRunnerVersion, default 2.329.0, it is refused as deprecated; a
// second process is a session conflict). A job queued with QueueJob goes,
// first in first out, to an online idle runner in scope (repository,
// organization, or the enterprise of its organization) that has all its
// labels, compared without regard to case, runs for its duration, and its
// ephemeral runner is then removed whatever the conclusion (FinishJob). An
// ephemeral runner offline for Options.NeverConnectedTTL (a day) is
// removed, others after 14 days. Each step is delivered as a signed
// workflow_job webhook when a webhook URL is set; organizations of an
// enterprise carry its enterprise object.
//
// A Server is an http.Handler: unit tests mount it on an httptest.Server,
// end-to-end tests and the playground run it as a process with
// cmd/githubsim and drive it through the control API, which needs no
// credentials and is not counted in Calls:
//
//	POST   /_sim/jobs                      {owner, repo, labels, duration ("90s" or seconds), name, workflow_name, head_branch} → 201 JobJSON
//	GET    /_sim/jobs                      → [JobJSON]
//	GET    /_sim/jobs/{id}                 → JobJSON
//	POST   /_sim/jobs/{id}/complete        {conclusion} (optional: success, failure, cancelled) → JobJSON (409 if it cannot)
//	GET    /_sim/runners                   → [RunnerJSON]
//	POST   /_sim/runners                   {owner, repo, name, labels} → 201 RunnerJSON (a config.sh runner)
//	GET    /_sim/runners/{id}              → RunnerJSON
//	POST   /_sim/runners/{id}/online       {version} (optional) → RunnerJSON (and /offline); 403 version deprecated
//	POST   /_sim/runners/{id}/connect      {version} (optional) → RunnerJSON; 404 not_found, 403 version_deprecated,
//	                                       409 session_conflict ({message, reason})
//	GET    /_sim/connections               → ConnectionCounts {accepted, version_deprecated, session_conflict, not_found}
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
//	POST   /_sim/installations             {app_id, installation_id, orgs, repos ("owner/name"), enterprise}
//	POST   /_sim/enterprises               {name, orgs}
//	POST   /_sim/ratelimit/exhaust         → 204, ExhaustPrimaryLimit
//	GET    /_sim/config, PUT /_sim/config  ConfigJSON: {primary_limit, secondary_points_per_minute, server_error_rate,
//	                                       too_many_requests_rate, timeout_rate, latency_ms, webhook_url, webhook_secret,
//	                                       webhook_drop_rate, webhook_duplicate_rate, webhook_reorder_rate,
//	                                       min_runner_version ("" none), never_connected_ttl ("30s" or seconds),
//	                                       jit_spammed_rate, delete_unprocessable_rate, primary_limit_status (403|429),
//	                                       secondary_limit_429_share, secondary_no_retry_after_rate,
//	                                       secondary_legacy_docs_url}
package githubsim
