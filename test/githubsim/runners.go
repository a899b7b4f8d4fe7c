package githubsim

import (
	"fmt"
	"net/http"
	"strconv"
)

type labelJSON struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
}

type runnerJSON struct {
	ID            int64       `json:"id"`
	RunnerGroupID int64       `json:"runner_group_id,omitempty"`
	Name          string      `json:"name"`
	OS            string      `json:"os"`
	Status        string      `json:"status"`
	Busy          bool        `json:"busy"`
	Ephemeral     bool        `json:"ephemeral"`
	Labels        []labelJSON `json:"labels"`
}

type runnersJSON struct {
	TotalCount int          `json:"total_count"`
	Runners    []runnerJSON `json:"runners"`
}

type jitConfigJSON struct {
	Runner           runnerJSON `json:"runner"`
	EncodedJITConfig string     `json:"encoded_jit_config"`
}

type runnerGroupJSON struct {
	ID                           int64    `json:"id"`
	Name                         string   `json:"name"`
	Visibility                   string   `json:"visibility"`
	Default                      bool     `json:"default"`
	RunnersURL                   string   `json:"runners_url"`
	Inherited                    bool     `json:"inherited"`
	AllowsPublicRepositories     bool     `json:"allows_public_repositories"`
	RestrictedToWorkflows        bool     `json:"restricted_to_workflows"`
	SelectedWorkflows            []string `json:"selected_workflows"`
	WorkflowRestrictionsReadOnly bool     `json:"workflow_restrictions_read_only"`
}

type runnerGroupsJSON struct {
	TotalCount   int               `json:"total_count"`
	RunnerGroups []runnerGroupJSON `json:"runner_groups"`
}

// runnerJSONLocked renders a runner as GitHub does: system labels (those
// config.sh adds) are "read-only", the others "custom".
func (s *Server) runnerJSONLocked(r *runner) runnerJSON {
	out := runnerJSON{
		ID:        r.id,
		Name:      r.name,
		OS:        r.os,
		Status:    r.status(),
		Busy:      r.busy,
		Ephemeral: r.ephemeral,
		Labels:    make([]labelJSON, 0, len(r.labels)),
	}
	if r.repo == nil {
		out.RunnerGroupID = r.groupID
	}
	for i, l := range r.labels {
		typ := "custom"
		if i < r.systemLabels {
			typ = "read-only"
		}
		out.Labels = append(out.Labels, labelJSON{ID: s.labelID(l), Name: l, Type: typ})
	}
	return out
}

// scope is where a runner endpoint looks: an enterprise's own runners, an
// organization's, or a repository's.
type scope struct {
	ent  *enterprise // set for the enterprise (org and repo nil)
	org  *org
	repo *repo // nil for the organization
}

func (sc scope) has(r *runner) bool { return r.ent == sc.ent && r.org == sc.org && r.repo == sc.repo }

// groups are the scope's runner groups: the enterprise's or the
// organization's (a repository uses its organization's Default group).
func (sc scope) groups() []*runnerGroup {
	if sc.ent != nil {
		return sc.ent.groups
	}
	return sc.org.groups
}

// path is the scope's REST path, e.g. "/enterprises/acme".
func (sc scope) path() string {
	switch {
	case sc.ent != nil:
		return "/enterprises/" + sc.ent.slug
	case sc.repo != nil:
		return "/repos/" + sc.repo.fullName()
	}
	return "/orgs/" + sc.org.login
}

// scopeLocked resolves {org} or {owner}/{repo}; when it cannot (unknown, or
// not the installation's) it answers the call and returns false.
func (s *Server) scopeLocked(c *call) (scope, bool) {
	s.sweepLocked()
	if slug := c.r.PathValue("enterprise"); slug != "" {
		e := s.findEnterprise(slug)
		if e == nil {
			c.notFound()
			return scope{}, false
		}
		if !c.enterpriseAccess(e) {
			return scope{}, false
		}
		return scope{ent: e}, true
	}
	if owner := c.r.PathValue("owner"); owner != "" {
		r := s.findRepo(owner, c.r.PathValue("repo"))
		if r == nil {
			c.notFound()
			return scope{}, false
		}
		if !c.repoAccess(r) {
			return scope{}, false
		}
		return scope{org: r.org, repo: r}, true
	}
	o := s.findOrg(c.r.PathValue("org"))
	if o == nil {
		c.notFound()
		return scope{}, false
	}
	if !c.orgAccess(o) {
		return scope{}, false
	}
	return scope{org: o}, true
}

