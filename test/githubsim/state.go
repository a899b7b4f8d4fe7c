package githubsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// org is an organization. Logins and repository names are matched without
// regard to case, as GitHub does.
type org struct {
	id     int64
	login  string
	repos  map[string]*repo // by lower-case name
	groups []*runnerGroup   // by id; groups[0] is Default
	// enterprise is the enterprise the organization belongs to, if any.
	enterprise *enterprise
}

type repo struct {
	id   int64
	name string
	org  *org
}

func (r *repo) fullName() string { return r.org.login + "/" + r.name }

type runnerGroup struct {
	id        int64
	name      string
	isDefault bool
}

const (
	defaultGroupID   = 1
	defaultGroupName = "Default"
	selfHostedLabel  = "self-hosted"
	// osUnknown is what GitHub reports for a just-in-time runner that never
	// connected; the runner reports its OS when it comes online.
	osUnknown = "unknown"
	osLinux   = "Linux"
)

// runner is a registered self-hosted runner.
type runner struct {
	id        int64
	name      string
	os        string
	online    bool
	busy      bool
	ephemeral bool
	labels    []string
	// systemLabels is how many of the first labels are system labels
	// (read-only): config.sh's defaults; none for a just-in-time runner.
	systemLabels int
	org          *org        // nil for an enterprise runner
	repo         *repo       // nil for an organization or enterprise runner
	ent          *enterprise // set for an enterprise runner
	groupID      int64
	jitConfig    string
	jobID        int64 // the job it runs, 0 when idle
	// scaleSetID is the runner scale set that registered it, 0 for none.
	scaleSetID int64
	// version is the runner application's version, reported when its
	// process connects ("" until then).
	version string
	// connected is set once the runner's process first connected;
	// lastSeen is when it registered, connected or went offline last.
	connected bool
	lastSeen  time.Time
}

func (r *runner) status() string {
	if r.online {
		return "online"
	}
	return "offline"
}

// Runner is a snapshot of a registered runner.
type Runner struct {
	ID     int64
	Name   string
	OS     string // "unknown" until a just-in-time runner first comes online, then "Linux"
	Status string // "online" or "offline"
	Busy   bool
	// Labels are a just-in-time runner's labels exactly as sent; a
	// config.sh runner's are "self-hosted", "Linux", "X64", then its own.
	Labels []string
	// Org is the organization; Repo is "" for an organization runner and
	// the repository's name for a repository runner. An enterprise
	// runner has Enterprise set and Org and Repo "".
	Org, Repo  string
	Enterprise string
	GroupID    int64
	// JITConfig is the encoded_jit_config the runner was created with.
	JITConfig string
	// Ephemeral runners (all just-in-time runners) deregister after one job.
	Ephemeral bool
	// Version is the runner application's version its process reported
	// when it connected; "" until then.
	Version string
}

func (r *runner) snapshot() Runner {
	out := Runner{
		ID:        r.id,
		Name:      r.name,
		OS:        r.os,
		Status:    r.status(),
		Busy:      r.busy,
		Labels:    append([]string(nil), r.labels...),
		GroupID:   r.groupID,
		JITConfig: r.jitConfig,
		Ephemeral: r.ephemeral,
		Version:   r.version,
	}
	if r.org != nil {
		out.Org = r.org.login
	}
	if r.ent != nil {
		out.Enterprise = r.ent.slug
	}
	if r.repo != nil {
		out.Repo = r.repo.name
	}
	return out
}

// AddToken adds a personal access token that may use every organization.
// Each token is its own user for rate limiting.
func (s *Server) AddToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tokens[token]; ok {
		return
	}
	id := s.nextUserID
	s.nextUserID++
	s.tokens[token] = &principal{
		limitKey:    "user:" + strconv.FormatInt(id, 10),
		limitedWhom: fmt.Sprintf("user ID %d", id),
		userID:      id,
	}
}

// AddOrganization adds an organization with its Default runner group. Adding
// an existing organization does nothing.
func (s *Server) AddOrganization(login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureOrg(login)
}

// AddRepository adds a repository, and its owner if it is new.
func (s *Server) AddRepository(owner, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureRepo(owner, name)
}

// AddRunnerGroup adds a runner group to an organization (added if new) and
// returns its id. A group of that name that exists already is returned.
func (s *Server) AddRunnerGroup(orgLogin, name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.ensureOrg(orgLogin)
	for _, g := range o.groups {
		if strings.EqualFold(g.name, name) {
			return g.id
		}
	}
	g := &runnerGroup{id: s.nextGroupID, name: name}
	s.nextGroupID++
	o.groups = append(o.groups, g)
	return g.id
}

func (s *Server) ensureOrg(login string) *org {
	if o, ok := s.orgs[strings.ToLower(login)]; ok {
		return o
	}
	o := &org{
		id:     s.nextOrgID,
		login:  login,
		repos:  map[string]*repo{},
		groups: []*runnerGroup{{id: defaultGroupID, name: defaultGroupName, isDefault: true}},
	}
	s.nextOrgID++
	s.orgs[strings.ToLower(login)] = o
	return o
}

