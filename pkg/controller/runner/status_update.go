package runner

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// updateStatus writes the status when it changed, with an Event when the
// phase did.
func (c *Controller) updateStatus(ctx context.Context, runner *octorunv1alpha1.Runner, status octorunv1alpha1.RunnerStatus) (*octorunv1alpha1.Runner, error) {
	if equality.Semantic.DeepEqual(runner.Status, status) {
		return runner, nil
	}
	old := runner.Status.Phase
	r := runner.DeepCopy()
	r.Status = status
	runners := c.octorunClient.OctorunV1alpha1().Runners(r.Namespace)
	updated, err := runners.UpdateStatus(ctx, r, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		// The cache is behind a write of the Runner (finalizer, spec.id, a
		// job hint): the status goes onto a fresh read, once.
		var live *octorunv1alpha1.Runner
		if live, err = c.getLiveRunner(ctx, runner); err == nil {
			if terminal(live.Status.Phase) && !terminal(status.Phase) {
				return live, nil // never back from Complete or Failed
			}
			if sameStatus(live.Status, status) {
				return live, nil // an earlier sync wrote it already
			}
			old = live.Status.Phase
			live.Status = status
			updated, err = runners.UpdateStatus(ctx, live, metav1.UpdateOptions{})
		}
	}
	if apierrors.IsNotFound(err) {
		return runner, nil
	}
	if err != nil {
		return runner, fmt.Errorf("updating the status: %w", err)
	}
	c.wrote(updated)
	if old != status.Phase {
		klog.FromContext(ctx).V(2).Info("Runner phase changed", "from", old, "to", status.Phase)
		c.phaseEvent(updated)
	}
	return updated, nil
}

// onlyGenerationMoved says whether next differs from prev only in the
// observedGeneration of conditions (and when they changed).
func onlyGenerationMoved(prev, next octorunv1alpha1.RunnerStatus) bool {
	next = *next.DeepCopy()
	for i := range next.Conditions {
		if old := meta.FindStatusCondition(prev.Conditions, next.Conditions[i].Type); old != nil {
			next.Conditions[i].ObservedGeneration = old.ObservedGeneration
		}
	}
	return sameStatus(prev, next)
}

// sameStatus says whether two statuses differ only in when their conditions
// last changed, as the same status computed by two syncs does.
func sameStatus(a, b octorunv1alpha1.RunnerStatus) bool {
	a, b = *a.DeepCopy(), *b.DeepCopy()
	for _, s := range []*octorunv1alpha1.RunnerStatus{&a, &b} {
		for i := range s.Conditions {
			s.Conditions[i].LastTransitionTime = metav1.Time{}
		}
	}
	return equality.Semantic.DeepEqual(a, b)
}

func (c *Controller) phaseEvent(runner *octorunv1alpha1.Runner) {
	message := func(condType string) string {
		if cond := meta.FindStatusCondition(runner.Status.Conditions, condType); cond != nil {
			return cond.Message
		}
		return ""
	}
	switch runner.Status.Phase {
	case octorunv1alpha1.RunnerPhaseComplete:
		msg := "The runner finished its job"
		if m := message(octorunv1alpha1.RunnerConditionJobAssigned); m != "" {
			msg += ": " + m
		}
		c.recorder.Event(runner, corev1.EventTypeNormal, EventCompleted, msg)
	case octorunv1alpha1.RunnerPhaseFailed:
		msg := message(octorunv1alpha1.RunnerConditionPodReady)
		if m := message(octorunv1alpha1.RunnerConditionExited); m != "" {
			msg = m
		}
		if cond := meta.FindStatusCondition(runner.Status.Conditions, octorunv1alpha1.RunnerConditionRegistered); cond != nil && cond.Status != metav1.ConditionTrue {
			msg = cond.Message
		}
		reason := EventFailed
		if meta.IsStatusConditionTrue(runner.Status.Conditions, octorunv1alpha1.RunnerConditionRunnerOutdated) {
			reason = EventOutdated
		}
		c.recorder.Event(runner, corev1.EventTypeWarning, reason, msg)
	}
}
