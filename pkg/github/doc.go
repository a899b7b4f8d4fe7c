// Package github is Octorun's client of the GitHub REST API: just-in-time
// runner registration, runner groups, runners, and a request budget that
// keeps Octorun inside GitHub's primary and secondary rate limits.
//
// It is built on github.com/google/go-github/v50. Callers never block on the
// budget for long: when GitHub (or the budget's own pacing) says wait, an
// operation fails at once with a *RetryAfterError that says how long.
//
// The package uses no Kubernetes types; it shares the GitHub name rules
// with admission through the API package, so both accept the same URLs.
package github
