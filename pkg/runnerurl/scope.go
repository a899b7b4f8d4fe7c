package runnerurl

// Scope is where self-hosted runners are registered: a GitHub organization,
// or a repository, on github.com or a GitHub Enterprise host.
type Scope struct {
	// Host is the web host of GitHub, in lower case, with a port if the URL
	// has one, e.g. "github.com" or "ghe.example.com:8443".
	Host string
	// Owner is the organization (or the repository's owner).
	Owner string
	// Repo is the repository name; empty for an organization scope.
	Repo string
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

// URL returns the scope's runner URL, the form Parse reads.
func (s Scope) URL() string {
	return "https://" + s.Host + "/" + s.String()
}
