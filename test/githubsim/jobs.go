package githubsim

import (
	"fmt"
	"strings"
	"time"
)

// Job statuses and conclusions, as in workflow_job events.
const (
	JobQueued     = "queued"
	JobInProgress = "in_progress"
	JobCompleted  = "completed"

	ConclusionSuccess   = "success"
	ConclusionFailure   = "failure"
	ConclusionCancelled = "cancelled"
)

// JobRequest describes a job to queue, as a workflow run would.
type JobRequest struct {
	Owner, Repo string
	// Labels are the job's runs-on labels. A runner qualifies when it has
	// all of them, compared without regard to case (GitHub docs "Choosing
	// the runner for a job": a job runs on a runner with all its labels;
	// "Using labels with self-hosted runners": labels are
	// case-insensitive). Nothing is implied: runs-on: [self-hosted, linux]
	// needs a runner with both labels.
	Labels []string
	// Duration is how long the job runs once a runner picked it up; 0 runs
	// it until CompleteJob.
	Duration time.Duration
	// Name, WorkflowName and HeadBranch appear in webhook payloads
	// (defaults "build", "CI" and "main").
	Name, WorkflowName, HeadBranch string
}

// Job is a snapshot of a queued, running or finished job.
type Job struct {
	ID, RunID   int64
	Owner, Repo string
	Labels      []string
	Status      string // "queued", "in_progress" or "completed"
	Conclusion  string // "" until completed, then "success", "failure" or "cancelled"
	RunnerID    int64  // 0 until assigned
	RunnerName  string
	Duration    time.Duration

	Name, WorkflowName, HeadBranch string
	RunnerGroupID                  int64
	RunnerGroupName                string
	CreatedAt, StartedAt           time.Time
	CompletedAt                    time.Time
}

type job struct {
	Job
	repo    *repo
	headSHA string
	timer   *time.Timer
}

func (j *job) snapshot() Job {
	out := j.Job
	out.Labels = append([]string(nil), j.Labels...)
	return out
}

// QueueJob queues a job (adding its organization and repository if new) and
// gives it to a matching idle runner if there is one. Jobs are handed out
// first in, first out.
func (s *Server) QueueJob(req JobRequest) Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.ensureRepo(req.Owner, req.Repo)
	j := &job{
		Job: Job{
			ID:           s.nextJobID,
			RunID:        s.nextRunID,
			Owner:        r.org.login,
			Repo:         r.name,
			Labels:       append([]string(nil), req.Labels...),
			Status:       JobQueued,
			Duration:     req.Duration,
			Name:         orDefault(req.Name, "build"),
			WorkflowName: orDefault(req.WorkflowName, "CI"),
			HeadBranch:   orDefault(req.HeadBranch, "main"),
			CreatedAt:    s.now().UTC(),
		},
		repo:    r,
		headSHA: randomHex(20),
	}
	s.nextJobID++
	s.nextRunID++
	s.jobs = append(s.jobs, j)
	s.logf("githubsim: queued job %d in %s with labels %v", j.ID, r.fullName(), j.Labels)
	s.emit(j, JobQueued)
	s.scaleSetAssignQueuedLocked()
	s.assign()
	return j.snapshot()
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Jobs returns every job, by id.
func (s *Server) Jobs() []Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Job, 0, len(s.jobs))
	for _, j := range s.jobs {
		out = append(out, j.snapshot())
	}
	return out
}

// Job returns the job with that id.
func (s *Server) Job(id int64) (Job, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.findJob(id); j != nil {
		return j.snapshot(), true
	}
	return Job{}, false
}

// CompleteJob finishes a running job now with conclusion "success"; its
// ephemeral runner deregisters.
func (s *Server) CompleteJob(id int64) error {
	return s.FinishJob(id, ConclusionSuccess)
}

// FinishJob ends a job with a conclusion: "success" or "failure" for a
// running job, "cancelled" for a queued or running one. The runner that ran
// it reports the end, so an ephemeral runner is removed whatever the
// conclusion: GitHub unregisters an ephemeral runner after its one job
// (GitHub changelog 2021-09-20 "Ephemeral self-hosted runners & new
// webhooks for auto-scaling"; docs "Autoscaling with self-hosted runners").
func (s *Server) FinishJob(id int64, conclusion string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.findJob(id)
	if j == nil {
		return fmt.Errorf("job %d does not exist", id)
	}
	switch conclusion {
	case ConclusionSuccess, ConclusionFailure:
		if j.Status != JobInProgress {
			return fmt.Errorf("job %d is %s, not in_progress", id, j.Status)
		}
	case ConclusionCancelled:
		if j.Status == JobCompleted {
			return fmt.Errorf("job %d is completed already", id)
		}
	default:
		return fmt.Errorf("conclusion %q is not success, failure or cancelled", conclusion)
	}
	s.finishLocked(j, conclusion, true)
	return nil
}

func (s *Server) findJob(id int64) *job {
	for _, j := range s.jobs {
		if j.ID == id {
			return j
		}
	}
	return nil
}

