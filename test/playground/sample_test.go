package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/githubsim"
)

func TestSampleRunnerSet(t *testing.T) {
	labels := map[string]string{octorunv1alpha1.LabelRunnerSet: "playground"}
	template := octorunv1alpha1.RunnerTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octo"},
	}
	tests := []struct {
		name string
		o    options
		want octorunv1alpha1.RunnerSetSpec
	}{
		{
			name: "webhook mode: the runners asked for",
			o:    options{runners: 3},
			want: octorunv1alpha1.RunnerSetSpec{
				Runners:  ptr.To[int32](3),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: template,
			},
		},
		{
			name: "scale set: no spec.runners, 0 to the runners asked for",
			o:    options{runners: 5, scaleSet: true},
			want: octorunv1alpha1.RunnerSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: template,
				ScaleSet: &octorunv1alpha1.RunnerScaleSetSpec{
					Name:       "playground",
					MinRunners: ptr.To[int32](0),
					MaxRunners: ptr.To[int32](5),
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := sampleRunnerSet(tt.o)
			if set.Name != "playground" {
				t.Errorf("name = %q, want playground", set.Name)
			}
			if diff := cmp.Diff(tt.want, set.Spec); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		})
	}
	if got := sampleRunnerSet(options{runners: 2, scaleSet: true}).ScaleSetName(); got != "playground" {
		t.Errorf("ScaleSetName() = %q: the jobs' runs-on would name another set", got)
	}
}

func TestStatusString(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	base := status{
		now: now,
		phases: map[octorunv1alpha1.RunnerPhase]int{
			octorunv1alpha1.RunnerPhasePending: 1, octorunv1alpha1.RunnerPhaseIdle: 2, octorunv1alpha1.RunnerPhaseActive: 3,
		},
		jobs:  map[string]int{githubsim.JobQueued: 4, githubsim.JobInProgress: 3, githubsim.JobCompleted: 9},
		calls: 42,
	}
	const runnersAndJobs = "03:04:05 runners: 1 Pending, 2 Idle, 3 Active, 0 Complete, 0 Failed | jobs: 4 queued, 3 running, 9 done | GitHub API calls: 42"
	scaleSet := func(runners *int32, st *octorunv1alpha1.RunnerScaleSetStatus) *octorunv1alpha1.RunnerSet {
		return &octorunv1alpha1.RunnerSet{
			Spec:   octorunv1alpha1.RunnerSetSpec{Runners: runners, ScaleSet: &octorunv1alpha1.RunnerScaleSetSpec{}},
			Status: octorunv1alpha1.RunnerSetStatus{ScaleSet: st},
		}
	}
	tests := []struct {
		name string
		set  *octorunv1alpha1.RunnerSet
		want string
	}{
		{name: "RunnerSet not read", want: runnersAndJobs},
		{name: "webhook mode", set: &octorunv1alpha1.RunnerSet{Spec: octorunv1alpha1.RunnerSetSpec{Runners: ptr.To[int32](3)}}, want: runnersAndJobs},
		{name: "scale set without status", set: scaleSet(nil, nil), want: runnersAndJobs + " | scale set: not created yet"},
		{name: "scale set without id", set: scaleSet(nil, &octorunv1alpha1.RunnerScaleSetStatus{}), want: runnersAndJobs + " | scale set: not created yet"},
		{
			name: "scale set",
			set:  scaleSet(ptr.To[int32](7), &octorunv1alpha1.RunnerScaleSetStatus{ID: 12, AssignedJobs: 7, RunningJobs: 3}),
			want: runnersAndJobs + " | scale set 12: 7 assigned, 3 running, 7 desired",
		},
		{
			name: "scale set before its first message",
			set:  scaleSet(nil, &octorunv1alpha1.RunnerScaleSetStatus{ID: 12}),
			want: runnersAndJobs + " | scale set 12: 0 assigned, 0 running, - desired",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := base
			st.set = tt.set
			if got := st.String(); got != tt.want {
				t.Errorf("String() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
