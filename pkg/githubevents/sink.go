package githubevents

import (
	"context"
	"time"
)

// Sink receives the jobs GitHub started and completed on self-hosted
// runners. The runner is named by its id and its name; the scope by the
// repository's owner (org) and name (repo), so an organization runner and a
// repository runner can both be found.
//
// Both methods must be idempotent and tolerate any order: GitHub may deliver
// completed before in_progress, twice, or not at all. They return false,
// without error, when no runner of Octorun matches (a runner of someone
// else), and an error when the answer could not be recorded (the Receiver
// retries a few times, then gives up: the periodic sync catches up).
type Sink interface {
	// JobStarted says GitHub assigned job jobID of workflow run runID to the
	// runner; startedAt is when the job started (zero if unknown).
	JobStarted(ctx context.Context, org, repo string, runnerID int64, runnerName string, jobID, runID int64, startedAt time.Time) (bool, error)
	// JobCompleted says the runner finished job jobID at completedAt (zero
	// if unknown).
	JobCompleted(ctx context.Context, org, repo string, runnerID int64, runnerName string, jobID, runID int64, startedAt, completedAt time.Time) (bool, error)
}
