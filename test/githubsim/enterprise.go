package githubsim

import (
	"fmt"
	"net/http"
	"strings"
)

// enterprise is an enterprise account: organizations, and runners of its
// own (REST docs "Self-hosted runners", enterprise endpoints; GitHub docs
// "About self-hosted runners": "Enterprise-level runners can be assigned to
// multiple organizations in an enterprise account").
type enterprise struct {
	id     int64
	slug   string
	groups []*runnerGroup // groups[0] is Default
}

// AddEnterprise adds an enterprise (if new) and puts organizations (added
// if new) in it. An organization belongs to one enterprise at most: adding
// it to another moves it.
func (s *Server) AddEnterprise(slug string, orgs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.ensureEnterprise(slug)
	for _, login := range orgs {
		s.ensureOrg(login).enterprise = e
	}
}

func (s *Server) ensureEnterprise(slug string) *enterprise {
	if e, ok := s.enterprises[strings.ToLower(slug)]; ok {
		return e
	}
	e := &enterprise{
		id:     s.nextOrgID,
		slug:   slug,
		groups: []*runnerGroup{{id: defaultGroupID, name: defaultGroupName, isDefault: true}},
	}
	s.nextOrgID++
	s.enterprises[strings.ToLower(slug)] = e
	return e
}

func (s *Server) findEnterprise(slug string) *enterprise {
	return s.enterprises[strings.ToLower(slug)]
}

func (e *enterprise) group(id int64) *runnerGroup { return groupByID(e.groups, id) }

// groupOfLocked is the runner group a runner is in.
func (s *Server) groupOfLocked(r *runner) *runnerGroup {
	if r.ent != nil {
		return r.ent.group(r.groupID)
	}
	return r.org.group(r.groupID)
}

// enterpriseAccess answers 403 "Resource not accessible by integration" and
// returns false when an installation token is used on an enterprise's
// self-hosted runners. The REST docs of every enterprise runner endpoint
// ("Self-hosted runners": "List self-hosted runners for an enterprise",
// "Create configuration for a just-in-time runner for an enterprise", ...)
// say: "This endpoint does not work with GitHub App user access tokens,
// GitHub App installation access tokens, or fine-grained personal access
// tokens"; a personal access token (classic) with manage_runners:enterprise
// is needed. So an App installed on the enterprise is refused too.
func (c *call) enterpriseAccess(e *enterprise) bool {
	if c.principal == nil || c.principal.installation == nil {
		return true
	}
	c.error(http.StatusForbidden, notAccessibleMessage, docsREST)
	return false
}

// enterpriseJSON is the enterprise object of webhook payloads (github/docs
// "Webhook events and payloads": enterprise, present when the event's
// organization belongs to an enterprise).
type enterpriseJSON struct {
	ID      int64  `json:"id"`
	Slug    string `json:"slug"`
	Name    string `json:"name"`
	NodeID  string `json:"node_id"`
	HTMLURL string `json:"html_url"`
}

func enterpriseJSONOf(e *enterprise) *enterpriseJSON {
	return &enterpriseJSON{
		ID:      e.id,
		Slug:    e.slug,
		Name:    e.slug,
		NodeID:  nodeID("E", e.id),
		HTMLURL: fmt.Sprintf("%s/enterprises/%s", webHost, e.slug),
	}
}

// getEnterpriseInstallation serves GET /enterprises/{enterprise}/installation
// (REST docs "Apps": "Get an enterprise installation for the authenticated
// app"): 404 when the app is not installed on it.
func (s *Server) getEnterpriseInstallation(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.findEnterprise(c.r.PathValue("enterprise"))
	if e == nil {
		c.notFound()
		return
	}
	for _, inst := range s.sortedInstallationsLocked() {
		if inst.appID == c.app.id && inst.enterprises[strings.ToLower(e.slug)] {
			c.json(http.StatusOK, s.installationJSON(c, inst, accountJSON{Login: e.slug, ID: e.id, Type: "Enterprise"}))
			return
		}
	}
	c.notFound()
}

// getRepoInstallation serves GET /repos/{owner}/{repo}/installation (REST
// docs "Apps": "Get a repository installation for the authenticated app"):
// the app's installation on the repository or its organization, 404 when
// there is none.
func (s *Server) getRepoInstallation(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.findRepo(c.r.PathValue("owner"), c.r.PathValue("repo"))
	if r == nil {
		c.notFound()
		return
	}
	for _, inst := range s.sortedInstallationsLocked() {
		if inst.appID == c.app.id && inst.coversRepo(r) {
			c.json(http.StatusOK, s.installationJSON(c, inst, accountJSON{Login: r.org.login, ID: r.org.id, Type: "Organization"}))
			return
		}
	}
	c.notFound()
}
