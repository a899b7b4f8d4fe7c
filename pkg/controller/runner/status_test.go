package runner

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// computeStatus stamps with now the conditions that change status, and only
// those: the same inputs give the same status.
func TestComputeStatusTransitionTimes(t *testing.T) {
	earlier, now := metav1.Unix(1_700_000_000, 0), metav1.Unix(1_800_000_000, 0)
	cond := func(condType string, s metav1.ConditionStatus, reason string) metav1.Condition {
		return metav1.Condition{Type: condType, Status: s, Reason: reason, ObservedGeneration: 1, LastTransitionTime: earlier}
	}
	pending := func() *octorunv1alpha1.Runner {
		r := registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhasePending)
		r.Status.Conditions = []metav1.Condition{
			cond(octorunv1alpha1.RunnerConditionRegistered, metav1.ConditionTrue, octorunv1alpha1.ReasonRegistered),
			cond(octorunv1alpha1.RunnerConditionPodReady, metav1.ConditionFalse, octorunv1alpha1.ReasonPodPending),
			cond(octorunv1alpha1.RunnerConditionJobAssigned, metav1.ConditionFalse, octorunv1alpha1.ReasonNoJob),
		}
		return r
	}
	tests := []struct {
		name   string
		runner *octorunv1alpha1.Runner
		obs    func(r *octorunv1alpha1.Runner) observation
		want   map[string]metav1.Time // LastTransitionTime by condition type
	}{
		{
			name:   "new conditions",
			runner: newRunner("r1"),
			obs:    func(*octorunv1alpha1.Runner) observation { return observation{} },
			want: map[string]metav1.Time{
				octorunv1alpha1.RunnerConditionRegistered:  now,
				octorunv1alpha1.RunnerConditionPodReady:    now,
				octorunv1alpha1.RunnerConditionJobAssigned: now,
			},
		},
		{
			name:   "only the condition whose status changes",
			runner: pending(),
			obs: func(r *octorunv1alpha1.Runner) observation {
				return observation{pod: podOf(r, corev1.PodRunning, true)}
			},
			want: map[string]metav1.Time{
				octorunv1alpha1.RunnerConditionRegistered:  earlier,
				octorunv1alpha1.RunnerConditionPodReady:    now,
				octorunv1alpha1.RunnerConditionJobAssigned: earlier,
			},
		},
		{
			name:   "a new reason with the same status",
			runner: pending(),
			obs: func(r *octorunv1alpha1.Runner) observation {
				return observation{podConflict: "Pod r1 exists and does not belong to the Runner"}
			},
			want: map[string]metav1.Time{
				octorunv1alpha1.RunnerConditionRegistered:  earlier,
				octorunv1alpha1.RunnerConditionPodReady:    earlier,
				octorunv1alpha1.RunnerConditionJobAssigned: earlier,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := tt.obs(tt.runner)
			got := computeStatus(tt.runner, obs, now)
			times := map[string]metav1.Time{}
			for _, c := range got.Conditions {
				times[c.Type] = c.LastTransitionTime
			}
			if diff := cmp.Diff(tt.want, times); diff != "" {
				t.Errorf("LastTransitionTime (-want +got):\n%s", diff)
			}
			if again := computeStatus(tt.runner, obs, now); !cmp.Equal(got, again) {
				t.Error("computeStatus is not deterministic")
			}
		})
	}
}
