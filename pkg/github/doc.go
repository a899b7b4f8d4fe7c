// Package github is Octorun's client of the GitHub REST API: just-in-time
// runner registration, runner groups, runners, and a request budget that
// keeps Octorun inside GitHub's primary and secondary rate limits.
//
// It is built on github.com/google/go-github/v50. Callers never block on the
// budget for long: when GitHub (or the budget's own pacing) says wait, an
// operation fails at once with a *RetryAfterError that says how long, and
// no request of that credential goes out before the wait is over.
//
// Scopes are organizations, repositories and enterprises. A GitHub App
// serves every scope it is installed on: the client finds each scope's
// installation and keeps a token source, a budget and conditional-request
// entries per installation. A scope the App is not installed on fails with
// ErrNotInstalled.
//
// Errors wrap sentinels to test with errors.Is; Message returns GitHub's
// own message of a failed call, for users to read.
//
// The package imports no Kubernetes package. A Scope is a runnerurl.Scope:
// ParseScope reads runner URLs by the grammar the admission webhook applies
// too, so both accept the same URLs.
package github
