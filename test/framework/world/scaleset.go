package world

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/githubsim"
)

// ScaleSet makes a RunnerSet a runner scale set keeping minRunners to
// maxRunners runners (a negative maxRunners leaves it unbounded), for
// CreateRunnerSet. The set starts at minRunners: its scale set's demand
// sets spec.runners from there on.
func ScaleSet(minRunners, maxRunners int) func(*octorunv1alpha1.RunnerSet) {
	return func(set *octorunv1alpha1.RunnerSet) {
		set.Spec.ScaleSet = &octorunv1alpha1.RunnerScaleSetSpec{MinRunners: ptr.To(int32(minRunners))}
		if maxRunners >= 0 {
			set.Spec.ScaleSet.MaxRunners = ptr.To(int32(maxRunners))
		}
		set.Spec.Runners = ptr.To(int32(minRunners))
	}
}

// ScaleSetSession returns the simulator's scale set of the given name and
// its message session; ok is false while the set has none.
func (w *World) ScaleSetSession(name string) (set githubsim.ScaleSet, session githubsim.ScaleSetSession, ok bool) {
	for _, s := range w.Sim.ScaleSets() {
		if !strings.EqualFold(s.Name, name) {
			continue
		}
		set = s
		for _, sess := range w.Sim.Sessions() {
			if sess.ScaleSetID == s.ID {
				return set, sess, true
			}
		}
		return set, session, false
	}
	return set, session, false
}

// WaitScaleSetListening waits until the scale-set RunnerSet name says
// ScaleSetReady=True and its scale set on the simulator has a message
// session, and returns the session.
func (w *World) WaitScaleSetListening(ctx context.Context, name string, timeout time.Duration) (githubsim.ScaleSetSession, error) {
	var session githubsim.ScaleSetSession
	var last string
	err := w.WaitFor(ctx, fmt.Sprintf("RunnerSet %s's scale set listening", name), timeout, func() (bool, error) {
		rs, err := w.Octo.OctorunV1alpha1().RunnerSets(w.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		c := meta.FindStatusCondition(rs.Status.Conditions, octorunv1alpha1.RunnerSetConditionScaleSetReady)
		if c == nil {
			last = "no ScaleSetReady condition"
			return false, nil
		}
		last = fmt.Sprintf("ScaleSetReady=%s %s: %s", c.Status, c.Reason, c.Message)
		if c.Status != metav1.ConditionTrue {
			return false, nil
		}
		var ok bool
		_, session, ok = w.ScaleSetSession(rs.ScaleSetName())
		if !ok {
			last += "; the simulator's scale set has no session"
		}
		return ok, nil
	})
	if err != nil {
		return session, fmt.Errorf("%w; last: %s", err, last)
	}
	return session, nil
}
