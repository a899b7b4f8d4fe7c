package githubevents

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// selfHosted is the label every self-hosted runner has.
const selfHosted = "self-hosted"

// QueuedJob is a job GitHub reported queued, as a JobStore keeps it.
type QueuedJob struct {
	ID int64
	// Org and Repo are the repository's owner and name, lower case.
	Org, Repo string
	// Enterprise is the slug of the enterprise the organization belongs
	// to, lower case; empty when it belongs to none.
	Enterprise string
	// Labels are the job's runs-on labels, lower case.
	Labels []string
	// Since is when GitHub created the job.
	Since time.Time
}

// JobStore keeps which jobs are queued and which finished (started or
// completed), so that the demand can be counted. A store shared by the
// replicas (see pkg/githubevents/jobstore) gives every replica the same
// count whichever replica each delivery went to.
type JobStore interface {
	// Queued records that the job was queued and says whether it counts
	// (not when the store is full). Finished records that the job started
	// or completed at now: from then on it never counts, even if its
	// queued record comes later. Both return once the record is durable,
	// and must be idempotent.
	Queued(ctx context.Context, job QueuedJob, now time.Time) (bool, error)
	Finished(ctx context.Context, jobID int64, now time.Time) error
	// Count returns how many jobs satisfying match are queued, not
	// finished, and were created less than the store's TTL before now.
	// known is false while the store cannot tell "no jobs" from "no
	// deliveries" (nothing recorded yet, or not read yet). It is called at
	// every scrape: it must be cheap and safe for concurrent use.
	Count(match func(*QueuedJob) bool, now time.Time) (n int, known bool)
	// Run runs the store until ctx is done, and returns once the records
	// under way are written.
	Run(ctx context.Context)
}

// memoryStore is the JobStore of a single replica: the jobs whose
// deliveries it received, in memory. Events come in any order: a job that
// started or completed is remembered (finished), so its late queued event
// does not count it again.
type memoryStore struct {
	ttl time.Duration
	max int
	// known tells whether anything was recorded.
	known atomic.Bool

	mu       sync.Mutex
	jobs     map[int64]QueuedJob
	finished *expiringSet[int64]
}

func newMemoryStore(max int, ttl time.Duration) *memoryStore {
	return &memoryStore{ttl: ttl, max: max, jobs: map[int64]QueuedJob{}, finished: newExpiringSet[int64](max, ttl)}
}

// Queued counts the job until it finishes or ttl passed since job.Since:
// not when it finished already, or the store is full.
func (d *memoryStore) Queued(_ context.Context, job QueuedJob, now time.Time) (bool, error) {
	d.known.Store(true)
	if d.finished.contains(job.ID, now) {
		return false, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.jobs[job.ID]; !ok && len(d.jobs) >= d.max {
		d.expireLocked(now)
		if len(d.jobs) >= d.max {
			return false, nil
		}
	}
	d.jobs[job.ID] = job
	return true, nil
}

// Finished stops counting a job that started or completed, for good.
func (d *memoryStore) Finished(_ context.Context, jobID int64, now time.Time) error {
	d.known.Store(true)
	d.finished.add(jobID, now)
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.jobs, jobID)
	return nil
}

func (d *memoryStore) Count(match func(*QueuedJob) bool, now time.Time) (int, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expireLocked(now)
	n := 0
	for _, job := range d.jobs {
		if match(&job) {
			n++
		}
	}
	return n, d.known.Load()
}

func (d *memoryStore) Run(ctx context.Context) { <-ctx.Done() }

func (d *memoryStore) expireLocked(now time.Time) {
	for id, job := range d.jobs {
		if now.Sub(job.Since) >= d.ttl {
			delete(d.jobs, id)
		}
	}
}

// ScopeMatcher returns the match of Count for a runner with runnerLabels of
// organization org (of any of its repositories when repo is empty, of
// repository repo otherwise): the jobs of that scope whose labels are all
// among runnerLabels, without regard to case, "self-hosted" implied.
func ScopeMatcher(org, repo string, runnerLabels []string) func(*QueuedJob) bool {
	return scopeMatcher(func(job *QueuedJob) bool {
		return strings.EqualFold(job.Org, org) && (repo == "" || strings.EqualFold(job.Repo, repo))
	}, runnerLabels)
}

// EnterpriseMatcher is ScopeMatcher for a runner of enterprise slug: the
// jobs of any organization of the enterprise (their payloads carry
// enterprise.slug).
func EnterpriseMatcher(slug string, runnerLabels []string) func(*QueuedJob) bool {
	return scopeMatcher(func(job *QueuedJob) bool { return job.Enterprise != "" && strings.EqualFold(job.Enterprise, slug) }, runnerLabels)
}

func scopeMatcher(inScope func(*QueuedJob) bool, runnerLabels []string) func(*QueuedJob) bool {
	have := map[string]bool{selfHosted: true}
	for _, l := range runnerLabels {
		have[strings.ToLower(l)] = true
	}
	return func(job *QueuedJob) bool { return inScope(job) && subset(job.Labels, have) }
}

func subset(labels []string, of map[string]bool) bool {
	for _, l := range labels {
		if !of[l] {
			return false
		}
	}
	return true
}

// queuedJob returns the job of a queued event, lower case, and says whether
// it can count: not without labels, nor when ttl passed since its creation.
// A creation time missing or in the future is taken as now.
func queuedJob(ev jobEvent, now time.Time, ttl time.Duration) (QueuedJob, bool) {
	since := ev.createdAt
	if since.IsZero() || since.After(now) {
		since = now
	}
	job := QueuedJob{ID: ev.jobID, Org: strings.ToLower(ev.org), Repo: strings.ToLower(ev.repo),
		Enterprise: strings.ToLower(ev.enterprise), Since: since}
	for _, l := range ev.labels {
		job.Labels = append(job.Labels, strings.ToLower(l))
	}
	return job, len(job.Labels) > 0 && now.Sub(since) < ttl
}
