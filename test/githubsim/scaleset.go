package githubsim

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Runner scale sets, as GitHub's own client github.com/actions/scaleset
// (v0.1.0) drives them: a scale set is registered with the Actions service
// (not the REST API) under a runner group, with labels (by default its
// name); a job whose runs-on labels the set carries is assigned to the set,
// and the set's single message session hears of it (JobAssigned), of a set
// runner taking it (JobStarted) and of its end (JobCompleted), each message
// carrying the set's statistics. The set's runners are just-in-time runners
// the set generates configurations for; they run on the simulator's runner
// model (ConnectRunner, SetRunnerOnline, FinishJob).

// scaleSetState is the Actions service side of the simulator, guarded by
// Server.mu.
type scaleSetState struct {
	sets map[int64]*scaleSet
	// jobs maps a job id to its assignment to a scale set.
	jobs map[int64]*scaleSetJob
	// registrationTokens are runner registration tokens (REST
	// …/actions/runners/registration-token), adminTokens the Actions
	// service tokens they were exchanged for (runner-registration).
	registrationTokens map[string]*serviceGrant
	adminTokens        map[string]*serviceGrant
	// tenants names the Actions service tenant of a scope (its REST path).
	tenants       map[string]string
	nextSetID     int64
	nextMessageID int64
	// pollTimeout is how long GET …/messages waits for a message before it
	// answers 202.
	pollTimeout time.Duration
	// sessionIdleTTL is how long a session neither polled nor refreshed
	// keeps its scale set from another listener.
	sessionIdleTTL time.Duration
}

// serviceGrant is what a registration or admin token allows: one scope
// (organization, repository or enterprise), until it expires.
type serviceGrant struct {
	sc      scope
	tenant  string
	expires time.Time
}

type scaleSet struct {
	id            int64
	name          string
	sc            scope
	groupID       int64
	groupName     string
	labels        []scaleSetLabel
	disableUpdate bool
	createdOn     time.Time
	session       *scaleSetSession // nil without a listener
}

type scaleSetLabel struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

type scaleSetSession struct {
	id           string
	owner        string
	token        string
	tokenExpires time.Time
	// messages are the session's undeleted messages, by id.
	messages []*scaleSetMessage
	// notify is closed (and replaced) when a message is added, waking
	// long polls.
	notify chan struct{}
	// maxCapacity is the X-ScaleSetMaxCapacity of the last poll.
	maxCapacity int
	// lastSeen is when the listener last showed it is alive: the session's
	// creation, the start or end of a poll, a refresh. polls counts the
	// polls waiting now; a session with one is alive however long it
	// waits.
	lastSeen time.Time
	polls    int
}

type scaleSetMessage struct {
	id        int64
	events    []jobMessageJSON
	delivered bool
}

// scaleSetJob is a job's assignment to a scale set.
type scaleSetJob struct {
	setID      int64
	jobID      string // the Actions service's job id, a UUID
	assignedAt time.Time
}

const (
	// DefaultScaleSetPollTimeout is how long a message poll waits before it
	// answers 202 with nothing. The real broker holds a poll for about 50
	// seconds (actions/scaleset common_client.go: the HTTP timeout "must be
	// > 1m to accomodate long polling").
	DefaultScaleSetPollTimeout = 50 * time.Second
	// maxEventsPerMessage is how many job events one message carries at
	// most ("at most 50 a response": ../shared/reference/real-github.md,
	// Runner scale sets).
	maxEventsPerMessage = 50
	// scaleSetMessageType is the only message type the client parses
	// (actions/scaleset client.go parseRunnerScaleSetMessageResponse).
	scaleSetMessageType = "RunnerScaleSetJobMessages"
	// DefaultScaleSetSessionIdleTTL is how long a session neither polled
	// nor refreshed keeps another listener out: after it, a new session
	// replaces it. The service's timeout is not documented; what is known is
	// that a listener whose predecessor died without deleting its session
	// gets one in the end: ARC's listener retries a 409 on session creation
	// every 30 seconds, 10 attempts in all, about 4.5 minutes
	// (actions/actions-runner-controller cmd/ghalistener/listener/
	// listener.go createSession, sessionCreationMaxRetries). Two minutes,
	// assumed, falls inside that window.
	DefaultScaleSetSessionIdleTTL = 2 * time.Minute
	// serviceTokenTTL is the life of registration tokens ("expires after one
	// hour", REST docs "Create a registration token for an organization"),
	// and, assumed, of admin and message queue tokens.
	serviceTokenTTL = time.Hour
)