// eligible says whether a runner may take a job: online, idle, in scope (an
// enterprise runner serves every repository of the enterprise's
// organizations, an organization runner every repository of its
// organization, a repository runner only its repository) and carrying
// every label.
func eligible(r *runner, j *job) bool {
	if !r.online || r.busy {
		return false
	}
	switch {
	case r.ent != nil:
		if j.repo.org.enterprise != r.ent {
			return false
		}
	case r.org != j.repo.org || (r.repo != nil && r.repo != j.repo):
		return false
	}
	for _, want := range j.Labels {
		found := false
		for _, have := range r.labels {
			if strings.EqualFold(want, have) {
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

// assign hands queued jobs, oldest first, to eligible runners, lowest id
// first.
func (s *Server) assign() {
	var free []*runner
	for _, r := range s.sortedRunners() {
		if r.online && !r.busy {
			free = append(free, r)
		}
	}
	if len(free) == 0 {
		return // nothing to hand out, however long the queue
	}
	for _, j := range s.jobs {
		if j.Status != JobQueued {
			continue
		}
		for _, r := range free {
			if !eligible(r, j) || !s.scaleSetEligible(r, j) {
				continue
			}
			r.busy = true
			r.jobID = j.ID
			j.Status = JobInProgress
			j.RunnerID, j.RunnerName = r.id, r.name
			j.RunnerGroupID = r.groupID
			if g := s.groupOfLocked(r); g != nil {
				j.RunnerGroupName = g.name
			}
			j.StartedAt = s.now().UTC()
			s.logf("githubsim: job %d assigned to runner %d %q", j.ID, r.id, r.name)
			s.emit(j, JobInProgress)
			s.scaleSetStartedLocked(j)
			if j.Duration > 0 && !s.closed {
				id := j.ID
				j.timer = time.AfterFunc(j.Duration, func() { s.timedOut(id) })
			}
			break
		}
	}
}

// timedOut completes a job whose duration elapsed.
func (s *Server) timedOut(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if j := s.findJob(id); j != nil && j.Status == JobInProgress {
		j.timer = nil
		s.finishLocked(j, ConclusionSuccess, true)
	}
}

// finishLocked completes a queued or running job. When its runner reported
// the end (byRunner), an ephemeral runner is removed whatever the
// conclusion, as GitHub removes it after its one job; when the runner's
// process was lost instead, the runner stays registered and offline until
// removed for not connecting (sweepLocked).
func (s *Server) finishLocked(j *job, conclusion string, byRunner bool) {
	if j.timer != nil {
		j.timer.Stop()
		j.timer = nil
	}
	j.Status = JobCompleted
	j.Conclusion = conclusion
	j.CompletedAt = s.now().UTC()
	if r, ok := s.runners[j.RunnerID]; ok && j.RunnerID != 0 && r.jobID == j.ID {
		r.busy = false
		r.jobID = 0
		if r.ephemeral && byRunner {
			delete(s.runners, r.id)
			s.logf("githubsim: ephemeral runner %d %q deregistered", r.id, r.name)
		}
	}
	s.logf("githubsim: job %d completed: %s", j.ID, conclusion)
	s.emit(j, JobCompleted)
	s.scaleSetCompletedLocked(j)
	s.assign()
}

// offlineRunnerTTL is how long GitHub keeps a (not ephemeral) self-hosted
// runner that does not connect: "A self-hosted runner is automatically
// removed from GitHub if it has not connected to GitHub Actions for more
// than 14 days" (GitHub docs "Communicating with self-hosted runners").
const offlineRunnerTTL = 14 * 24 * time.Hour

// DefaultNeverConnectedTTL is how long GitHub keeps an ephemeral runner that
// does not connect: "An ephemeral self-hosted runner is automatically
// removed from GitHub if it has not connected to GitHub Actions for more
// than 1 day" (GitHub docs "Communicating with self-hosted runners";
// "Autoscaling with self-hosted runners").
const DefaultNeverConnectedTTL = 24 * time.Hour

// sweepLocked removes the offline runners GitHub would have removed by now:
// ephemeral ones offline (never connected, or gone) longer than the
// never-connected TTL, others offline longer than 14 days. It runs, on the
// Options.Now clock, whenever runners are looked at.
func (s *Server) sweepLocked() {
	now := s.now()
	for id, r := range s.runners {
		if r.online {
			continue
		}
		ttl := offlineRunnerTTL
		if r.ephemeral {
			ttl = s.neverConnectedTTL
		}
		if now.Sub(r.lastSeen) > ttl {
			delete(s.runners, id)
			s.logf("githubsim: runner %d %q removed: not connected for %s", r.id, r.name, ttl)
		}
	}
}

// SetNeverConnectedTTL changes how long an ephemeral runner may stay
// offline (never connected, or gone) before GitHub removes it; 0 means
// DefaultNeverConnectedTTL.
func (s *Server) SetNeverConnectedTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		d = DefaultNeverConnectedTTL
	}
	s.neverConnectedTTL = d
}
