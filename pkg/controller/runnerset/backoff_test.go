package runnerset

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

func TestFailures(t *testing.T) {
	finished := func(name string, phase octorunv1alpha1.RunnerPhase) *octorunv1alpha1.Runner {
		r := &octorunv1alpha1.Runner{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name + "-uid")}}
		r.Status.Phase = phase
		return r
	}
	failed := func(name string) *octorunv1alpha1.Runner { return finished(name, octorunv1alpha1.RunnerPhaseFailed) }
	complete := func(name string) *octorunv1alpha1.Runner { return finished(name, octorunv1alpha1.RunnerPhaseComplete) }
	evicted := func(name string) *octorunv1alpha1.Runner {
		r := failed(name)
		meta.SetStatusCondition(&r.Status.Conditions, metav1.Condition{
			Type: octorunv1alpha1.RunnerConditionPodReady, Status: metav1.ConditionFalse, Reason: octorunv1alpha1.ReasonPodMissing,
		})
		return r
	}
	list := func(rs ...*octorunv1alpha1.Runner) []*octorunv1alpha1.Runner { return rs }

	// step advances the clock by after, then observes finished (unless
	// nil), then expects count and wait.
	type step struct {
		after     time.Duration
		finished  []*octorunv1alpha1.Runner
		wantCount int
		wantWait  time.Duration
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name:  "no failure, no wait",
			steps: []step{{finished: list(complete("a")), wantCount: 0, wantWait: 0}},
		},
		{
			name: "each failure doubles the wait up to the maximum",
			steps: []step{
				{finished: list(failed("a")), wantCount: 1, wantWait: time.Second},
				{finished: list(failed("b")), wantCount: 2, wantWait: 2 * time.Second},
				{finished: list(failed("c"), failed("d")), wantCount: 4, wantWait: 4 * time.Second},
				{finished: list(failed("e")), wantCount: 5, wantWait: 4 * time.Second},
			},
		},
		{
			name: "a Runner counts once however many syncs see it",
			steps: []step{
				{finished: list(failed("a")), wantCount: 1, wantWait: time.Second},
				{finished: list(failed("a")), wantCount: 1, wantWait: time.Second},
				{finished: list(failed("a"), failed("b")), wantCount: 2, wantWait: 2 * time.Second},
			},
		},
		{
			name: "the wait runs from the last failure",
			steps: []step{
				{finished: list(failed("a"), failed("b")), wantCount: 2, wantWait: 2 * time.Second},
				{after: 1500 * time.Millisecond, wantCount: 2, wantWait: 500 * time.Millisecond},
				{after: 500 * time.Millisecond, wantCount: 0, wantWait: 0},
			},
		},
		{
			name: "a Complete Runner ends the streak",
			steps: []step{
				{finished: list(failed("a"), failed("b")), wantCount: 2, wantWait: 2 * time.Second},
				{finished: list(failed("a"), failed("b"), complete("c")), wantCount: 0, wantWait: 0},
				// c, still seen, does not end the next streak.
				{finished: list(complete("c"), failed("d")), wantCount: 1, wantWait: time.Second},
			},
		},
		{
			name: "disrupted Runners do not count",
			steps: []step{
				{finished: list(evicted("a"), evicted("b")), wantCount: 0, wantWait: 0},
				{finished: list(failed("c"), evicted("d")), wantCount: 1, wantWait: time.Second},
			},
		},
		{
			name: "a streak quiet for twice the maximum wait starts over",
			steps: []step{
				{finished: list(failed("a"), failed("b"), failed("c")), wantCount: 3, wantWait: 4 * time.Second},
				{after: 8 * time.Second, finished: list(failed("d")), wantCount: 4, wantWait: 4 * time.Second},
				{after: 8*time.Second + time.Millisecond, finished: list(failed("e")), wantCount: 1, wantWait: time.Second},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := testingclock.NewFakeClock(clock)
			f := newFailures(time.Second, 4*time.Second)
			f.backoff.Clock = clk
			for i, s := range tt.steps {
				clk.Step(s.after)
				if s.finished != nil {
					f.observe("ns/set", s.finished)
				}
				count, wait := f.wait("ns/set")
				if diff := cmp.Diff([]any{s.wantCount, s.wantWait}, []any{count, wait}); diff != "" {
					t.Errorf("step %d: count and wait (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

// A deleted set's streak is forgotten, and streaks that are over are
// collected: the state does not grow with every set that ever failed.
func TestFailuresForget(t *testing.T) {
	clk := testingclock.NewFakeClock(clock)
	f := newFailures(time.Second, 4*time.Second)
	f.backoff.Clock = clk
	failed := &octorunv1alpha1.Runner{ObjectMeta: metav1.ObjectMeta{UID: "a"}, Status: octorunv1alpha1.RunnerStatus{Phase: octorunv1alpha1.RunnerPhaseFailed}}

	f.observe("ns/deleted", []*octorunv1alpha1.Runner{failed})
	f.forget("ns/deleted")
	if count, wait := f.wait("ns/deleted"); count != 0 || wait != 0 || len(f.streaks) != 0 || f.backoff.Get("ns/deleted") != 0 {
		t.Errorf("after forget: count %d, wait %s, %d streaks, backoff %s; want nothing", count, wait, len(f.streaks), f.backoff.Get("ns/deleted"))
	}

	f.observe("ns/quiet", []*octorunv1alpha1.Runner{failed})
	f.observe("ns/quiet", nil) // the failed Runner is gone
	clk.Step(8*time.Second + time.Millisecond)
	f.gc()
	if len(f.streaks) != 0 || f.backoff.Get("ns/quiet") != 0 {
		t.Errorf("after gc: %d streaks, backoff %s; want none", len(f.streaks), f.backoff.Get("ns/quiet"))
	}
}

// The set is outdated while its last failed Runner was refused by GitHub
// for its version; a Complete Runner or another failure says otherwise.
func TestFailuresOutdated(t *testing.T) {
	runner := func(name string, phase octorunv1alpha1.RunnerPhase, outdated bool) *octorunv1alpha1.Runner {
		r := &octorunv1alpha1.Runner{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name + "-uid")}}
		r.Status.Phase = phase
		if outdated {
			meta.SetStatusCondition(&r.Status.Conditions, metav1.Condition{
				Type: octorunv1alpha1.RunnerConditionRunnerOutdated, Status: metav1.ConditionTrue, Reason: octorunv1alpha1.ReasonOutdated, Message: "too old",
			})
		}
		return r
	}
	clock := testingclock.NewFakeClock(time.Unix(1_800_000_000, 0))
	f := newFailures(time.Second, 4*time.Second)
	f.backoff.Clock = clock
	check := func(step, wantMessage string, wantKnown bool) {
		t.Helper()
		if msg, known := f.outdated("ns/set"); msg != wantMessage || known != wantKnown {
			t.Errorf("%s: outdated = %q, %v; want %q, %v", step, msg, known, wantMessage, wantKnown)
		}
	}
	check("no runner finished", "", false)
	f.observe("ns/set", []*octorunv1alpha1.Runner{runner("a", octorunv1alpha1.RunnerPhaseFailed, true)})
	check("an outdated runner failed", "too old", true)
	f.observe("ns/set", []*octorunv1alpha1.Runner{runner("b", octorunv1alpha1.RunnerPhaseFailed, false)})
	check("another failure followed", "", true)
	f.observe("ns/set", []*octorunv1alpha1.Runner{runner("c", octorunv1alpha1.RunnerPhaseFailed, true)})
	check("outdated again", "too old", true)
	f.observe("ns/set", []*octorunv1alpha1.Runner{runner("d", octorunv1alpha1.RunnerPhaseComplete, false)})
	check("a runner completed its job", "", true)
	f.observe("ns/set", []*octorunv1alpha1.Runner{runner("e", octorunv1alpha1.RunnerPhaseFailed, true)})
	clock.Step(9 * time.Second)
	check("the streak is over", "", false)
}
