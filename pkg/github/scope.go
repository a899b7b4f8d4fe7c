package github

import (
	"net/url"
	"strings"

	"github.com/octorun/octorun/pkg/runnerurl"
)

// Scope is where self-hosted runners are registered: a GitHub organization,
// or a repository, on github.com or a GitHub Enterprise host.
type Scope = runnerurl.Scope

// ParseScope parses a Runner URL: https://<host>/<org> for an organization or
// https://<host>/<owner>/<repo> for a repository, by the grammar of
// runnerurl.Parse, which the admission webhook applies too.
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

// runnersPath returns the API path of the scope's runners endpoint.
func runnersPath(s Scope) string {
	if s.IsOrganization() {
		return "orgs/" + url.PathEscape(s.Owner) + "/actions/runners"
	}
	return "repos/" + url.PathEscape(s.Owner) + "/" + url.PathEscape(s.Repo) + "/actions/runners"
}
