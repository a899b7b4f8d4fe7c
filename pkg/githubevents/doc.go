// Package githubevents receives GitHub's workflow_job webhooks and hands
// them on as hints.
//
// A Receiver is an http.Handler that accepts deliveries only when their
// X-Hub-Signature-256 matches the webhook secret (it refuses to be built
// without one), answers within milliseconds and does the work on its own
// goroutines:
//
//   - in_progress: the Sink is told which runner took which job, so the
//     Runner turns Active at once (pkg/controller/runner's JobHints writes
//     the job-assignment hint);
//   - completed: the Sink records the completion;
//   - queued and waiting: the job is counted as demand (QueuedJobs) until it
//     starts, completes or is 24 hours old.
//
// Webhooks get lost, duplicated and reordered, and GitHub does not redeliver
// failed ones. Nothing here is the source of truth: Octorun converges without
// any event (see pkg/controller/githubsync), and events only make it fast.
// Deliveries are deduplicated by X-GitHub-Delivery; the Sink must be
// idempotent and accept completed before in_progress.
//
// The package knows nothing of Kubernetes; cmd/octorun joins it to the
// controllers through the Sink interface.
package githubevents
