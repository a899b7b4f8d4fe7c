package runner

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/github"
	"github.com/octorun/octorun/pkg/runnerscaleset"
)

// fakeScaleSets puts every Runner in scale set id, or fails with err.
type fakeScaleSets struct {
	id    int64
	err   error
	calls []string
}

func (s *fakeScaleSets) ScaleSetOf(*octorunv1alpha1.Runner) (int64, error) { return s.id, s.err }

func (s *fakeScaleSets) GenerateJITConfig(_ context.Context, _ github.Scope, id int64, name, workFolder string) (*github.JITConfig, error) {
	s.calls = append(s.calls, fmt.Sprintf("GenerateJITConfig %d %s %s", id, name, workFolder))
	return &github.JITConfig{Runner: github.Runner{ID: 900, Name: name}, EncodedJITConfig: "c2NhbGUtc2V0"}, nil
}

// TestScaleSetRunnersRegisterWithTheirScaleSet: a Runner of a scale-set
// RunnerSet registers through its scale set's JIT endpoint, not REST;
// waits while the scale set is not created; and fails for good when its
// URL is not its set's.
func TestScaleSetRunnersRegisterWithTheirScaleSet(t *testing.T) {
	for _, tc := range []struct {
		name        string
		sets        *fakeScaleSets
		wantID      int64
		wantCalls   []string
		wantGitHub  []string
		wantReason  string
		wantRequeue time.Duration
	}{
		{
			// The status waits for the new pod to start (pendingFold).
			name: "registered in the scale set", sets: &fakeScaleSets{id: 7}, wantID: 900,
			wantCalls: []string{"GenerateJITConfig 7 test-default.r1 _work"}, wantRequeue: pendingFold,
		},
		{
			name: "no scale set", sets: &fakeScaleSets{}, wantID: 101,
			wantGitHub: []string{"RunnerGroupID", "GenerateJITConfig"}, wantRequeue: pendingFold,
		},
		{
			name: "scale set not created yet", sets: &fakeScaleSets{err: fmt.Errorf("RunnerSet s: %w", runnerscaleset.ErrNotReady)},
			wantReason: "False/" + octorunv1alpha1.ReasonRegistering, wantRequeue: scaleSetWait,
		},
		{
			name: "another URL than the set's", sets: &fakeScaleSets{err: &runnerscaleset.MismatchError{Set: "s", SetURL: "https://github.com/a", URL: "https://github.com/octo"}},
			wantReason: "False/" + octorunv1alpha1.ReasonRegistrationFailed,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.scaleSets = tc.sets
			r := newRunner("r1")
			f.addRunner(r)
			requeue, err := f.run(r)
			if err != nil || requeue != tc.wantRequeue {
				t.Fatalf("sync = %v, %v; want %v and no error", requeue, err, tc.wantRequeue)
			}
			if diff := cmp.Diff(tc.wantCalls, tc.sets.calls); diff != "" {
				t.Errorf("scale set calls (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantGitHub, f.github.calls); diff != "" {
				t.Errorf("REST calls (-want +got):\n%s", diff)
			}
			got := f.runner("r1")
			if got.Spec.ID != tc.wantID {
				t.Errorf("spec.id = %d, want %d", got.Spec.ID, tc.wantID)
			}
			if reason := conditionReason(got, octorunv1alpha1.RunnerConditionRegistered); reason != tc.wantReason {
				t.Errorf("Registered = %s, want %s", reason, tc.wantReason)
			}
		})
	}
}

// TestScaleSetRunnersWaitForTheirMessages: a scale set's messages report
// its jobs whether or not a webhook receiver runs, so its Runners wait for
// them after an exit with no job seen, even when other Runners need not.
func TestScaleSetRunnersWaitForTheirMessages(t *testing.T) {
	c := &Controller{opts: Options{ExitGracePeriod: time.Nanosecond, ScaleSetExitGracePeriod: 10 * time.Second}}
	r := newRunner("r1")
	if got := c.exitGrace(r); got != time.Nanosecond {
		t.Errorf("exit grace without scale sets = %v, want the options'", got)
	}
	c.opts.ScaleSets = &fakeScaleSets{}
	if got := c.exitGrace(r); got != time.Nanosecond {
		t.Errorf("exit grace of a Runner of no scale set = %v, want the options'", got)
	}
	c.opts.ScaleSets = &fakeScaleSets{id: 7}
	if got := c.exitGrace(r); got != 10*time.Second {
		t.Errorf("exit grace of a scale set's Runner = %v, want 10s", got)
	}
}
