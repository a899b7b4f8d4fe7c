// Package jobstore keeps the states of GitHub's workflow jobs in the API
// server, so that every Octorun replica counts the same demand whichever
// replica each webhook delivery went to. It is the githubevents.JobStore
// cmd/octorun uses.
//
// # Layout
//
// The states live in Shards ConfigMaps of Octorun's namespace, named
// octorun-jobs-<n> and labelled octorun.github.io/job-store. Each state is
// one key, written once:
//
//	"<id>.q"  queued: {"o":org,"r":repo,"e":enterprise,"l":[labels],"s":created}
//	"<id>.f"  finished (started or completed): Unix seconds
//
// A batch of writes goes to the smallest ConfigMap, so a job's keys may be
// in different ones: every replica reads them all and joins them by job id.
// The demand is the queued keys without a finished key, created less than
// the queued TTL (24 hours, after which GitHub cancels a job) ago. A job
// started before its queued delivery came (deliveries are not ordered) is
// never counted: its finished key is there first.
//
// # Why ConfigMaps and merge patches
//
// No two deliveries write the same key but duplicates, which write the same
// value. A JSON merge patch of some keys needs no read and no
// resourceVersion: writes of two replicas never conflict, and a write is
// one request. The states are small (about 100 bytes a queued job) and few
// (the jobs queued now, plus an hour of finished ones), so a handful of
// ConfigMaps stays far below their 1 MiB limit; a custom resource would
// need a CRD and its RBAC for the same. Leases or one object per job would
// cost a create and a delete per job.
//
// # Group commit
//
// A delivery is acknowledged only once its key is stored (see
// githubevents.Receiver). One patch is written at a time; the writes of
// the deliveries that come while it is under way are merged into the next
// one, and their answers wait for it. A delivery waits for one patch at
// most while the receiver is quiet, and a burst costs a patch per write's
// time, not one per delivery; a replica killed before a patch answered
// acknowledged nothing it did not store. On shutdown the batch under way is
// written before Run returns.
//
// # Reading and pruning
//
// Every replica watches the ConfigMaps with an informer and counts from its
// cache, so a state written by one replica counts on all within the watch
// latency (well under a second). Any replica prunes, every PrunePeriod: it
// deletes (a merge patch of nulls) the queued keys of finished jobs, the
// queued keys past their TTL and the finished keys older than FinishedTTL.
// Pruning is idempotent and decided only from facts that cannot be undone
// (a finished key, which outlives the queued keys it prunes, and the
// clock), so replicas pruning at once agree. A queued
// delivery that comes more than FinishedTTL after its job finished counts
// the job again, until its TTL: GitHub's deliveries come within seconds.
package jobstore