func (s *Server) ensureRepo(owner, name string) *repo {
	o := s.ensureOrg(owner)
	if r, ok := o.repos[strings.ToLower(name)]; ok {
		return r
	}
	r := &repo{id: s.nextRepoID, name: name, org: o}
	s.nextRepoID++
	o.repos[strings.ToLower(name)] = r
	return r
}

func (s *Server) findOrg(login string) *org {
	return s.orgs[strings.ToLower(login)]
}

func (s *Server) findRepo(owner, name string) *repo {
	o := s.findOrg(owner)
	if o == nil {
		return nil
	}
	return o.repos[strings.ToLower(name)]
}

func (o *org) group(id int64) *runnerGroup { return groupByID(o.groups, id) }

// groupByID returns the group of groups with the id; nil if none.
func groupByID(groups []*runnerGroup, id int64) *runnerGroup {
	for _, g := range groups {
		if g.id == id {
			return g
		}
	}
	return nil
}

// ensureScope returns the organization owner and, unless repoName is "",
// its repository, adding them if new.
func (s *Server) ensureScope(owner, repoName string) (*org, *repo) {
	o := s.ensureOrg(owner)
	if repoName == "" {
		return o, nil
	}
	return o, s.ensureRepo(owner, repoName)
}

// labelID returns the id of a label name, the same for every runner.
func (s *Server) labelID(name string) int64 {
	key := strings.ToLower(name)
	if id, ok := s.labelIDs[key]; ok {
		return id
	}
	id := s.nextLabelID
	s.nextLabelID++
	s.labelIDs[key] = id
	return id
}

// configShLabels are the labels config.sh gives a runner unless run with
// --no-default-labels: "self-hosted", the OS and the architecture, as
// system (read-only) labels (actions/runner
// src/Runner.Listener/Configuration/ConfigurationManager.cs CreateNewAgent).
var configShLabels = []string{selfHostedLabel, osLinux, "X64"}

// runnerLabels is system followed by the user labels, without duplicates
// (compared without regard to case, as GitHub does: "labels are
// case-insensitive", GitHub docs "Using labels with self-hosted runners").
func runnerLabels(system, user []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range append(append([]string(nil), system...), user...) {
		k := strings.ToLower(l)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, l)
	}
	return out
}

// newRunner registers a runner. The caller has checked the name is free.
func (s *Server) newRunner(o *org, r *repo, name string, groupID int64, system, labels []string) *runner {
	rn := &runner{
		id:           s.nextRunnerID,
		name:         name,
		os:           osLinux,
		labels:       runnerLabels(system, labels),
		systemLabels: len(system),
		org:          o,
		repo:         r,
		groupID:      groupID,
		lastSeen:     s.now(),
	}
	s.nextRunnerID++
	for _, l := range rn.labels {
		s.labelID(l)
	}
	s.runners[rn.id] = rn
	return rn
}

// AddRunner registers a runner directly, as config.sh does (not ephemeral,
// offline until SetRunnerOnline, OS "Linux", labels "self-hosted", "Linux"
// and "X64" before the given ones), in the Default group. repo ""
// registers an organization runner. The organization and repository are
// added if new. Names are not checked for uniqueness.
func (s *Server) AddRunner(owner, repoName, name string, labels ...string) Runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, r := s.ensureScope(owner, repoName)
	return s.newRunner(o, r, name, defaultGroupID, configShLabels, labels).snapshot()
}

// AddJITRunner registers a just-in-time runner as generate-jitconfig does
// (ephemeral, offline, OS "unknown", exactly the labels given), in the
// Default group; repo "" registers an organization runner. The organization
// and repository are added if new. Its config is the snapshot's JITConfig.
func (s *Server) AddJITRunner(owner, repoName, name string, labels ...string) Runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, r := s.ensureScope(owner, repoName)
	rn := s.newRunner(o, r, name, defaultGroupID, nil, labels)
	rn.os = osUnknown
	rn.ephemeral = true
	rn.jitConfig = jitConfig(rn, defaultGroupName, "_work")
	return rn.snapshot()
}

// RemoveRunner removes a runner's registration, as DELETE
// …/actions/runners/{id} does; like it, it refuses a busy runner.
func (s *Server) RemoveRunner(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runners[id]
	if !ok {
		return fmt.Errorf("runner %d: %w", id, ErrRunnerNotFound)
	}
	if r.busy {
		return fmt.Errorf("runner %d %q is still running a job", id, r.name)
	}
	delete(s.runners, id)
	return nil
}

// Runners returns every registered runner, sorted by id.
func (s *Server) Runners() []Runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	out := make([]Runner, 0, len(s.runners))
	for _, r := range s.sortedRunners() {
		out = append(out, r.snapshot())
	}
	return out
}

