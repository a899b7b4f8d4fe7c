package jobstore

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/octorun/octorun/pkg/githubevents"
)

// Key suffixes: a job's queued and finished states.
const (
	suffixQueued   = ".q"
	suffixFinished = ".f"
)

func queuedKey(id int64) string   { return strconv.FormatInt(id, 10) + suffixQueued }
func finishedKey(id int64) string { return strconv.FormatInt(id, 10) + suffixFinished }

// queuedValue is the compact JSON of a queued key.
type queuedValue struct {
	Org        string   `json:"o"`
	Repo       string   `json:"r,omitempty"`
	Enterprise string   `json:"e,omitempty"`
	Labels     []string `json:"l"`
	Since      int64    `json:"s"` // Unix seconds
}

func encodeQueued(job githubevents.QueuedJob) (string, error) {
	b, err := json.Marshal(queuedValue{Org: job.Org, Repo: job.Repo, Enterprise: job.Enterprise, Labels: job.Labels, Since: job.Since.Unix()})
	return string(b), err
}

func encodeFinished(at time.Time) string { return strconv.FormatInt(at.Unix(), 10) }

// shard is one ConfigMap's states, parsed.
type shard struct {
	queued   map[int64]queuedEntry
	finished map[int64]time.Time
	// size is the bytes of the data, roughly.
	size int
}

type queuedEntry struct {
	raw string
	job githubevents.QueuedJob
}

// parseShard parses a ConfigMap's data, reusing the jobs of old whose value
// did not change: a batch changes a few keys of thousands. Keys that do not
// parse are skipped (and never pruned: someone else wrote them).
func parseShard(data map[string]string, old *shard) *shard {
	sh := &shard{queued: map[int64]queuedEntry{}, finished: map[int64]time.Time{}}
	for k, v := range data {
		sh.size += len(k) + len(v)
		idText, suffix, ok := cutSuffix(k)
		if !ok {
			continue
		}
		id, err := strconv.ParseInt(idText, 10, 64)
		if err != nil {
			continue
		}
		switch suffix {
		case suffixQueued:
			if old != nil {
				if e, ok := old.queued[id]; ok && e.raw == v {
					sh.queued[id] = e
					continue
				}
			}
			var q queuedValue
			if json.Unmarshal([]byte(v), &q) != nil {
				continue
			}
			sh.queued[id] = queuedEntry{raw: v, job: githubevents.QueuedJob{
				ID: id, Org: q.Org, Repo: q.Repo, Enterprise: q.Enterprise, Labels: q.Labels, Since: time.Unix(q.Since, 0),
			}}
		case suffixFinished:
			sec, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				continue
			}
			sh.finished[id] = time.Unix(sec, 0)
		}
	}
	return sh
}

func cutSuffix(key string) (id, suffix string, ok bool) {
	i := strings.LastIndexByte(key, '.')
	if i <= 0 {
		return "", "", false
	}
	return key[:i], key[i:], true
}

// prunable returns the keys of sh to delete at now: the queued keys of
// jobs finished (in any shard), the queued keys older than queuedTTL and
// the finished keys older than finishedTTL. Each follows from a key that
// stays (a finished key outlives the queued keys it prunes) or from the
// clock, so a stale view never prunes a key it should not.
func (sh *shard) prunable(finished func(id int64) bool, now time.Time, queuedTTL, finishedTTL time.Duration) []string {
	var keys []string
	for id, e := range sh.queued {
		if finished(id) || now.Sub(e.job.Since) >= queuedTTL {
			keys = append(keys, queuedKey(id))
		}
	}
	for id, at := range sh.finished {
		if now.Sub(at) >= finishedTTL {
			keys = append(keys, finishedKey(id))
		}
	}
	return keys
}
