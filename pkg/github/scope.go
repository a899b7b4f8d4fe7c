package github

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// Scope is where self-hosted runners are registered: a GitHub organization,
// or a repository, on github.com or a GitHub Enterprise Server host.
type Scope struct {
	// Host is the web host of GitHub, e.g. "github.com" or "ghe.example.com".
	Host string
	// Owner is the organization (or the repository's owner).
	Owner string
	// Repo is the repository name; empty for an organization scope.
	Repo string
}

// ParseScope parses a Runner URL: https://<host>/<org> for an organization or
// https://<host>/<owner>/<repo> for a repository. Anything else (another
// scheme, credentials, a query, a fragment, more path) is an error, and so
// are a host, owner or repository name the Runner API does not allow (see
// v1alpha1.ValidateGitHubHost, ValidateGitHubOwner and ValidateGitHubRepo,
// which the admission webhook applies too).
func ParseScope(rawURL string) (Scope, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Scope{}, fmt.Errorf("invalid GitHub URL %q: %w", rawURL, err)
	}
	invalid := func(why string) (Scope, error) {
		return Scope{}, fmt.Errorf("invalid GitHub URL %q: %s; want https://<host>/<org> or https://<host>/<owner>/<repo>", rawURL, why)
	}
	switch {
	case u.Scheme != "https":
		return invalid("scheme must be https")
	case u.User != nil:
		return invalid("must not contain credentials")
	case u.Host == "" || u.Hostname() == "":
		return invalid("no host")
	case u.RawQuery != "" || u.ForceQuery:
		return invalid("must not have a query")
	case u.Fragment != "" || strings.Contains(rawURL, "#"):
		return invalid("must not have a fragment")
	case u.Opaque != "":
		return invalid("no path")
	}
	// url.Parse decodes percent-encodings in the host, so a host such as
	// "gh%25.example.com" would make a Scope whose URL is no URL.
	if err := v1alpha1.ValidateGitHubHost(u.Host); err != nil {
		return invalid(err.Error())
	}
	parts := strings.Split(strings.TrimPrefix(u.EscapedPath(), "/"), "/")
	if len(parts) < 1 || len(parts) > 2 || parts[0] == "" {
		return invalid("path must be /<org> or /<owner>/<repo>")
	}
	s := Scope{Host: strings.ToLower(u.Host), Owner: parts[0]}
	if err := v1alpha1.ValidateGitHubOwner(s.Owner); err != nil {
		return invalid(err.Error())
	}
	if len(parts) == 2 {
		s.Repo = parts[1]
		if err := v1alpha1.ValidateGitHubRepo(s.Repo); err != nil {
			return invalid(err.Error())
		}
	}
	return s, nil
}

// IsOrganization tells whether runners of the scope belong to an
// organization rather than a repository.
func (s Scope) IsOrganization() bool { return s.Repo == "" }

// String returns "org" or "owner/repo".
func (s Scope) String() string {
	if s.IsOrganization() {
		return s.Owner
	}
	return s.Owner + "/" + s.Repo
}

// URL returns the scope's web URL, the form ParseScope reads.
func (s Scope) URL() string {
	return "https://" + s.Host + "/" + s.String()
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

// path returns the API path of the scope's runners endpoint.
func (s Scope) runnersPath() string {
	if s.IsOrganization() {
		return "orgs/" + url.PathEscape(s.Owner) + "/actions/runners"
	}
	return "repos/" + url.PathEscape(s.Owner) + "/" + url.PathEscape(s.Repo) + "/actions/runners"
}
