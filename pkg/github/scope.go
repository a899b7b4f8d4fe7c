package github

import (
	"net/url"
	"strings"

	"github.com/octorun/octorun/pkg/runnerurl"
)

// Scope is where self-hosted runners are registered: a GitHub enterprise
// (Enterprise set, Owner the enterprise's slug), an organization, or a
// repository, on github.com or a GitHub Enterprise host.
type Scope = runnerurl.Scope

// ParseScope parses a Runner URL: https://<host>/<org> for an organization,
// https://<host>/<owner>/<repo> for a repository or
// https://<host>/enterprises/<enterprise> for an enterprise, by the grammar
// of runnerurl.Parse, which the admission webhook applies too.
func ParseScope(rawURL string) (Scope, error) {
	return runnerurl.Parse(rawURL)
}

// APIURL returns the REST API base URL of a GitHub host, with a trailing
// slash: https://api.github.com/ for github.com, https://api.<host>/ for
// GitHub Enterprise Cloud with data residency (*.ghe.com), and
// https://<host>/api/v3/ for GitHub Enterprise Server.
func APIURL(host string) string {
	host = strings.ToLower(host)
	switch {
	case host == "github.com" || host == "www.github.com":
		return "https://api.github.com/"
	case strings.HasSuffix(host, ".ghe.com"):
		return "https://api." + host + "/"
	default:
		return "https://" + host + "/api/v3/"
	}
}

// scopePath returns the API path of the scope: "orgs/{org}",
// "repos/{owner}/{repo}" or "enterprises/{enterprise}" (REST docs
// "Self-hosted runners" and "Self-hosted runner groups"; go-github v53+
// enterprise_actions_runners.go, enterprise_actions_runner_groups.go).
func scopePath(s Scope) string {
	switch {
	case s.IsEnterprise():
		return "enterprises/" + url.PathEscape(s.Owner)
	case s.IsOrganization():
		return "orgs/" + url.PathEscape(s.Owner)
	}
	return "repos/" + url.PathEscape(s.Owner) + "/" + url.PathEscape(s.Repo)
}

// runnersPath returns the API path of the scope's runners endpoint.
func runnersPath(s Scope) string {
	return scopePath(s) + "/actions/runners"
}

// runnerGroupsPath returns the API path of the runner groups of an
// organization or enterprise; repositories have none of their own.
func runnerGroupsPath(s Scope) string {
	return scopePath(s) + "/actions/runner-groups"
}
