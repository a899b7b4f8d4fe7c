// Package runnerurl is the grammar of a runner URL, the spec.url of a
// Runner: https://<host>/<organization> for runners of an organization,
// https://<host>/<owner>/<repository> for runners of a repository, or
// https://<host>/enterprises/<enterprise> for runners of an enterprise, on
// github.com or a GitHub Enterprise host.
//
// Parse reads a runner URL into a Scope, or says what is wrong with it. The
// admission webhook refuses what Parse refuses, and the controllers and the
// GitHub client use the Scope it returns, so a URL admitted is a URL the
// controllers can use. The package also holds GitHub's rules for the names
// in a runner URL (ValidateHost, ValidateOwner, ValidateRepo,
// ValidateEnterprise) and for the
// name of a runner (MaxRunnerNameLength).
//
// The package imports only the standard library, so that every package of
// Octorun can use it, whatever else it may import.
package runnerurl