// runnerLocked resolves {id} within the scope, answering 404 when it is not
// there.
func (s *Server) runnerLocked(c *call, sc scope) (*runner, bool) {
	id, err := strconv.ParseInt(c.r.PathValue("id"), 10, 64)
	if err != nil {
		c.notFound()
		return nil, false
	}
	r, ok := s.runners[id]
	if !ok || !sc.has(r) {
		c.notFound()
		return nil, false
	}
	return r, true
}

type jitConfigRequest struct {
	Name          *string   `json:"name"`
	RunnerGroupID *int64    `json:"runner_group_id"`
	Labels        *[]string `json:"labels"`
	WorkFolder    *string   `json:"work_folder"`
}

const (
	jitSpammedMessage = "Validation failed, or the endpoint has been spammed."
	maxJITLabels      = 100
	maxLabelLength    = 256
	docsJIT           = "https://docs.github.com/rest/actions/self-hosted-runners#create-configuration-for-a-just-in-time-runner-for-an-organization"
)

// generateJITConfig serves POST …/actions/runners/generate-jitconfig: it
// registers an ephemeral runner (offline until its process starts) and
// returns the configuration that starts it.
func (s *Server) generateJITConfig(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.scopeLocked(c)
	if !ok {
		return
	}
	var req jitConfigRequest
	if !c.decode(&req) { // the body is in memory already: see serveAPI
		return
	}
	missing := func(key string) {
		c.error(http.StatusUnprocessableEntity, "Invalid input: object is missing required key: "+key+".", docsJIT)
	}
	switch {
	case req.Name == nil:
		missing("name")
		return
	case req.RunnerGroupID == nil:
		missing("runner_group_id")
		return
	case req.Labels == nil:
		missing("labels")
		return
	}
	if chance(s.jitSpammedRate) {
		// REST docs "Create configuration for a just-in-time runner":
		// 422 "Validation failed, or the endpoint has been spammed." A
		// client cannot tell this from its own mistake but by retrying.
		c.error(http.StatusUnprocessableEntity, jitSpammedMessage, docsJIT)
		return
	}
	name, groupID, labels := *req.Name, *req.RunnerGroupID, *req.Labels
	if name == "" {
		c.error(http.StatusUnprocessableEntity, "Invalid input: `name` must not be empty.", docsJIT)
		return
	}
	// labels: "minItems": 1, "maxItems": 100 in the REST description
	// (github/rest-api-description, generate-jitconfig request body).
	if len(labels) < 1 || len(labels) > maxJITLabels {
		c.invalid("Runner", "labels",
			fmt.Sprintf("labels must have between 1 and %d items, but has %d", maxJITLabels, len(labels)), docsJIT)
		return
	}
	for _, l := range labels {
		// A label's length limit is not documented; 256 is assumed.
		if l == "" || len(l) > maxLabelLength {
			c.invalid("Runner", "labels",
				fmt.Sprintf("label %q must be between 1 and %d characters long", l, maxLabelLength), docsJIT)
			return
		}
	}
	var group *runnerGroup
	if sc.repo == nil {
		for _, g := range sc.groups() {
			if g.id == groupID {
				group = g
			}
		}
	} else if groupID == defaultGroupID {
		group = sc.org.groups[0]
	}
	if group == nil {
		// REST docs: runner_group_id "The ID of the runner group to
		// register the runner to"; an unknown one is a validation failure
		// (422), not a missing resource.
		c.invalid("Runner", "runner_group_id", fmt.Sprintf("runner group %d does not exist", groupID), docsJIT)
		return
	}
	for _, r := range s.runners {
		if sc.has(r) && r.name == name {
			c.error(http.StatusConflict, fmt.Sprintf("Already exists - A runner with the name %s already exists.", name), docsJIT)
			return
		}
	}
	workFolder := "_work"
	if req.WorkFolder != nil && *req.WorkFolder != "" {
		workFolder = *req.WorkFolder
	}
	// A just-in-time runner's labels are exactly those sent: no defaults
	// (REST docs "Create configuration for a just-in-time runner": labels
	// "The names of the custom labels to add to the runner").
	r := s.newRunner(sc.org, sc.repo, name, group.id, nil, labels)
	r.ent = sc.ent
	r.os = osUnknown
	r.ephemeral = true
	r.jitConfig = jitConfig(r, group.name, workFolder)
	s.logf("githubsim: registered just-in-time runner %d %q in %s", r.id, r.name, sc)
	c.json(http.StatusCreated, jitConfigJSON{Runner: s.runnerJSONLocked(r), EncodedJITConfig: r.jitConfig})
}

