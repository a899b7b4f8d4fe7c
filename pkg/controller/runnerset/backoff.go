package runnerset

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// failureState counts a set's Runners that failed in a row.
type failureState struct {
	count   int
	counted map[string]bool // Runner UIDs already counted
	until   time.Time       // no replacement before
}

// countFailures counts Failed Runners once each; a Complete one shows the
// template works and ends the streak.
func (c *Controller) countFailures(key string, finished []*octorunv1alpha1.Runner) {
	c.failuresMu.Lock()
	defer c.failuresMu.Unlock()
	st := c.failures[key]
	if st == nil {
		st = &failureState{counted: map[string]bool{}}
		c.failures[key] = st
	}
	for _, r := range finished {
		uid := string(r.UID)
		if st.counted[uid] {
			continue
		}
		st.counted[uid] = true
		if r.Status.Phase == octorunv1alpha1.RunnerPhaseComplete {
			st.count, st.until = 0, time.Time{}
			continue
		}
		if disrupted(r) {
			continue // says nothing about the template
		}
		st.count++
		wait := c.opts.FailureBackoff << min(st.count-1, 20)
		st.until = c.now().Add(min(wait, c.opts.MaxFailureBackoff))
	}
	// Forget Runners long gone: the counted set stays as small as the set.
	if len(st.counted) > 4*len(finished)+64 {
		st.counted = map[string]bool{}
		for _, r := range finished {
			st.counted[string(r.UID)] = true
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

func (c *Controller) failureBackoff(key string) time.Duration {
	st := c.failureStateOf(key)
	if st.count == 0 {
		return 0
	}
	return max(st.until.Sub(c.now()), 0)
}

func (c *Controller) failureStateOf(key string) failureState {
	c.failuresMu.Lock()
	defer c.failuresMu.Unlock()
	if st := c.failures[key]; st != nil {
		return *st
	}
	return failureState{}
}