func (s *Server) sortedRunners() []*runner {
	out := make([]*runner, 0, len(s.runners))
	for _, r := range s.runners {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// Runner returns the runner with that id, if it is registered.
func (s *Server) Runner(id int64) (Runner, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	r, ok := s.runners[id]
	if !ok {
		return Runner{}, false
	}
	return r.snapshot(), true
}

// SetRunnerOnline says the runner's process started (online) or stopped.
// Going online is ConnectRunner with LatestRunnerVersion, except that a
// runner online already stays so (no session conflict). An online, idle
// runner is given queued jobs. A busy runner that goes offline fails its
// job (conclusion "failure"); the runner stays registered, offline, until
// GitHub removes it for not connecting (Options.NeverConnectedTTL): GitHub
// cannot know it will not come back.
func (s *Server) SetRunnerOnline(id int64, online bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if online {
		return s.connectLocked(id, "", true)
	}
	r, ok := s.runners[id]
	if !ok {
		return fmt.Errorf("runner %d: %w", id, ErrRunnerNotFound)
	}
	if !r.online {
		return nil
	}
	r.online = false
	r.lastSeen = s.now()
	s.logf("githubsim: runner %d %q offline", r.id, r.name)
	if r.busy {
		if j := s.findJob(r.jobID); j != nil {
			s.finishLocked(j, ConclusionFailure, false)
		}
	}
	return nil
}

// jitRunnerSettings mirrors the runner's .runner file, the part of a real
// encoded_jit_config that names the runner.
type jitRunnerSettings struct {
	AgentID    string `json:"AgentId"`
	AgentName  string `json:"AgentName"`
	PoolID     string `json:"PoolId"`
	PoolName   string `json:"PoolName"`
	ServerURL  string `json:"ServerUrl"`
	GitHubURL  string `json:"GitHubUrl"`
	WorkFolder string `json:"WorkFolder"`
	Ephemeral  bool   `json:"Ephemeral"`
}

// jitConfig builds an encoded_jit_config shaped like GitHub's: base64 of a
// JSON object whose ".runner", ".credentials" and ".credentials_rsaparams"
// members are base64 of the files the runner would otherwise write with
// config.sh. The credentials are random, so a config cannot be guessed.
func jitConfig(r *runner, groupName, workFolder string) string {
	var url string
	switch {
	case r.ent != nil:
		url = "https://github.com/enterprises/" + r.ent.slug
	case r.repo != nil:
		url = "https://github.com/" + r.repo.fullName()
	default:
		url = "https://github.com/" + r.org.login
	}
	settings, _ := json.Marshal(jitRunnerSettings{
		AgentID:    strconv.FormatInt(r.id, 10),
		AgentName:  r.name,
		PoolID:     strconv.FormatInt(r.groupID, 10),
		PoolName:   groupName,
		ServerURL:  "https://pipelines.actions.githubusercontent.com/" + randomHex(16),
		GitHubURL:  url,
		WorkFolder: workFolder,
		Ephemeral:  true,
	})
	credentials, _ := json.Marshal(map[string]any{
		"Scheme": "OAuthAccessToken",
		"Data": map[string]string{
			"clientId":         newUUID(),
			"authorizationUrl": "https://vstoken.actions.githubusercontent.com/_apis/oauth2/token/" + newUUID(),
		},
	})
	rsaParams, _ := json.Marshal(map[string]string{
		"d": randomHex(32), "dp": randomHex(16), "dq": randomHex(16), "exponent": "AQAB",
		"inverseQ": randomHex(16), "modulus": randomHex(64), "p": randomHex(32), "q": randomHex(32),
	})
	b64 := base64.StdEncoding.EncodeToString
	outer, _ := json.Marshal(map[string]string{
		".runner":                b64(settings),
		".credentials":           b64(credentials),
		".credentials_rsaparams": b64(rsaParams),
	})
	return b64(outer)
}

// DecodeJITConfig reads the runner's id and name out of an encoded_jit_config,
// as the runner application does. It does not check that the runner exists.
func DecodeJITConfig(encoded string) (id int64, name string, err error) {
	outer, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return 0, "", fmt.Errorf("decode jit config: %w", err)
	}
	var files map[string]string
	if err := json.Unmarshal(outer, &files); err != nil {
		return 0, "", fmt.Errorf("decode jit config: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(files[".runner"])
	if err != nil {
		return 0, "", fmt.Errorf("decode jit config .runner: %w", err)
	}
	var settings jitRunnerSettings
	if err := json.Unmarshal(raw, &settings); err != nil {
		return 0, "", fmt.Errorf("decode jit config .runner: %w", err)
	}
	id, err = strconv.ParseInt(settings.AgentID, 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("decode jit config .runner AgentId: %w", err)
	}
	return id, settings.AgentName, nil
}

// RunnerByJITConfig returns the runner an encoded_jit_config registers, as a
// runner pod started with it would find; false if the config is not one this
// server issued or its runner is gone.
func (s *Server) RunnerByJITConfig(encoded string) (Runner, bool) {
	id, _, err := DecodeJITConfig(encoded)
	if err != nil {
		return Runner{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	r, ok := s.runners[id]
	if !ok || r.jitConfig == "" || r.jitConfig != encoded {
		return Runner{}, false
	}
	return r.snapshot(), true
}

func lowerLogin(o *org) string { return strings.ToLower(o.login) }