func (sc scope) String() string {
	switch {
	case sc.ent != nil:
		return "enterprise " + sc.ent.slug
	case sc.repo != nil:
		return sc.repo.fullName()
	}
	return sc.org.login
}

// listRunners serves GET …/actions/runners: the scope's own runners (an
// organization's list leaves out its repositories' runners), by id,
// paginated, optionally filtered by exact name.
func (s *Server) listRunners(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.scopeLocked(c)
	if !ok {
		return
	}
	name, byName := c.r.URL.Query()["name"]
	var matched []*runner
	for _, r := range s.sortedRunners() {
		if sc.has(r) && (!byName || r.name == name[0]) {
			matched = append(matched, r)
		}
	}
	page, perPage := c.page()
	start, end, last := window(len(matched), page, perPage)
	out := runnersJSON{TotalCount: len(matched), Runners: make([]runnerJSON, 0, end-start)}
	for _, r := range matched[start:end] {
		out.Runners = append(out.Runners, s.runnerJSONLocked(r))
	}
	c.link(page, last)
	c.json(http.StatusOK, out)
}

// getRunner serves GET …/actions/runners/{id}.
func (s *Server) getRunner(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.scopeLocked(c)
	if !ok {
		return
	}
	r, ok := s.runnerLocked(c, sc)
	if !ok {
		return
	}
	c.json(http.StatusOK, s.runnerJSONLocked(r))
}

// deleteRunner serves DELETE …/actions/runners/{id}. A runner running a job
// cannot be removed.
func (s *Server) deleteRunner(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.scopeLocked(c)
	if !ok {
		return
	}
	r, ok := s.runnerLocked(c, sc)
	if !ok {
		return
	}
	if r.busy {
		// The text (with its stray closing quote) as GitHub answers it,
		// quoted in ARC's controllers/actions.summerwind.net/
		// runner_graceful_stop.go, which matches "is still running a job".
		c.error(http.StatusUnprocessableEntity,
			fmt.Sprintf("Bad request - Runner %q is still running a job\"", r.name), docsRunners)
		return
	}
	if chance(s.deleteUnprocessableRate) {
		// Another 422 than the busy one, so clients can be tested on
		// 422s they must not take for "busy" (REST docs list 422
		// "Validation failed, or the endpoint has been spammed." for
		// self-hosted runner endpoints).
		c.error(http.StatusUnprocessableEntity, "Validation Failed", docsRunners)
		return
	}
	delete(s.runners, r.id)
	s.logf("githubsim: deleted runner %d %q", r.id, r.name)
	c.noContent()
}

func (s *Server) runnerGroupJSON(c *call, sc scope, g *runnerGroup) runnerGroupJSON {
	return runnerGroupJSON{
		ID:                g.id,
		Name:              g.name,
		Visibility:        "all",
		Default:           g.isDefault,
		RunnersURL:        c.baseURL() + fmt.Sprintf("%s/actions/runner-groups/%d/runners", sc.path(), g.id),
		SelectedWorkflows: []string{},
	}
}

// listRunnerGroups serves GET /orgs/{org}/actions/runner-groups.
func (s *Server) listRunnerGroups(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.scopeLocked(c)
	if !ok {
		return
	}
	page, perPage := c.page()
	groups := sc.groups()
	start, end, last := window(len(groups), page, perPage)
	out := runnerGroupsJSON{TotalCount: len(groups), RunnerGroups: make([]runnerGroupJSON, 0, end-start)}
	for _, g := range groups[start:end] {
		out.RunnerGroups = append(out.RunnerGroups, s.runnerGroupJSON(c, sc, g))
	}
	c.link(page, last)
	c.json(http.StatusOK, out)
}

// getRunnerGroup serves GET /orgs/{org}/actions/runner-groups/{id}.
func (s *Server) getRunnerGroup(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.scopeLocked(c)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(c.r.PathValue("id"), 10, 64)
	if err != nil {
		c.notFound()
		return
	}
	g := sc.org.group(id)
	if g == nil {
		c.notFound()
		return
	}
	c.json(http.StatusOK, s.runnerGroupJSON(c, sc, g))
}
