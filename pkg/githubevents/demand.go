package githubevents

import (
	"strings"
	"sync"
	"time"
)

// selfHosted is the label every self-hosted runner has.
const selfHosted = "self-hosted"

// queuedJob is a job GitHub reported queued (or waiting) and not yet
// started or completed.
type queuedJob struct {
	org, repo string   // lower case
	labels    []string // lower case
	since     time.Time
}

// demand tracks the queued jobs. Events come in any order: a job that
// started or completed is remembered (finished), so its late queued event
// does not count it again.
type demand struct {
	ttl time.Duration
	max int

	mu       sync.Mutex
	jobs     map[int64]queuedJob
	finished *expiringSet[int64]
}

func newDemand(max int, ttl time.Duration) *demand {
	return &demand{ttl: ttl, max: max, jobs: map[int64]queuedJob{}, finished: newExpiringSet[int64](max, ttl)}
}

// queue counts a job as demand from since (GitHub's creation time of the
// job) until it finishes or ttl passed. It says whether the job is counted:
// not when it finished already, is too old, has no labels, or the tracker
// is full.
func (d *demand) queue(jobID int64, org, repo string, labels []string, since, now time.Time) bool {
	if since.IsZero() || since.After(now) {
		since = now
	}
	if len(labels) == 0 || now.Sub(since) >= d.ttl || d.finished.contains(jobID, now) {
		return false
	}
	job := queuedJob{org: strings.ToLower(org), repo: strings.ToLower(repo), since: since}
	for _, l := range labels {
		job.labels = append(job.labels, strings.ToLower(l))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.jobs[jobID]; !ok && len(d.jobs) >= d.max {
		d.expireLocked(now)
		if len(d.jobs) >= d.max {
			return false
		}
	}
	d.jobs[jobID] = job
	return true
}

// finish stops counting a job that started or completed, for good.
func (d *demand) finish(jobID int64, now time.Time) {
	d.finished.add(jobID, now)
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.jobs, jobID)
}

// count returns how many queued jobs of the scope a runner with
// runnerLabels could run: the jobs of the organization org (of any of its
// repositories when repo is empty, of repository repo otherwise) whose
// labels are all among runnerLabels, without regard to case, "self-hosted"
// implied.
func (d *demand) count(org, repo string, runnerLabels []string, now time.Time) int {
	have := map[string]bool{selfHosted: true}
	for _, l := range runnerLabels {
		have[strings.ToLower(l)] = true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expireLocked(now)
	n := 0
	for _, job := range d.jobs {
		if !strings.EqualFold(job.org, org) || repo != "" && !strings.EqualFold(job.repo, repo) {
			continue
		}
		if subset(job.labels, have) {
			n++
		}
	}
	return n
}

// len returns how many jobs are counted.
func (d *demand) len(now time.Time) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expireLocked(now)
	return len(d.jobs)
}

func (d *demand) expireLocked(now time.Time) {
	for id, job := range d.jobs {
		if now.Sub(job.since) >= d.ttl {
			delete(d.jobs, id)
		}
	}
}

func subset(labels []string, of map[string]bool) bool {
	for _, l := range labels {
		if !of[l] {
			return false
		}
	}
	return true
}
