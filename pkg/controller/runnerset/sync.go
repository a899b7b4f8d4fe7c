package runnerset

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// Event reasons.
const (
	EventFailedCreate   = "FailedCreate"
	EventFailedDelete   = "FailedDelete"
	EventCreated        = "CreatedRunners"
	EventDeleted        = "DeletedRunners"
	EventRunnersCapped  = "RunnersCapped"
	EventRunnersFailing = "RunnersFailing"
	EventRunnerOutdated = "RunnerOutdated"
)

// sync converges one RunnerSet: it claims its Runners, creates and deletes
// Runners towards spec.runners when its cache can be trusted, and writes the
// status. It returns when to look again (0: on change only).
func (c *Controller) sync(ctx context.Context, key cache.ObjectName) (time.Duration, error) {
	logger := klog.FromContext(ctx)
	cached, err := c.sets.Get(key)
	if apierrors.IsNotFound(err) {
		logger.V(4).Info("RunnerSet is gone")
		c.expectations.forget(key.String())
		c.failures.forget(key.String())
		c.statusWritten.forget(key.String())
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	set := cached.DeepCopy()

	// The expectations are looked at before the cache is read, as the
	// ReplicaSet controller does: a creation the informer delivers between
	// the two must not count as seen in a read that missed it, or the set
	// would create again.
	needsSync := c.expectations.satisfied(key.String())

	var out outcome
	out.desired, out.capped = cappedRunners(set, c.opts.MaxRunners)
	if out.capped && set.Status.ObservedGeneration != set.Generation {
		c.recorder.Eventf(set, corev1.EventTypeWarning, EventRunnersCapped,
			"spec.runners %d is over Octorun's cap of %d runners per RunnerSet (--max-runners-per-runnerset); the set keeps %d",
			desiredRunners(set), out.desired, out.desired)
	}
	selector, err := selectorOf(set)
	if err != nil {
		out.invalidSelector = fmt.Sprintf("The selector is invalid: %v", err)
	} else if set.Spec.Selector == nil || len(set.Spec.Selector.MatchLabels)+len(set.Spec.Selector.MatchExpressions) == 0 {
		out.invalidSelector = "The selector is empty: it selects no runner"
	}

	all, err := c.candidates(set)
	if err != nil {
		return 0, err
	}
	runners, err := c.claimRunners(ctx, set, selector, all)
	if err != nil {
		return 0, err
	}

	var requeue time.Duration
	var manageErr error
	if out.invalidSelector == "" && set.DeletionTimestamp == nil && needsSync {
		requeue, manageErr = c.manageRunners(ctx, set, runners, &out)
	}

	status := calculateStatus(set, runners, selector, out, metav1.NewTime(c.now()))
	if meta.IsStatusConditionTrue(status.Conditions, octorunv1alpha1.RunnerSetConditionRunnerOutdated) &&
		!meta.IsStatusConditionTrue(set.Status.Conditions, octorunv1alpha1.RunnerSetConditionRunnerOutdated) {
		c.recorder.Event(set, corev1.EventTypeWarning, EventRunnerOutdated, meta.FindStatusCondition(status.Conditions, octorunv1alpha1.RunnerSetConditionRunnerOutdated).Message)
	}
	if c.opts.StatusInterval > 0 && batched(set.Status, status) {
		// A set on the move: its status is written with the state of the
		// moment once the interval since the last write is over.
		if wait := c.statusWritten.wait(key.String(), c.opts.StatusInterval, c.now()); wait > 0 {
			return shorter(requeue, wait), manageErr
		}
	}
	if err := c.updateStatus(ctx, set, status); err != nil {
		return 0, errors.Join(manageErr, err)
	}
	return requeue, manageErr
}

// batched says whether a change of a set's status from prev to next may
// wait for the status interval: any change but one that observes a new
// generation, which is written at once, so that whoever changed the spec
// (kubectl scale, an autoscaler) sees it taken up.
func batched(prev, next octorunv1alpha1.RunnerSetStatus) bool {
	return next.ObservedGeneration == prev.ObservedGeneration && !equality.Semantic.DeepEqual(prev, next)
}

// writtenAt remembers, by set key, when the controller last wrote each
// set's status.
type writtenAt struct {
	mu sync.Mutex
	at map[string]time.Time
}

// wait returns how much longer a write of the set's status must wait for
// interval to have passed since the last write; zero when it may be
// written now.
func (w *writtenAt) wait(key string, interval time.Duration, now time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if last, ok := w.at[key]; ok && now.Sub(last) < interval && now.Sub(last) >= 0 {
		return interval - now.Sub(last)
	}
	return 0
}

// wrote records a write of the set's status.
func (w *writtenAt) wrote(key string, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.at == nil {
		w.at = map[string]time.Time{}
	}
	w.at[key] = now
}

func (w *writtenAt) forget(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.at, key)
}

// updateStatus writes the status when it changed. The cached set may be
// behind the controller's own last write: on a conflict the status goes onto
// a fresh read, as the ReplicaSet controller does.
func (c *Controller) updateStatus(ctx context.Context, set *octorunv1alpha1.RunnerSet, status octorunv1alpha1.RunnerSetStatus) error {
	sets := c.octorunClient.OctorunV1alpha1().RunnerSets(set.Namespace)
	for attempt := 0; ; attempt++ {
		if equality.Semantic.DeepEqual(set.Status, status) {
			return nil
		}
		set = set.DeepCopy()
		set.Status = status
		updated, err := sets.UpdateStatus(ctx, set, metav1.UpdateOptions{})
		switch {
		case err == nil:
			c.sets.Wrote(updated)
			c.statusWritten.wrote(cache.MetaObjectToName(updated).String(), c.now())
			return nil
		case apierrors.IsNotFound(err):
			return nil
		case !apierrors.IsConflict(err) || attempt >= 2:
			return fmt.Errorf("updating the status: %w", err)
		}
		live, getErr := sets.Get(ctx, set.Name, metav1.GetOptions{})
		if getErr != nil {
			return fmt.Errorf("updating the status: %w", getErr)
		}
		if live.UID != set.UID {
			return nil
		}
		// The generation may have moved on: the status says what it saw.
		status.ObservedGeneration = min(status.ObservedGeneration, live.Generation)
		// The scale-set controller's part of the status is its own.
		keepScaleSetStatus(&status, live.Status)
		set = live
	}
}

// keepScaleSetStatus sets status.scaleSet and the ScaleSetReady condition,
// which the scale-set controller writes, to what from has.
func keepScaleSetStatus(status *octorunv1alpha1.RunnerSetStatus, from octorunv1alpha1.RunnerSetStatus) {
	status.ScaleSet = from.ScaleSet.DeepCopy()
	if cond := meta.FindStatusCondition(from.Conditions, octorunv1alpha1.RunnerSetConditionScaleSetReady); cond != nil {
		meta.SetStatusCondition(&status.Conditions, *cond)
	} else {
		meta.RemoveStatusCondition(&status.Conditions, octorunv1alpha1.RunnerSetConditionScaleSetReady)
	}
}
