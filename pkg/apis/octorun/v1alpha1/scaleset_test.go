package v1alpha1

import (
	"math"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestScaleSetDesired(t *testing.T) {
	for _, tc := range []struct {
		name     string
		min, max *int32
		assigned int
		want     int32
	}{
		{name: "no bounds, no jobs", want: 0},
		{name: "a runner per job", assigned: 7, want: 7},
		{name: "min beside the jobs", min: ptr.To[int32](2), assigned: 3, want: 5},
		{name: "min without jobs", min: ptr.To[int32](2), want: 2},
		{name: "max bounds", max: ptr.To[int32](4), assigned: 9, want: 4},
		{name: "max below min wins", min: ptr.To[int32](5), max: ptr.To[int32](3), want: 3},
		{name: "negative count is none", min: ptr.To[int32](1), assigned: -4, want: 1},
		{name: "huge count stays in range", assigned: math.MaxInt, want: math.MaxInt32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &RunnerSet{Spec: RunnerSetSpec{ScaleSet: &RunnerScaleSetSpec{MinRunners: tc.min, MaxRunners: tc.max}}}
			if got := s.ScaleSetDesired(tc.assigned); got != tc.want {
				t.Errorf("ScaleSetDesired(%d) = %d, want %d", tc.assigned, got, tc.want)
			}
		})
	}
}

func TestScaleSetNameAndGroup(t *testing.T) {
	s := &RunnerSet{ObjectMeta: metav1.ObjectMeta{Name: "build"}}
	if got := s.ScaleSetName(); got != "" {
		t.Errorf("ScaleSetName of a plain set = %q, want none", got)
	}
	s.Spec.ScaleSet = &RunnerScaleSetSpec{}
	if got, want := s.ScaleSetName(), "build"; got != want {
		t.Errorf("ScaleSetName = %q, want %q", got, want)
	}
	if got, want := s.ScaleSetRunnerGroup(), DefaultRunnerGroup; got != want {
		t.Errorf("ScaleSetRunnerGroup = %q, want %q", got, want)
	}
	s.Spec.Template.Spec.Group = "gpu"
	if got, want := s.ScaleSetRunnerGroup(), "gpu"; got != want {
		t.Errorf("ScaleSetRunnerGroup = %q, want the template's %q", got, want)
	}
	s.Spec.ScaleSet = &RunnerScaleSetSpec{Name: "linux-x64", RunnerGroup: "big"}
	if s.ScaleSetName() != "linux-x64" || s.ScaleSetRunnerGroup() != "big" {
		t.Errorf("ScaleSetName, ScaleSetRunnerGroup = %q, %q", s.ScaleSetName(), s.ScaleSetRunnerGroup())
	}
}
