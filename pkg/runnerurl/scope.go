package runnerurl

// EnterprisesPath is the first path segment of an enterprise's runner URL,
// https://<host>/enterprises/<enterprise>: the path of an enterprise
// account's page on GitHub, and of its REST API
// (/enterprises/{enterprise}/actions/runners, REST docs "Self-hosted
// runners").
const EnterprisesPath = "enterprises"

// Scope is where self-hosted runners are registered: a GitHub enterprise,
// an organization, or a repository, on github.com or a GitHub Enterprise
// host.
type Scope struct {
	// Host is the web host of GitHub, in lower case, with a port if the URL
	// has one, e.g. "github.com" or "ghe.example.com:8443".
	Host string
	// Owner is the organization (or the repository's owner), or the
	// enterprise's slug when Enterprise is set.
	Owner string
	// Repo is the repository name; empty for an organization or enterprise
	// scope.
	Repo string
	// Enterprise tells that Owner is an enterprise: the runners are the
	// enterprise's, shared with its organizations. Repo is empty then.
	Enterprise bool
}

// IsOrganization tells whether runners of the scope belong to an
// organization, rather than a repository or an enterprise.
func (s Scope) IsOrganization() bool { return s.Repo == "" && !s.Enterprise }

// IsEnterprise tells whether runners of the scope belong to an enterprise.
func (s Scope) IsEnterprise() bool { return s.Enterprise }

// IsRepository tells whether runners of the scope belong to a repository.
func (s Scope) IsRepository() bool { return s.Repo != "" && !s.Enterprise }

// String returns "org", "owner/repo" or "enterprises/enterprise": the path
// of the scope's runner URL.
func (s Scope) String() string {
	switch {
	case s.Enterprise:
		return EnterprisesPath + "/" + s.Owner
	case s.Repo == "":
		return s.Owner
	}
	return s.Owner + "/" + s.Repo
}

// URL returns the scope's runner URL, the form Parse reads.
func (s Scope) URL() string {
	return "https://" + s.Host + "/" + s.String()
}
