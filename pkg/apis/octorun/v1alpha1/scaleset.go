package v1alpha1

import "math"

// ScaleSetName returns the name of the set's runner scale set on GitHub:
// spec.scaleSet.name, or the set's own name; "" when the set is not a scale
// set.
func (s *RunnerSet) ScaleSetName() string {
	if s.Spec.ScaleSet == nil {
		return ""
	}
	if s.Spec.ScaleSet.Name != "" {
		return s.Spec.ScaleSet.Name
	}
	return s.Name
}

// ScaleSetRunnerGroup returns the runner group of the set's runner scale
// set: spec.scaleSet.runnerGroup, else the template's group, else Default.
func (s *RunnerSet) ScaleSetRunnerGroup() string {
	switch {
	case s.Spec.ScaleSet != nil && s.Spec.ScaleSet.RunnerGroup != "":
		return s.Spec.ScaleSet.RunnerGroup
	case s.Spec.Template.Spec.Group != "":
		return s.Spec.Template.Spec.Group
	}
	return DefaultRunnerGroup
}

// ScaleSetBounds returns the set's minRunners and maxRunners, the latter
// math.MaxInt32 when unset.
func (s *RunnerSet) ScaleSetBounds() (lo, hi int32) {
	hi = math.MaxInt32
	if s.Spec.ScaleSet == nil {
		return 0, hi
	}
	if m := s.Spec.ScaleSet.MinRunners; m != nil && *m > 0 {
		lo = *m
	}
	if m := s.Spec.ScaleSet.MaxRunners; m != nil {
		hi = max(*m, 0)
	}
	return lo, hi
}

// ScaleSetDesired returns the runners a scale-set RunnerSet wants for the
// number of jobs GitHub has assigned to it: a runner for each, beside its
// minRunners, within its bounds (as ARC's listener worker does:
// actions-runner-controller cmd/ghalistener/worker/worker.go
// setDesiredWorkerState). A maxRunners below minRunners wins.
func (s *RunnerSet) ScaleSetDesired(assignedJobs int) int32 {
	lo, hi := s.ScaleSetBounds()
	want := int64(lo) + int64(max(assignedJobs, 0))
	return int32(min(want, int64(hi)))
}
