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

	ConclusionSuccess = "success"
	ConclusionFailure = "failure"
)

// JobRequest describes a job to queue, as a workflow run would.
type JobRequest struct {
	Owner, Repo string
	// Labels are the job's runs-on labels. A runner qualifies when it has
	// all of them (without regard to case); "self-hosted" is implied.
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
	Conclusion  string // "" until completed, then "success" or "failure"
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
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.findJob(id)
	if j == nil {
		return fmt.Errorf("job %d does not exist", id)
	}
	if j.Status != JobInProgress {
		return fmt.Errorf("job %d is %s, not in_progress", id, j.Status)
	}
	s.finish(j, ConclusionSuccess)
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
// organization runner serves every repository of its organization, a
// repository runner only its repository) and carrying every label.
func eligible(r *runner, j *job) bool {
	if !r.online || r.busy || r.org != j.repo.org || (r.repo != nil && r.repo != j.repo) {
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
			if !eligible(r, j) {
				continue
			}
			r.busy = true
			r.jobID = j.ID
			j.Status = JobInProgress
			j.RunnerID, j.RunnerName = r.id, r.name
			j.RunnerGroupID = r.groupID
			if g := r.org.group(r.groupID); g != nil {
				j.RunnerGroupName = g.name
			}
			j.StartedAt = s.now().UTC()
			s.logf("githubsim: job %d assigned to runner %d %q", j.ID, r.id, r.name)
			s.emit(j, JobInProgress)
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
		s.finish(j, ConclusionSuccess)
	}
}

// finish completes a running job. After a finished job the ephemeral runner
// deregisters itself; a failed job leaves its runner registered and offline.
func (s *Server) finish(j *job, conclusion string) {
	if j.timer != nil {
		j.timer.Stop()
		j.timer = nil
	}
	j.Status = JobCompleted
	j.Conclusion = conclusion
	j.CompletedAt = s.now().UTC()
	if r, ok := s.runners[j.RunnerID]; ok && r.jobID == j.ID {
		r.busy = false
		r.jobID = 0
		if r.ephemeral && conclusion == ConclusionSuccess {
			delete(s.runners, r.id)
			s.logf("githubsim: ephemeral runner %d %q deregistered", r.id, r.name)
		}
	}
	s.logf("githubsim: job %d completed: %s", j.ID, conclusion)
	s.emit(j, JobCompleted)
	s.assign()
}
