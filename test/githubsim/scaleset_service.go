package githubsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

// The Actions service endpoints a runner scale set client talks to. The
// client learns the service's URL from POST /actions/runner-registration;
// the simulator hands out its own address, under actionsPrefix, so a client
// pointed at the simulator's GitHub URL (a GitHub Enterprise Server style
// URL, http://HOST/ORG, whose API is http://HOST/api/v3: actions/scaleset
// config.go gitHubAPIURL) talks to the simulator throughout.

// actionsPrefix is the path under which the simulator serves the Actions
// service, one tenant per scope: /_actions/{tenant}/_apis/….
const actionsPrefix = "/_actions/"

// actionsException is the Actions service's error document (the
// DistributedTask server's wrapped exception); the client reads typeName
// and message (actions/scaleset errors.go actionsExceptionError) and maps
// typeNames containing AgentExistsException, AgentNotFoundException and
// JobStillRunningException to its own errors.
type actionsException struct {
	ID             string `json:"$id"`
	InnerException any    `json:"innerException"`
	Message        string `json:"message"`
	TypeName       string `json:"typeName"`
	TypeKey        string `json:"typeKey"`
	ErrorCode      int    `json:"errorCode"`
	EventID        int    `json:"eventId"`
}

// Exception names and their statuses, as the DistributedTask server maps
// them (DistributedTaskExceptionMapper of Azure DevOps Server, the service
// GitHub Actions' runner service descends from: TaskAgentExistsException
// 409, TaskAgentNotFoundException 404, TaskAgentJobStillRunningException
// 400, TaskAgentSessionConflictException 409). The names of the others are
// the simulator's own: the client reads only the status and the message.
const (
	excAgentExists      = "TaskAgentExistsException"
	excAgentNotFound    = "TaskAgentNotFoundException"
	excJobStillRunning  = "TaskAgentJobStillRunningException"
	excSessionConflict  = "TaskAgentSessionConflictException"
	excScaleSetNotFound = "RunnerScaleSetNotFoundException"
	excScaleSetExists   = "RunnerScaleSetExistsException"
	excSessionNotFound  = "TaskAgentSessionNotFoundException"
	excMessageNotFound  = "TaskAgentMessageNotFoundException"
	excArgument         = "ArgumentException"
	excGroupNotFound    = "TaskAgentPoolNotFoundException"
)

// actionsCall is one call to the Actions service: the request, the grant
// of its admin token, and the answer being built.
type actionsCall struct {
	s      *Server
	r      *http.Request
	grant  *serviceGrant
	status int
	body   []byte
	header http.Header
}

func (c *actionsCall) json(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("githubsim: marshal %T: %v", v, err))
	}
	c.status, c.body = status, b
	c.header.Set("Content-Type", "application/json; charset=utf-8")
}

func (c *actionsCall) exception(status int, typeName, format string, args ...any) {
	c.json(status, actionsException{
		ID: "1", Message: fmt.Sprintf(format, args...),
		TypeName: "GitHub.DistributedTask.WebApi." + typeName + ", GitHub.DistributedTask.WebApi",
		TypeKey:  typeName, EventID: 3000,
	})
}

func (c *actionsCall) noContent() { c.status, c.body = http.StatusNoContent, nil }

// decode reads the JSON body; a malformed one is answered 400.
func (c *actionsCall) decode(v any) bool {
	if err := json.NewDecoder(io.LimitReader(c.r.Body, maxBodyBytes)).Decode(v); err != nil {
		c.exception(http.StatusBadRequest, excArgument, "Invalid request body: %v", err)
		return false
	}
	return true
}

// actionsAuth says how an Actions service endpoint authenticates.
type actionsAuth int

const (
	// actionsAdmin: the admin token of runner-registration, for the
	// tenant in the path.
	actionsAdmin actionsAuth = iota
	// actionsQueue: the message queue token of the session in the path.
	actionsQueue
)