func (st *scaleSetState) init() {
	if st.sets != nil {
		return
	}
	st.sets = map[int64]*scaleSet{}
	st.jobs = map[int64]*scaleSetJob{}
	st.registrationTokens = map[string]*serviceGrant{}
	st.adminTokens = map[string]*serviceGrant{}
	st.tenants = map[string]string{}
	st.nextSetID = 1
	st.nextMessageID = 1
	if st.pollTimeout <= 0 {
		st.pollTimeout = DefaultScaleSetPollTimeout
	}
}

// idleTTL is sessionIdleTTL, or its default when unset.
func (st *scaleSetState) idleTTL() time.Duration {
	if st.sessionIdleTTL <= 0 {
		return DefaultScaleSetSessionIdleTTL
	}
	return st.sessionIdleTTL
}

// ScaleSet is a snapshot of a runner scale set.
type ScaleSet struct {
	ID            int64
	Name          string
	Org, Repo     string
	Enterprise    string
	RunnerGroupID int64
	// Labels are the set's label names; a job goes to the set when the set
	// has all its runs-on labels.
	Labels []string
	// SessionID is the listener's message session, "" when none.
	SessionID string
}

// ScaleSetSession is a snapshot of a scale set's message session.
type ScaleSetSession struct {
	ID         string
	ScaleSetID int64
	Owner      string
	// Pending are the ids of the messages not yet deleted.
	Pending []int64
	// MaxCapacity is the X-ScaleSetMaxCapacity of the last poll.
	MaxCapacity int
	// Polling says a poll is waiting for a message now.
	Polling bool
}

// SetScaleSetPollTimeout changes how long a message poll waits before it
// answers 202 with no message; 0 means DefaultScaleSetPollTimeout.
func (s *Server) SetScaleSetPollTimeout(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scaleSets.init()
	if d <= 0 {
		d = DefaultScaleSetPollTimeout
	}
	s.scaleSets.pollTimeout = d
}

// SetScaleSetSessionIdleTTL changes how long a session neither polled nor
// refreshed keeps another listener from opening one; 0 means
// DefaultScaleSetSessionIdleTTL.
func (s *Server) SetScaleSetSessionIdleTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scaleSets.init()
	if d < 0 {
		d = 0
	}
	s.scaleSets.sessionIdleTTL = d
}

// ScaleSets returns every runner scale set, by id.
func (s *Server) ScaleSets() []ScaleSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scaleSets.init()
	var out []ScaleSet
	for _, set := range s.sortedScaleSetsLocked() {
		snap := ScaleSet{ID: set.id, Name: set.name, RunnerGroupID: set.groupID, Labels: set.labelNames()}
		switch {
		case set.sc.ent != nil:
			snap.Enterprise = set.sc.ent.slug
		case set.sc.repo != nil:
			snap.Org, snap.Repo = set.sc.org.login, set.sc.repo.name
		default:
			snap.Org = set.sc.org.login
		}
		if set.session != nil {
			snap.SessionID = set.session.id
		}
		out = append(out, snap)
	}
	return out
}

// Sessions returns the message sessions of every scale set, by scale set id.
func (s *Server) Sessions() []ScaleSetSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scaleSets.init()
	var out []ScaleSetSession
	for _, set := range s.sortedScaleSetsLocked() {
		if set.session == nil {
			continue
		}
		snap := ScaleSetSession{
			ID: set.session.id, ScaleSetID: set.id, Owner: set.session.owner,
			MaxCapacity: set.session.maxCapacity, Polling: set.session.polls > 0,
		}
		for _, m := range set.session.messages {
			snap.Pending = append(snap.Pending, m.id)
		}
		out = append(out, snap)
	}
	return out
}

// ExpireScaleSetSessionToken makes the message queue token of the scale
// set's session expire now, as it does after a while on the real service:
// the next poll is answered 401 and the client refreshes the session
// (actions/scaleset session_client.go GetMessage).
func (s *Server) ExpireScaleSetSessionToken(scaleSetID int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scaleSets.init()
	set := s.scaleSets.sets[scaleSetID]
	if set == nil || set.session == nil {
		return fmt.Errorf("scale set %d has no session", scaleSetID)
	}
	set.session.tokenExpires = s.now()
	return nil
}

// QueueScaleSetJob queues a job in owner/repo with runs-on: the scale set's
// name, as a workflow targeting a scale set does (ARC docs: "runs-on: the
// installation name").
func (s *Server) QueueScaleSetJob(owner, repo, scaleSetName string, duration time.Duration) Job {
	return s.QueueJob(JobRequest{Owner: owner, Repo: repo, Labels: []string{scaleSetName}, Duration: duration})
}

