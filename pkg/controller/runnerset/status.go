package runnerset

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// outcome is what a sync's management of Runners led to.
type outcome struct {
	// failure explains a failed create or delete, or a backoff after
	// failing Runners; empty reason when none.
	failureReason, failureMessage string
	// blocked counts the Runners that must go but hold jobs.
	blocked int
	// invalidSelector explains why the set selects nothing.
	invalidSelector string
	// outdatedKnown says whether the sync knows if the set's runners are
	// outdated: outdated is then the message of the last one GitHub
	// refused for its version, empty for none.
	outdatedKnown bool
	outdated      string
	// desired is the number of Runners the set is to have: spec.runners,
	// or the cap when spec.runners is over it (capped).
	desired int32
	capped  bool
}

// calculateStatus is the RunnerSet's status for its Runners (those it owns)
// and the sync's outcome. It is pure.
// now stamps the conditions that change.
func calculateStatus(set *octorunv1alpha1.RunnerSet, runners []*octorunv1alpha1.Runner, selector labels.Selector, out outcome, now metav1.Time) octorunv1alpha1.RunnerSetStatus {
	status := *set.Status.DeepCopy()
	status.ObservedGeneration = set.Generation
	status.Selector = ""
	if selector != nil && !selector.Empty() {
		status.Selector = selector.String()
	}
	var existing, idle, active int32
	for _, r := range runners {
		if r.DeletionTimestamp != nil {
			continue
		}
		existing++
		switch r.Status.Phase {
		case octorunv1alpha1.RunnerPhaseIdle:
			idle++
		case octorunv1alpha1.RunnerPhaseActive:
			active++
		}
	}
	status.Runners, status.IdleRunners, status.ActiveRunners = existing, idle, active

	set1 := func(t string, s metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: set.Generation, LastTransitionTime: now,
		})
	}
	desired := out.desired
	var capNote string
	if out.capped {
		capNote = fmt.Sprintf(" (spec.runners %d is over Octorun's cap of %d runners per RunnerSet)", desiredRunners(set), desired)
	}
	switch {
	case out.invalidSelector != "":
		set1(octorunv1alpha1.RunnerSetConditionReady, metav1.ConditionFalse, octorunv1alpha1.ReasonInvalidSelector, out.invalidSelector)
	case idle+active == desired:
		set1(octorunv1alpha1.RunnerSetConditionReady, metav1.ConditionTrue, octorunv1alpha1.ReasonRunnersReady,
			fmt.Sprintf("%d of %d runners are Idle or Active%s", idle+active, desired, capNote))
	default:
		set1(octorunv1alpha1.RunnerSetConditionReady, metav1.ConditionFalse, octorunv1alpha1.ReasonRunnersNotReady,
			fmt.Sprintf("%d of %d runners are Idle or Active%s", idle+active, desired, capNote))
	}
	if out.failureReason != "" {
		set1(octorunv1alpha1.RunnerSetConditionRunnerFailure, metav1.ConditionTrue, out.failureReason, out.failureMessage)
	} else {
		set1(octorunv1alpha1.RunnerSetConditionRunnerFailure, metav1.ConditionFalse, octorunv1alpha1.ReasonNoFailure, "")
	}
	// RunnerOutdated stays as last known while no failure tells, unless
	// the spec (the template's image) changed since.
	prev := meta.FindStatusCondition(status.Conditions, octorunv1alpha1.RunnerSetConditionRunnerOutdated)
	switch {
	case out.outdatedKnown && out.outdated != "":
		set1(octorunv1alpha1.RunnerSetConditionRunnerOutdated, metav1.ConditionTrue, octorunv1alpha1.ReasonOutdated, out.outdated)
	case out.outdatedKnown, prev == nil, prev.Status != metav1.ConditionTrue, prev.ObservedGeneration != set.Generation:
		set1(octorunv1alpha1.RunnerSetConditionRunnerOutdated, metav1.ConditionFalse, octorunv1alpha1.ReasonUpToDate,
			"No runner of the set was refused by GitHub for its version")
	}
	if out.blocked > 0 {
		set1(octorunv1alpha1.RunnerSetConditionScaleDownBlocked, metav1.ConditionTrue, octorunv1alpha1.ReasonRunnersActive,
			fmt.Sprintf("%d runners over the desired %d hold jobs; they are removed when their jobs end", out.blocked, desired))
	} else {
		set1(octorunv1alpha1.RunnerSetConditionScaleDownBlocked, metav1.ConditionFalse, octorunv1alpha1.ReasonScaleDownDone, "")
	}
	return status
}

// desiredRunners is the set's spec.runners, 1 when unset. A scale-set
// RunnerSet wants none before its scale set exists on GitHub: its Runners
// could not register, and the scale-set controller sets spec.runners from
// the scale set's jobs once it does.
func desiredRunners(set *octorunv1alpha1.RunnerSet) int32 {
	if set.Spec.ScaleSet != nil && (set.Status.ScaleSet == nil || set.Status.ScaleSet.ID == 0) {
		return 0
	}
	if set.Spec.Runners == nil {
		return 1
	}
	return *set.Spec.Runners
}

// cappedRunners is the number of Runners the set is to have under a cap of
// maxRunners (0: none), and whether the cap cut it.
func cappedRunners(set *octorunv1alpha1.RunnerSet, maxRunners int32) (int32, bool) {
	desired := desiredRunners(set)
	if maxRunners > 0 && desired > maxRunners {
		return maxRunners, true
	}
	return desired, false
}