func (s *Server) actionsMux() *http.ServeMux {
	mux := http.NewServeMux()
	route := func(pattern string, auth actionsAuth, h func(*actionsCall)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { s.serveActions(w, r, auth, h) })
	}
	const base = actionsPrefix + "{tenant}/_apis/"
	route("GET "+base+"runtime/runnerscalesets", actionsAdmin, s.listScaleSets)
	route("POST "+base+"runtime/runnerscalesets", actionsAdmin, s.createScaleSet)
	route("GET "+base+"runtime/runnerscalesets/{id}", actionsAdmin, s.getScaleSet)
	route("PATCH "+base+"runtime/runnerscalesets/{id}", actionsAdmin, s.updateScaleSet)
	route("DELETE "+base+"runtime/runnerscalesets/{id}", actionsAdmin, s.deleteScaleSet)
	route("POST "+base+"runtime/runnerscalesets/{id}/generatejitconfig", actionsAdmin, s.generateScaleSetJIT)
	route("POST "+base+"runtime/runnerscalesets/{id}/sessions", actionsAdmin, s.createSession)
	route("PATCH "+base+"runtime/runnerscalesets/{id}/sessions/{session}", actionsAdmin, s.refreshSession)
	route("DELETE "+base+"runtime/runnerscalesets/{id}/sessions/{session}", actionsAdmin, s.deleteSession)
	route("GET "+base+"runtime/runnerscalesets/{id}/messages", actionsQueue, s.getMessage)
	route("DELETE "+base+"runtime/runnerscalesets/{id}/messages/{message}", actionsQueue, s.deleteMessage)
	route("GET "+base+"runtime/runnergroups/", actionsAdmin, s.listServiceRunnerGroups)
	route("GET "+base+"runtime/runnergroups", actionsAdmin, s.listServiceRunnerGroups)
	route("GET "+base+"distributedtask/pools/0/agents", actionsAdmin, s.listAgents)
	route("GET "+base+"distributedtask/pools/0/agents/{id}", actionsAdmin, s.getAgent)
	route("DELETE "+base+"distributedtask/pools/0/agents/{id}", actionsAdmin, s.deleteAgent)
	mux.HandleFunc(actionsPrefix, func(w http.ResponseWriter, r *http.Request) {
		s.serveActions(w, r, -1, func(c *actionsCall) {
			c.exception(http.StatusNotFound, "NotFoundException", "No route for %s %s", r.Method, r.URL.Path)
		})
	})
	return mux
}

// serveActions authenticates an Actions service call, runs it, and writes
// and counts the answer (under "METHOD pattern", like REST calls). Each
// answer carries an ActivityId, which the client quotes in its errors
// (actions/scaleset errors.go newRequestResponseError).
func (s *Server) serveActions(w http.ResponseWriter, r *http.Request, auth actionsAuth, h func(*actionsCall)) {
	c := &actionsCall{s: s, r: r, header: http.Header{}}
	key := r.Method + " " + UnmatchedPattern
	if _, path, ok := strings.Cut(r.Pattern, " "); ok {
		key = r.Method + " " + path
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		c.exception(http.StatusBadRequest, excArgument, "Unreadable body")
	} else {
		r.Body = io.NopCloser(bytes.NewReader(body))
		if s.actionsAuthenticate(c, auth) {
			h(c)
		}
	}
	s.count(key, c.status)
	h2 := w.Header()
	for k, v := range c.header {
		h2[k] = v
	}
	h2.Set("ActivityId", newUUID())
	if c.body != nil {
		h2.Set("Content-Length", strconv.Itoa(len(c.body)))
	}
	w.WriteHeader(c.status)
	if c.body != nil {
		_, _ = w.Write(c.body)
	}
}

// actionsAuthenticate checks the bearer token: an admin token for the
// tenant in the path, or (for the message queue) the session's token. A
// missing, unknown or expired token is answered 401: for the queue the
// client then refreshes its session (actions/scaleset session_client.go
// getMessage, deleteMessage: 401 is MessageQueueTokenExpiredError).
func (s *Server) actionsAuthenticate(c *actionsCall, auth actionsAuth) bool {
	if auth < 0 {
		return true
	}
	token, _ := credentials(c.r)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scaleSets.init()
	unauthorized := func() bool {
		c.status, c.body = http.StatusUnauthorized, nil
		return false
	}
	if auth == actionsQueue {
		set := s.scaleSetInPathLocked(c.r)
		sess := (*scaleSetSession)(nil)
		if set != nil {
			sess = set.session
		}
		if sess == nil || token == "" || token != sess.token || c.r.URL.Query().Get("sessionId") != sess.id || !s.now().Before(sess.tokenExpires) {
			return unauthorized()
		}
		return true
	}
	g := s.scaleSets.adminTokens[token]
	if g == nil || g.tenant != c.r.PathValue("tenant") || !s.now().Before(g.expires) {
		return unauthorized()
	}
	c.grant = g
	return true
}

// scaleSetInPathLocked is the scale set {id} names, whoever owns it.
func (s *Server) scaleSetInPathLocked(r *http.Request) *scaleSet {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil
	}
	return s.scaleSets.sets[id]
}

// scaleSetLocked resolves {id} among the grant's scale sets, answering 404
// when it is not there.
func (s *Server) scaleSetLocked(c *actionsCall) (*scaleSet, bool) {
	set := s.scaleSetInPathLocked(c.r)
	if set == nil || set.sc != c.grant.sc {
		c.exception(http.StatusNotFound, excScaleSetNotFound, "Runner scale set %s not found.", c.r.PathValue("id"))
		return nil, false
	}
	return set, true
}

