package runnerset

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/flowcontrol"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// backoffGCInterval is how often the failure backoff drops the streaks that
// are over, as the DaemonSet controller collects its backoff every minute.
const backoffGCInterval = time.Minute

// failures slows down the creation of a RunnerSet's Runners while they fail
// in a row, as the DaemonSet controller slows down the replacement of failed
// pods: a flowcontrol.Backoff keyed by set doubles the wait with each
// failure, from Options.FailureBackoff up to MaxFailureBackoff. A Failed
// Runner counts once (by UID) however many syncs see it; a Complete one
// shows that the template works and ends the streak.
type failures struct {
	backoff *flowcontrol.Backoff
	max     time.Duration

	mu      sync.Mutex
	streaks map[string]*streak // by set key
}

// streak is a set's run of Runners that failed in a row.
type streak struct {
	count int       // Runners that failed in a row
	last  time.Time // when the last of them was counted; the wait runs from it
	// seen holds the UIDs of the finished Runners the last count saw, all
	// counted already. The sync that sees a finished Runner deletes it, so
	// the next syncs see it only until the deletion shows in the cache (or
	// while deleting it fails): seen stays as small as the set.
	seen sets.Set[types.UID]
	// outdated is the message of the last counted failure when GitHub
	// refused that runner's version; empty when it did not.
	outdated string
}

func newFailures(initial, max time.Duration) *failures {
	b := flowcontrol.NewBackOff(initial, max)
	b.HasExpiredFunc = streakOver
	return &failures{backoff: b, max: max, streaks: map[string]*streak{}}
}

// streakOver says whether a set's streak of failures is over because none of
// its Runners failed for twice the longest wait: the next failure waits the
// first wait again. It is flowcontrol.Backoff's own rule, made explicit so
// that the count of failures in a row ends with the Backoff's entry.
func streakOver(now, last time.Time, max time.Duration) bool {
	return now.Sub(last) > 2*max
}

// observe counts the set's finished Runners that no earlier call counted.
func (f *failures) observe(key string, finished []*octorunv1alpha1.Runner) {
	now := f.backoff.Clock.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.streaks[key]
	if st == nil {
		if len(finished) == 0 {
			return
		}
		st = &streak{}
		f.streaks[key] = st
	}
	seen := sets.New[types.UID]()
	for _, r := range finished {
		seen.Insert(r.UID)
		if st.seen.Has(r.UID) {
			continue
		}
		switch {
		case r.Status.Phase == octorunv1alpha1.RunnerPhaseComplete:
			st.count = 0
			st.outdated = ""
			f.backoff.Reset(key)
		case disrupted(r):
			// Says nothing about the template.
		default:
			if streakOver(now, st.last, f.max) {
				st.count = 0
			}
			st.count++
			st.last = now
			st.outdated = ""
			if c := meta.FindStatusCondition(r.Status.Conditions, octorunv1alpha1.RunnerConditionRunnerOutdated); c != nil && c.Status == metav1.ConditionTrue {
				st.outdated = c.Message
			}
			f.backoff.Next(key, now)
		}
	}
	st.seen = seen
	if st.count == 0 && seen.Len() == 0 {
		delete(f.streaks, key)
	}
}

// wait returns how many of the set's Runners failed in a row and how long
// its next Runner must wait; zero and zero when it need not.
func (f *failures) wait(key string) (int, time.Duration) {
	now := f.backoff.Clock.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.streaks[key]
	if st == nil || st.count == 0 || !f.backoff.IsInBackOffSince(key, st.last) {
		return 0, 0
	}
	return st.count, st.last.Add(f.backoff.Get(key)).Sub(now)
}

// outdated says whether the set's last failed Runner was refused by GitHub
// for its version, with that Runner's message; known is false when the set
// has no streak of failures to tell (none, or one that is over).
func (f *failures) outdated(key string) (message string, known bool) {
	now := f.backoff.Clock.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.streaks[key]
	if st == nil {
		return "", false
	}
	if st.count > 0 && streakOver(now, st.last, f.max) {
		return "", false
	}
	return st.outdated, true
}

// forget drops a deleted set's streak.
func (f *failures) forget(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.streaks, key)
	f.backoff.DeleteEntry(key)
}

// gc drops the Backoff's entries and the streaks that are over, so that
// neither grows with every set that ever failed.
func (f *failures) gc() {
	f.backoff.GC()
	now := f.backoff.Clock.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	for key, st := range f.streaks {
		if streakOver(now, st.last, f.max) {
			st.count = 0
		}
		if st.count == 0 && st.seen.Len() == 0 {
			delete(f.streaks, key)
		}
	}
}

// disrupted says whether a Runner failed because its pod was taken away
// (evicted by a node drain, deleted, lost with its node) rather than
// because it could not run: such failures do not slow down replacements.
func disrupted(r *octorunv1alpha1.Runner) bool {
	c := meta.FindStatusCondition(r.Status.Conditions, octorunv1alpha1.RunnerConditionPodReady)
	return c != nil && c.Reason == octorunv1alpha1.ReasonPodMissing
}
