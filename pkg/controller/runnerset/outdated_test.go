package runnerset

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

func TestRunnerOutdatedCondition(t *testing.T) {
	now := metav1.Unix(1_800_000_000, 0)
	withCondition := func(s metav1.ConditionStatus, generation int64) *octorunv1alpha1.RunnerSet {
		set := &octorunv1alpha1.RunnerSet{ObjectMeta: metav1.ObjectMeta{Name: "set", Namespace: "ns", Generation: 2}}
		if s != "" {
			set.Status.Conditions = []metav1.Condition{{
				Type: octorunv1alpha1.RunnerSetConditionRunnerOutdated, Status: s, Reason: octorunv1alpha1.ReasonOutdated,
				ObservedGeneration: generation, LastTransitionTime: now,
			}}
		}
		return set
	}
	tests := []struct {
		name string
		set  *octorunv1alpha1.RunnerSet
		out  outcome
		want metav1.ConditionStatus
	}{
		{name: "nothing known", set: withCondition("", 0), want: metav1.ConditionFalse},
		{name: "an outdated runner failed last", set: withCondition("", 0), out: outcome{outdatedKnown: true, outdated: "too old"}, want: metav1.ConditionTrue},
		{name: "a runner completed since", set: withCondition(metav1.ConditionTrue, 2), out: outcome{outdatedKnown: true}, want: metav1.ConditionFalse},
		{name: "no word since, same template", set: withCondition(metav1.ConditionTrue, 2), want: metav1.ConditionTrue},
		{name: "no word since, the template changed", set: withCondition(metav1.ConditionTrue, 1), want: metav1.ConditionFalse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := calculateStatus(tt.set, nil, nil, tt.out, now)
			c := meta.FindStatusCondition(status.Conditions, octorunv1alpha1.RunnerSetConditionRunnerOutdated)
			if c == nil || c.Status != tt.want {
				t.Errorf("RunnerOutdated = %+v, want %s", c, tt.want)
			}
		})
	}
}