// registrationTokenJSON is REST's "Create a registration token" answer.
type registrationTokenJSON struct {
	Token     string `json:"token"`
	ExpiresAt string `json:"expires_at"`
}

// createRegistrationToken serves POST …/actions/runners/registration-token
// (REST docs "Create a registration token for an organization": 201, a
// token that "expires after one hour"). actions/scaleset client.go
// getRunnerRegistrationToken calls it with the PAT or an installation token
// and expects 201.
func (s *Server) createRegistrationToken(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.scopeLocked(c)
	if !ok {
		return
	}
	s.scaleSets.init()
	token := "A" + strings.ToUpper(randomAlnum(28))
	expires := s.now().Add(serviceTokenTTL).UTC().Truncate(time.Second)
	s.scaleSets.registrationTokens[token] = &serviceGrant{sc: sc, tenant: s.tenantLocked(sc), expires: expires}
	c.json(http.StatusCreated, registrationTokenJSON{Token: token, ExpiresAt: expires.Format(time.RFC3339)})
}

func (s *Server) tenantLocked(sc scope) string {
	key := strings.ToLower(sc.path())
	t, ok := s.scaleSets.tenants[key]
	if !ok {
		t = randomAlnum(20)
		s.scaleSets.tenants[key] = t
	}
	return t
}

// adminConnectionJSON is runner-registration's answer (actions/scaleset
// client.go actionsServiceAdminConnection: "url", "token").
type adminConnectionJSON struct {
	URL   string `json:"url"`
	Token string `json:"token"`
}

// serveRunnerRegistration serves POST /actions/runner-registration, the
// exchange of a registration token (Authorization: RemoteAuth TOKEN) and
// the config URL for the Actions service's URL and an admin token, a JWT
// whose exp the client reads to refresh it a minute early (actions/scaleset
// client.go getActionsServiceAdminConnection, updateTokenIfNeeded). The
// client takes any 2xx; it retries 401 and 403, which the simulator answers
// for an unknown or expired registration token.
func (s *Server) serveRunnerRegistration(w http.ResponseWriter, r *http.Request) {
	c := &call{s: s, r: r, header: http.Header{}}
	defer func() {
		s.count(r.Method+" /actions/runner-registration", c.status)
		c.write(w)
	}()
	scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	var req struct {
		URL         string `json:"url"`
		RunnerEvent string `json:"runner_event"`
	}
	if !c.decode(&req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scaleSets.init()
	g := s.scaleSets.registrationTokens[strings.TrimSpace(token)]
	if !strings.EqualFold(scheme, "RemoteAuth") || g == nil || !s.now().Before(g.expires) {
		c.error(http.StatusUnauthorized, "Bad credentials", docsREST)
		return
	}
	// A config URL of another scope than the token's is 404 (assumed).
	if req.URL == "" || !strings.HasSuffix(strings.ToLower(strings.TrimRight(req.URL, "/")), strings.ToLower(configPath(g.sc))) {
		c.error(http.StatusNotFound, "Not Found", docsREST)
		return
	}
	expires := s.now().Add(serviceTokenTTL)
	admin, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		IssuedAt:  jwt.NewNumericDate(s.now()),
		ExpiresAt: jwt.NewNumericDate(expires),
		Issuer:    "githubsim",
		ID:        newUUID(),
	}).SignedString([]byte(randomHex(16)))
	if err != nil {
		panic(fmt.Sprintf("githubsim: sign admin token: %v", err))
	}
	s.scaleSets.adminTokens[admin] = &serviceGrant{sc: g.sc, tenant: g.tenant, expires: expires}
	scheme = "http"
	if r.TLS != nil {
		scheme = "https"
	}
	c.json(http.StatusOK, adminConnectionJSON{URL: scheme + "://" + r.Host + actionsPrefix + g.tenant + "/", Token: admin})
}

// configPath is the path of a scope's config URL: /ORG, /OWNER/REPO or
// /enterprises/SLUG (actions/scaleset config.go parseGitHubConfigFromURL).
func configPath(sc scope) string {
	switch {
	case sc.ent != nil:
		return "/enterprises/" + sc.ent.slug
	case sc.repo != nil:
		return "/" + sc.repo.fullName()
	}
	return "/" + sc.org.login
}

// scaleSetJSON is a scale set as the service renders it (actions/scaleset
// types.go RunnerScaleSet).
type scaleSetJSON struct {
	ID                 int64           `json:"id"`
	Name               string          `json:"name"`
	RunnerGroupID      int64           `json:"runnerGroupId"`
	RunnerGroupName    string          `json:"runnerGroupName"`
	Labels             []scaleSetLabel `json:"labels"`
	RunnerSetting      runnerSetting   `json:"RunnerSetting"`
	CreatedOn          time.Time       `json:"createdOn"`
	RunnerJitConfigURL string          `json:"runnerJitConfigUrl"`
	Statistics         *statisticsJSON `json:"statistics"`
}