func (s *Server) sortedScaleSetsLocked() []*scaleSet {
	out := make([]*scaleSet, 0, len(s.scaleSets.sets))
	for _, set := range s.scaleSets.sets {
		out = append(out, set)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (set *scaleSet) labelNames() []string {
	out := make([]string, 0, len(set.labels))
	for _, l := range set.labels {
		out = append(out, l.Name)
	}
	return out
}

// covers says whether a job belongs to the scale set: in its scope and
// every runs-on label among the set's, compared without regard to case, as
// a runner's (GitHub docs "Choosing the runner for a job").
func (set *scaleSet) covers(j *job) bool {
	switch {
	case set.sc.ent != nil:
		if j.repo.org.enterprise != set.sc.ent {
			return false
		}
	case set.sc.org != j.repo.org || (set.sc.repo != nil && set.sc.repo != j.repo):
		return false
	}
	if len(j.Labels) == 0 {
		return false
	}
	for _, want := range j.Labels {
		found := false
		for _, have := range set.labels {
			if strings.EqualFold(want, have.Name) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// scaleSetEligible says whether a runner may take a job as far as scale
// sets go: a job assigned to a scale set goes to that set's runners only,
// and a set's runners take only its jobs (the service assigns the job to
// the scale set, then to one of its runners: actions/scaleset types.go
// JobMessageBase ScaleSetAssignTime, RunnerAssignTime).
func (s *Server) scaleSetEligible(r *runner, j *job) bool {
	var setID int64
	if a := s.scaleSets.jobs[j.ID]; a != nil {
		setID = a.setID
	}
	return r.scaleSetID == setID
}

// scaleSetAssignQueuedLocked assigns queued jobs no scale set holds yet to
// the first scale set (by id) that covers them, and tells its session
// (JobAssigned).
func (s *Server) scaleSetAssignQueuedLocked() {
	s.scaleSets.init()
	if len(s.scaleSets.sets) == 0 {
		return
	}
	sets := s.sortedScaleSetsLocked()
	for _, j := range s.jobs {
		if j.Status != JobQueued || s.scaleSets.jobs[j.ID] != nil {
			continue
		}
		for _, set := range sets {
			if !set.covers(j) {
				continue
			}
			s.scaleSets.jobs[j.ID] = &scaleSetJob{setID: set.id, jobID: newUUID(), assignedAt: s.now().UTC()}
			s.logf("githubsim: job %d assigned to scale set %d %q", j.ID, set.id, set.name)
			s.postScaleSetEventLocked(set, s.jobMessageLocked(j, "JobAssigned"))
			break
		}
	}
}

// scaleSetStartedLocked tells a job's scale set that one of its runners
// took it (JobStarted).
func (s *Server) scaleSetStartedLocked(j *job) {
	if set := s.scaleSetOfJobLocked(j); set != nil {
		s.postScaleSetEventLocked(set, s.jobMessageLocked(j, "JobStarted"))
	}
}

// scaleSetCompletedLocked tells a job's scale set that it ended
// (JobCompleted), and forgets the assignment.
func (s *Server) scaleSetCompletedLocked(j *job) {
	set := s.scaleSetOfJobLocked(j)
	if set == nil {
		return
	}
	s.postScaleSetEventLocked(set, s.jobMessageLocked(j, "JobCompleted"))
	delete(s.scaleSets.jobs, j.ID)
}

func (s *Server) scaleSetOfJobLocked(j *job) *scaleSet {
	a := s.scaleSets.jobs[j.ID]
	if a == nil {
		return nil
	}
	return s.scaleSets.sets[a.setID]
}

// jobMessageJSON is one job event in a message body (actions/scaleset
// types.go JobMessageBase, JobStarted, JobCompleted).
type jobMessageJSON struct {
	MessageType        string    `json:"messageType"`
	RunnerRequestID    int64     `json:"runnerRequestId"`
	RepositoryName     string    `json:"repositoryName"`
	OwnerName          string    `json:"ownerName"`
	JobID              string    `json:"jobId"`
	JobWorkflowRef     string    `json:"jobWorkflowRef"`
	JobDisplayName     string    `json:"jobDisplayName"`
	WorkflowRunID      int64     `json:"workflowRunId"`
	EventName          string    `json:"eventName"`
	RequestLabels      []string  `json:"requestLabels"`
	QueueTime          time.Time `json:"queueTime"`
	ScaleSetAssignTime time.Time `json:"scaleSetAssignTime"`
	RunnerAssignTime   time.Time `json:"runnerAssignTime"`
	FinishTime         time.Time `json:"finishTime"`
	RunnerID           int64     `json:"runnerId,omitempty"`
	RunnerName         string    `json:"runnerName,omitempty"`
	Result             string    `json:"result,omitempty"`
}

// jobResults are JobCompleted results by conclusion: the service's
// TaskResult names (actions/runner src/Sdk/DTWebApi/WebApi/TaskResult.cs:
// Succeeded, Failed, Canceled), lower-cased as assumed.
var jobResults = map[string]string{
	ConclusionSuccess:   "succeeded",
	ConclusionFailure:   "failed",
	ConclusionCancelled: "canceled",
}

func (s *Server) jobMessageLocked(j *job, messageType string) jobMessageJSON {
	a := s.scaleSets.jobs[j.ID]
	m := jobMessageJSON{
		MessageType:      messageType,
		RunnerRequestID:  j.ID,
		RepositoryName:   j.Repo,
		OwnerName:        j.Owner,
		JobWorkflowRef:   fmt.Sprintf("%s/.github/workflows/%s.yml@refs/heads/%s", j.repo.fullName(), strings.ToLower(j.WorkflowName), j.HeadBranch),
		JobDisplayName:   j.Name,
		WorkflowRunID:    j.RunID,
		EventName:        "push",
		RequestLabels:    append([]string{}, j.Labels...),
		QueueTime:        j.CreatedAt,
		RunnerAssignTime: j.StartedAt,
		FinishTime:       j.CompletedAt,
	}
	if a != nil {
		m.JobID, m.ScaleSetAssignTime = a.jobID, a.assignedAt
	}
	if messageType != "JobAssigned" {
		m.RunnerID, m.RunnerName = j.RunnerID, j.RunnerName
	}
	if messageType == "JobCompleted" {
		m.Result = jobResults[j.Conclusion]
	}
	return m
}

// postScaleSetEventLocked adds an event to the set's session: to its last
// message while that was not delivered and has room, else to a new one.
// A set without a session drops the event: a listener that starts later
// learns the state from its session's statistics (assumed; the client's
// listener starts from them: actions/scaleset listener/listener.go Run).
func (s *Server) postScaleSetEventLocked(set *scaleSet, ev jobMessageJSON) {
	sess := set.session
	if sess == nil {
		return
	}
	if n := len(sess.messages); n > 0 && !sess.messages[n-1].delivered && len(sess.messages[n-1].events) < maxEventsPerMessage {
		last := sess.messages[n-1]
		last.events = append(last.events, ev)
	} else {
		sess.messages = append(sess.messages, &scaleSetMessage{id: s.scaleSets.nextMessageID, events: []jobMessageJSON{ev}})
		s.scaleSets.nextMessageID++
	}
	close(sess.notify)
	sess.notify = make(chan struct{})
}

// statisticsJSON is a scale set's statistics (actions/scaleset types.go
// RunnerScaleSetStatistic).
type statisticsJSON struct {
	TotalAvailableJobs     int `json:"totalAvailableJobs"`
	TotalAcquiredJobs      int `json:"totalAcquiredJobs"`
	TotalAssignedJobs      int `json:"totalAssignedJobs"`
	TotalRunningJobs       int `json:"totalRunningJobs"`
	TotalRegisteredRunners int `json:"totalRegisteredRunners"`
	TotalBusyRunners       int `json:"totalBusyRunners"`
	TotalIdleRunners       int `json:"totalIdleRunners"`
}

// statisticsLocked counts a scale set's jobs and runners. Assigned jobs are
// the set's jobs not completed, queued or running: each needs a runner, and
// the client scales to that number ("Scale from TotalAssignedJobs":
// actions/scaleset listener/listener.go, README). The service assigns jobs
// to the set itself (the client has no acquire call in v0.1.0), so none is
// left available and every assigned job counts as acquired (assumed).
func (s *Server) statisticsLocked(set *scaleSet) statisticsJSON {
	var out statisticsJSON
	for _, j := range s.jobs {
		if a := s.scaleSets.jobs[j.ID]; a == nil || a.setID != set.id {
			continue
		}
		switch j.Status {
		case JobQueued:
			out.TotalAssignedJobs++
		case JobInProgress:
			out.TotalAssignedJobs++
			out.TotalRunningJobs++
		}
	}
	out.TotalAcquiredJobs = out.TotalAssignedJobs
	for _, r := range s.runners {
		if r.scaleSetID != set.id {
			continue
		}
		out.TotalRegisteredRunners++
		if r.busy {
			out.TotalBusyRunners++
		} else {
			out.TotalIdleRunners++
		}
	}
	return out
}

// messageBody renders a message's events as the JSON string the client
// decodes again (actions/scaleset client.go parseRunnerScaleSetMessageResponse:
// "body" is a string holding a JSON array).
func (m *scaleSetMessage) body() string {
	b, err := json.Marshal(m.events)
	if err != nil {
		panic(fmt.Sprintf("githubsim: marshal scale set message: %v", err))
	}
	return string(b)
}
