// Package githubevents receives GitHub's workflow_job webhooks and hands
// them on as hints.
//
// A Receiver is an http.Handler that accepts deliveries only when their
// X-Hub-Signature-256 matches the webhook secret (it refuses to be built
// without one), records the job's state in a JobStore, answers, and does
// the rest of the work on its own goroutines:
//
//   - queued: the job is counted as demand (QueuedJobs) until it starts,
//     completes or is 24 hours old;
//   - waiting: nothing; a job waiting for an environment's approval is no
//     demand until GitHub queues it;
//   - in_progress: the job is finished for the demand, and the Sink is told
//     which runner took it, so the Runner turns Active at once
//     (pkg/controller/runner's JobHints writes the job-assignment hint);
//   - completed: the job is finished for the demand, and the Sink records
//     the completion.
//
// Webhooks get lost, duplicated and reordered, and GitHub does not redeliver
// failed ones. Nothing here is the source of truth for the runners: Octorun
// converges without any event (see pkg/controller/githubsync), and events
// only make it fast. Deliveries are deduplicated by X-GitHub-Delivery, and
// by the SHA-256 digest of their body, which the signature covers: a
// captured delivery replayed under a new X-GitHub-Delivery is dropped while
// its body is remembered (24 hours, the last 10,000 bodies, per replica).
// The Sink must be idempotent and accept completed before in_progress.
//
// # The demand across replicas
//
// The queued jobs are the one state built from events alone (GitHub's API
// has no cheap "queued jobs of this organization"), and the HPA scales on
// them. GitHub sends each delivery once, to whichever replica the Service
// picks, in no promised order, and does not retry a failed one on its own
// (github/docs, "Handling failed webhook deliveries" and "Best practices
// for using webhooks"): a job may be queued on one replica and started on
// another. A replica that counted only its own deliveries would count that
// job forever (24 hours). So the states go to a JobStore every replica
// reads, and a delivery is acknowledged (202) only once its state is
// stored: an acknowledged delivery survives the replica that took it. A
// store failure is answered 503, which GitHub records as a failed delivery
// that can be redelivered.
//
// pkg/githubevents/jobstore keeps the states in ConfigMaps of Octorun's
// namespace, written by JSON merge patches of keys no other delivery
// writes, batched for a short window (group commit), and watched by every
// replica; it is what cmd/octorun uses. Without a JobStore the Receiver
// keeps the states in memory, which is right for one replica only.
//
// The package knows nothing of Kubernetes; cmd/octorun joins it to the
// controllers through the Sink interface and to the store through JobStore.
package githubevents