type runnerSetting struct {
	DisableUpdate bool `json:"disableUpdate,omitempty"`
}

type scaleSetRequest struct {
	Name          string          `json:"name"`
	RunnerGroupID int64           `json:"runnerGroupId"`
	Labels        []scaleSetLabel `json:"labels"`
	RunnerSetting runnerSetting   `json:"RunnerSetting"`
}

func (s *Server) scaleSetJSONLocked(c *actionsCall, set *scaleSet) scaleSetJSON {
	stats := s.statisticsLocked(set)
	return scaleSetJSON{
		ID: set.id, Name: set.name, RunnerGroupID: set.groupID, RunnerGroupName: set.groupName,
		Labels: append([]scaleSetLabel{}, set.labels...), RunnerSetting: runnerSetting{DisableUpdate: set.disableUpdate},
		CreatedOn:          set.createdOn,
		RunnerJitConfigURL: fmt.Sprintf("%s://%s%s%s/_apis/runtime/runnerscalesets/%d/generatejitconfig", schemeOf(c.r), c.r.Host, actionsPrefix, c.grant.tenant, set.id),
		Statistics:         &stats,
	}
}

func schemeOf(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// listJSON is the service's list envelope: {"count": N, "value": [...]}
// (actions/scaleset types.go runnerScaleSetsResponse, RunnerGroupList,
// RunnerReferenceList).
type listJSON[T any] struct {
	Count int `json:"count"`
	Value []T `json:"value"`
}

// listScaleSets serves GET …/runnerscalesets?runnerGroupId=&name= for
// actions/scaleset client.go GetRunnerScaleSet: 200 with count 0 or 1 (the
// client errs on more), names compared without regard to case (assumed).
func (s *Server) listScaleSets(c *actionsCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := c.r.URL.Query()
	out := listJSON[scaleSetJSON]{Value: []scaleSetJSON{}}
	for _, set := range s.sortedScaleSetsLocked() {
		if set.sc != c.grant.sc {
			continue
		}
		if g := q.Get("runnerGroupId"); g != "" && g != strconv.FormatInt(set.groupID, 10) {
			continue
		}
		if n := q.Get("name"); n != "" && !strings.EqualFold(n, set.name) {
			continue
		}
		out.Value = append(out.Value, s.scaleSetJSONLocked(c, set))
	}
	out.Count = len(out.Value)
	c.json(http.StatusOK, out)
}

// getScaleSet serves GET …/runnerscalesets/{id} (actions/scaleset
// client.go GetRunnerScaleSetByID: 200); an unknown id is 404 (assumed).
func (s *Server) getScaleSet(c *actionsCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set, ok := s.scaleSetLocked(c)
	if !ok {
		return
	}
	c.json(http.StatusOK, s.scaleSetJSONLocked(c, set))
}

// groupForScaleSetLocked resolves a runner group id of the grant's scope; 0
// means the Default group (the client sends none for it: types.go
// RunnerGroupID omitempty).
func (s *Server) groupForScaleSetLocked(c *actionsCall, id int64) (*runnerGroup, bool) {
	if id == 0 {
		id = defaultGroupID
	}
	groups := c.grant.sc.groups()
	if c.grant.sc.repo != nil {
		groups = groups[:1]
	}
	g := groupByID(groups, id)
	if g == nil {
		c.exception(http.StatusNotFound, excGroupNotFound, "Runner group %d not found.", id)
		return nil, false
	}
	return g, true
}

// validLabels checks a scale set's labels: at least one, none empty. The
// client gives each a type ("System" when empty: client.go
// applyDefaultLabelTypes).
func validScaleSetLabels(c *actionsCall, labels []scaleSetLabel) bool {
	if len(labels) == 0 {
		c.exception(http.StatusBadRequest, excArgument, "A runner scale set needs at least one label.")
		return false
	}
	for _, l := range labels {
		if l.Name == "" || len(l.Name) > maxLabelLength {
			c.exception(http.StatusBadRequest, excArgument, "Label %q must be between 1 and %d characters long.", l.Name, maxLabelLength)
			return false
		}
	}
	return true
}

// createScaleSet serves POST …/runnerscalesets (actions/scaleset client.go
// CreateRunnerScaleSet: 200 with the set). Names are unique within a runner
// group (the client's doc comment); a second one is 409 (status assumed).
// Queued jobs the new set covers are assigned to it.
func (s *Server) createScaleSet(c *actionsCall) {
	var req scaleSetRequest
	if !c.decode(&req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.Name == "" {
		c.exception(http.StatusBadRequest, excArgument, "The runner scale set name must not be empty.")
		return
	}
	if !validScaleSetLabels(c, req.Labels) {
		return
	}
	g, ok := s.groupForScaleSetLocked(c, req.RunnerGroupID)
	if !ok {
		return
	}
	for _, set := range s.scaleSets.sets {
		if set.sc == c.grant.sc && set.groupID == g.id && strings.EqualFold(set.name, req.Name) {
			c.exception(http.StatusConflict, excScaleSetExists, "A runner scale set named %s already exists in runner group %s.", req.Name, g.name)
			return
		}
	}
	set := &scaleSet{
		id: s.scaleSets.nextSetID, name: req.Name, sc: c.grant.sc, groupID: g.id, groupName: g.name,
		labels: req.Labels, disableUpdate: req.RunnerSetting.DisableUpdate, createdOn: s.now().UTC(),
	}
	s.scaleSets.nextSetID++
	s.scaleSets.sets[set.id] = set
	s.logf("githubsim: created scale set %d %q in %s", set.id, set.name, set.sc)
	s.scaleSetAssignQueuedLocked()
	c.json(http.StatusOK, s.scaleSetJSONLocked(c, set))
}

// updateScaleSet serves PATCH …/runnerscalesets/{id} (actions/scaleset
// client.go UpdateRunnerScaleSet: 200 with the set). The client sends the
// whole set; empty fields keep their value (assumed).
func (s *Server) updateScaleSet(c *actionsCall) {
	var req scaleSetRequest
	if !c.decode(&req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	set, ok := s.scaleSetLocked(c)
	if !ok {
		return
	}
	if req.RunnerGroupID != 0 && req.RunnerGroupID != set.groupID {
		g, ok := s.groupForScaleSetLocked(c, req.RunnerGroupID)
		if !ok {
			return
		}
		set.groupID, set.groupName = g.id, g.name
	}
	if req.Labels != nil {
		if !validScaleSetLabels(c, req.Labels) {
			return
		}
		set.labels = req.Labels
	}
	if req.Name != "" {
		set.name = req.Name
	}
	set.disableUpdate = req.RunnerSetting.DisableUpdate
	s.scaleSetAssignQueuedLocked()
	c.json(http.StatusOK, s.scaleSetJSONLocked(c, set))
}

// deleteScaleSet serves DELETE …/runnerscalesets/{id} (actions/scaleset
// client.go DeleteRunnerScaleSet: 204). What the service does with the
// set's session, idle runners and queued jobs is not documented; the
// simulator ends the session, removes the idle runners and lets its jobs
// be assigned again (to another set covering them, or to plain runners).
func (s *Server) deleteScaleSet(c *actionsCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set, ok := s.scaleSetLocked(c)
	if !ok {
		return
	}
	if set.session != nil {
		close(set.session.notify)
		set.session = nil
	}
	delete(s.scaleSets.sets, set.id)
	for id, r := range s.runners {
		if r.scaleSetID == set.id && !r.busy {
			delete(s.runners, id)
		}
	}
	for id, a := range s.scaleSets.jobs {
		if a.setID != set.id {
			continue
		}
		if j := s.findJob(id); j != nil && j.Status == JobQueued {
			delete(s.scaleSets.jobs, id)
		}
	}
	s.logf("githubsim: deleted scale set %d %q", set.id, set.name)
	s.scaleSetAssignQueuedLocked()
	s.assign()
	c.noContent()
}

// serviceRunnerGroupJSON is a runner group as the service renders it
// (actions/scaleset types.go RunnerGroup).
type serviceRunnerGroupJSON struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Size      int    `json:"size"`
	IsDefault bool   `json:"isDefaultGroup"`
}

// listServiceRunnerGroups serves GET …/runtime/runnergroups/?groupName=
// (actions/scaleset client.go GetRunnerGroupByName: 200, count 1 or the
// client errs). Names compare without regard to case, so the client's
// DefaultRunnerGroup "default" finds "Default" (assumed).
func (s *Server) listServiceRunnerGroups(c *actionsCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := c.r.URL.Query().Get("groupName")
	groups := c.grant.sc.groups()
	if c.grant.sc.repo != nil {
		groups = groups[:1]
	}
	out := listJSON[serviceRunnerGroupJSON]{Value: []serviceRunnerGroupJSON{}}
	for _, g := range groups {
		if name != "" && !strings.EqualFold(name, g.name) {
			continue
		}
		size := 0
		for _, r := range s.runners {
			if c.grant.sc.has(r) && r.groupID == g.id {
				size++
			}
		}
		out.Value = append(out.Value, serviceRunnerGroupJSON{ID: g.id, Name: g.name, Size: size, IsDefault: g.isDefault})
	}
	out.Count = len(out.Value)
	c.json(http.StatusOK, out)
}

// sessionJSON is a message session (actions/scaleset types.go
// RunnerScaleSetSession).
type sessionJSON struct {
	SessionID               string          `json:"sessionId"`
	OwnerName               string          `json:"ownerName"`
	RunnerScaleSet          *scaleSetJSON   `json:"runnerScaleSet"`
	MessageQueueURL         string          `json:"messageQueueUrl"`
	MessageQueueAccessToken string          `json:"messageQueueAccessToken"`
	Statistics              *statisticsJSON `json:"statistics"`
}

func (s *Server) sessionJSONLocked(c *actionsCall, set *scaleSet) sessionJSON {
	sess := set.session
	setJSON := s.scaleSetJSONLocked(c, set)
	return sessionJSON{
		SessionID: sess.id, OwnerName: sess.owner, RunnerScaleSet: &setJSON,
		MessageQueueURL: fmt.Sprintf("%s://%s%s%s/_apis/runtime/runnerscalesets/%d/messages?sessionId=%s",
			schemeOf(c.r), c.r.Host, actionsPrefix, c.grant.tenant, set.id, sess.id),
		MessageQueueAccessToken: sess.token,
		Statistics:              setJSON.Statistics,
	}
}

// createSession serves POST …/runnerscalesets/{id}/sessions (actions/scaleset
// session_client.go createMessageSession: 200 with the session, whose
// statistics the listener starts from: listener/listener.go Run). A scale
// set has one session: a second is 409 TaskAgentSessionConflictException,
// as for a runner's session (actions/runner src/Runner.Listener/
// MessageListener.cs retries it), until the first is deleted or idle for
// the session idle TTL. A listener killed without deleting its session
// does not hold the set forever: ARC's listener retries the 409 for about
// 4.5 minutes and then fails (actions/actions-runner-controller
// cmd/ghalistener/listener/listener.go createSession), which only makes
// sense if the service lets a dead listener's session go; the idle TTL
// models that, its length assumed (DefaultScaleSetSessionIdleTTL).
func (s *Server) createSession(c *actionsCall) {
	var req struct {
		OwnerName string `json:"ownerName"`
	}
	if !c.decode(&req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	set, ok := s.scaleSetLocked(c)
	if !ok {
		return
	}
	if set.session != nil && s.sessionIdleLocked(set.session) {
		s.dropSessionLocked(set)
	}
	if set.session != nil {
		c.exception(http.StatusConflict, excSessionConflict,
			"The runner scale set %s already has an active session for owner %s.", set.name, set.session.owner)
		return
	}
	set.session = &scaleSetSession{
		id: newUUID(), owner: req.OwnerName, token: randomAlnum(40),
		tokenExpires: s.now().Add(serviceTokenTTL), notify: make(chan struct{}),
		lastSeen: s.now(),
	}
	s.logf("githubsim: scale set %d %q: session %s for %q", set.id, set.name, set.session.id, req.OwnerName)
	c.json(http.StatusOK, s.sessionJSONLocked(c, set))
}

// sessionIdleLocked says whether a session's listener has shown no sign of
// life (no poll waiting, none started or ended, no refresh) for the idle
// TTL.
func (s *Server) sessionIdleLocked(sess *scaleSetSession) bool {
	return sess.polls == 0 && !s.now().Before(sess.lastSeen.Add(s.scaleSets.idleTTL()))
}

// dropSessionLocked ends an idle session. Its messages, delivered or not,
// go with it, as when it is deleted: the next listener starts from the
// statistics of its new session, which count the set's assigned and
// running jobs (actions/scaleset listener/listener.go Run scales from
// them first), and the JobStarted and JobCompleted events the dead
// listener never read are not sent again (assumed).
func (s *Server) dropSessionLocked(set *scaleSet) {
	sess := set.session
	s.logf("githubsim: scale set %d %q: session %s of %q idle since %s, dropped with %d message(s)",
		set.id, set.name, sess.id, sess.owner, sess.lastSeen.UTC().Format(time.RFC3339), len(sess.messages))
	close(sess.notify)
	set.session = nil
}

// sessionLocked resolves {session} of the scale set, answering 404 when it
// is not the set's session.
func (s *Server) sessionLocked(c *actionsCall, set *scaleSet) (*scaleSetSession, bool) {
	if set.session == nil || !strings.EqualFold(set.session.id, c.r.PathValue("session")) {
		c.exception(http.StatusNotFound, excSessionNotFound, "Session %s not found.", c.r.PathValue("session"))
		return nil, false
	}
	return set.session, true
}

// refreshSession serves PATCH …/sessions/{session} (actions/scaleset
// session_client.go refreshMessageSession: 200 with the session and a new
// message queue token).
func (s *Server) refreshSession(c *actionsCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set, ok := s.scaleSetLocked(c)
	if !ok {
		return
	}
	sess, ok := s.sessionLocked(c, set)
	if !ok {
		return
	}
	sess.token = randomAlnum(40)
	sess.tokenExpires = s.now().Add(serviceTokenTTL)
	sess.lastSeen = s.now()
	c.json(http.StatusOK, s.sessionJSONLocked(c, set))
}

// deleteSession serves DELETE …/sessions/{session} (actions/scaleset
// session_client.go deleteMessageSession, MessageSessionClient.Close: 204).
// Its undeleted messages go with it.
func (s *Server) deleteSession(c *actionsCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set, ok := s.scaleSetLocked(c)
	if !ok {
		return
	}
	sess, ok := s.sessionLocked(c, set)
	if !ok {
		return
	}
	close(sess.notify)
	set.session = nil
	c.noContent()
}

// messageJSON is a message (actions/scaleset types.go
// runnerScaleSetMessageResponse).
type messageJSON struct {
	MessageID   int64           `json:"messageId"`
	MessageType string          `json:"messageType"`
	Body        string          `json:"body"`
	Statistics  *statisticsJSON `json:"statistics"`
}

// getMessage serves the long poll GET {messageQueueUrl}&lastMessageId=N
// (actions/scaleset session_client.go getMessage): 200 with the first
// undeleted message after lastMessageId, with the set's statistics as they
// are now; 202 with no body when none comes within the poll timeout; 401
// for an expired queue token. The client sends X-ScaleSetMaxCapacity; the
// simulator records it but does not limit assignments by it. A waiting poll
// keeps the session alive; its start and end count as the listener's last
// sign of life (sessionIdleLocked).
func (s *Server) getMessage(c *actionsCall) {
	last := int64(0)
	if v := c.r.URL.Query().Get("lastMessageId"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			c.exception(http.StatusBadRequest, excArgument, "lastMessageId %q is not a message id.", v)
			return
		}
		last = n
	}
	capacity := -1
	if v := c.r.Header.Get("X-ScaleSetMaxCapacity"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			c.exception(http.StatusBadRequest, excArgument, "X-ScaleSetMaxCapacity %q is not a capacity.", v)
			return
		}
		capacity = n
	}
	s.mu.Lock()
	timeout := s.scaleSets.pollTimeout
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(c.r.Context(), timeout)
	defer cancel()
	var polling *scaleSetSession
	defer func() {
		if polling != nil {
			s.mu.Lock()
			polling.polls--
			polling.lastSeen = s.now()
			s.mu.Unlock()
		}
	}()
	for {
		s.mu.Lock()
		set := s.scaleSetInPathLocked(c.r)
		if set == nil || set.session == nil || set.session.id != c.r.URL.Query().Get("sessionId") {
			s.mu.Unlock()
			c.exception(http.StatusNotFound, excSessionNotFound, "Session %s not found.", c.r.URL.Query().Get("sessionId"))
			return
		}
		sess := set.session
		if polling == nil {
			polling = sess
			sess.polls++
			sess.lastSeen = s.now()
		}
		if capacity >= 0 {
			sess.maxCapacity = capacity
		}
		for _, m := range sess.messages {
			if m.id <= last {
				continue
			}
			m.delivered = true
			stats := s.statisticsLocked(set)
			out := messageJSON{MessageID: m.id, MessageType: scaleSetMessageType, Body: m.body(), Statistics: &stats}
			s.mu.Unlock()
			c.json(http.StatusOK, out)
			return
		}
		notify := sess.notify
		s.mu.Unlock()
		select {
		case <-notify:
		case <-ctx.Done():
			c.status, c.body = http.StatusAccepted, nil
			return
		}
	}
}

// deleteMessage serves DELETE {messageQueueUrl path}/{message}?sessionId=…
// (actions/scaleset session_client.go deleteMessage: 204), the client's
// acknowledgement; an unknown message is 404 (assumed).
func (s *Server) deleteMessage(c *actionsCall) {
	id, err := strconv.ParseInt(c.r.PathValue("message"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.scaleSetInPathLocked(c.r)
	if err == nil && set != nil && set.session != nil {
		sess := set.session
		for i, m := range sess.messages {
			if m.id == id {
				sess.messages = append(sess.messages[:i], sess.messages[i+1:]...)
				c.noContent()
				return
			}
		}
	}
	c.exception(http.StatusNotFound, excMessageNotFound, "Message %s not found.", c.r.PathValue("message"))
}

// jitSettingJSON is the body of generatejitconfig (actions/scaleset
// types.go RunnerScaleSetJitRunnerSetting).
type jitSettingJSON struct {
	Name       string `json:"name"`
	WorkFolder string `json:"workFolder"`
}

// runnerReferenceJSON is a runner as the service renders it (actions/
// scaleset types.go RunnerReference).
type runnerReferenceJSON struct {
	ID               int64  `json:"id"`
	Name             string `json:"name"`
	RunnerScaleSetID int64  `json:"runnerScaleSetId"`
}

// generateScaleSetJIT serves POST …/runnerscalesets/{id}/generatejitconfig
// (actions/scaleset client.go GenerateJitRunnerConfig: 200 with the runner
// and "encodedJITConfig"). It registers an ephemeral just-in-time runner
// with the set's labels in the set's runner group, as REST's
// generate-jitconfig does; the runner then connects and runs like any
// other (ConnectRunner). A name taken in the scope is 409
// TaskAgentExistsException (RunnerExistsError in errors.go).
func (s *Server) generateScaleSetJIT(c *actionsCall) {
	var req jitSettingJSON
	if !c.decode(&req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	set, ok := s.scaleSetLocked(c)
	if !ok {
		return
	}
	if req.Name == "" {
		c.exception(http.StatusBadRequest, excArgument, "The runner name must not be empty.")
		return
	}
	s.sweepLocked()
	for _, r := range s.runners {
		if set.sc.has(r) && strings.EqualFold(r.name, req.Name) {
			c.exception(http.StatusConflict, excAgentExists, "A runner with the name %s already exists.", req.Name)
			return
		}
	}
	r := s.newRunner(set.sc.org, set.sc.repo, req.Name, set.groupID, nil, set.labelNames())
	r.ent = set.sc.ent
	r.os = osUnknown
	r.ephemeral = true
	r.scaleSetID = set.id
	r.jitConfig = jitConfig(r, set.groupName, orDefault(req.WorkFolder, "_work"))
	s.logf("githubsim: scale set %d %q: registered runner %d %q", set.id, set.name, r.id, r.name)
	c.json(http.StatusOK, struct {
		Runner           runnerReferenceJSON `json:"runner"`
		EncodedJITConfig string              `json:"encodedJITConfig"`
	}{runnerReferenceJSON{ID: r.id, Name: r.name, RunnerScaleSetID: set.id}, r.jitConfig})
}

// agentLocked resolves {id} among the scope's runners, answering 404
// TaskAgentNotFoundException (RunnerNotFoundError in errors.go).
func (s *Server) agentLocked(c *actionsCall) (*runner, bool) {
	s.sweepLocked()
	id, err := strconv.ParseInt(c.r.PathValue("id"), 10, 64)
	if r := s.runners[id]; err == nil && r != nil && c.grant.sc.has(r) {
		return r, true
	}
	c.exception(http.StatusNotFound, excAgentNotFound, "No runner with id %s exists.", c.r.PathValue("id"))
	return nil, false
}

func agentJSON(r *runner) runnerReferenceJSON {
	return runnerReferenceJSON{ID: r.id, Name: r.name, RunnerScaleSetID: r.scaleSetID}
}

// getAgent serves GET …/distributedtask/pools/0/agents/{id} (actions/
// scaleset client.go GetRunner: 200).
func (s *Server) getAgent(c *actionsCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.agentLocked(c); ok {
		c.json(http.StatusOK, agentJSON(r))
	}
}

// listAgents serves GET …/distributedtask/pools/0/agents?agentName=
// (actions/scaleset client.go GetRunnerByName: 200, count 0 or 1).
func (s *Server) listAgents(c *actionsCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	name := c.r.URL.Query().Get("agentName")
	out := listJSON[runnerReferenceJSON]{Value: []runnerReferenceJSON{}}
	for _, r := range s.sortedRunners() {
		if c.grant.sc.has(r) && (name == "" || strings.EqualFold(r.name, name)) {
			out.Value = append(out.Value, agentJSON(r))
		}
	}
	out.Count = len(out.Value)
	c.json(http.StatusOK, out)
}

// deleteAgent serves DELETE …/distributedtask/pools/0/agents/{id}
// (actions/scaleset client.go RemoveRunner: 204). A runner running a job
// is 400 TaskAgentJobStillRunningException (JobStillRunningError in
// errors.go).
func (s *Server) deleteAgent(c *actionsCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.agentLocked(c)
	if !ok {
		return
	}
	if r.busy {
		c.exception(http.StatusBadRequest, excJobStillRunning, "Runner %s is still running job %d.", r.name, r.jobID)
		return
	}
	delete(s.runners, r.id)
	s.logf("githubsim: removed runner %d %q", r.id, r.name)
	c.noContent()
}
