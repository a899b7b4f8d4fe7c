package runnerset

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// manageRunners deletes finished Runners, and creates or deletes Runners
// towards the desired count.
func (c *Controller) manageRunners(ctx context.Context, set *octorunv1alpha1.RunnerSet, runners []*octorunv1alpha1.Runner, out *outcome) (time.Duration, error) {
	key := cache.MetaObjectToName(set).String()
	hash := templateHash(&set.Spec.Template)

	var finished, alive []*octorunv1alpha1.Runner
	var requeue time.Duration
	if set.Spec.ScaleSet != nil {
		alive, finished, requeue = classifyScaleSet(runners, c.now())
	} else {
		for _, r := range runners {
			switch {
			case r.DeletionTimestamp != nil:
			case r.Status.Phase == octorunv1alpha1.RunnerPhaseComplete || r.Status.Phase == octorunv1alpha1.RunnerPhaseFailed:
				finished = append(finished, r)
			case jobReported(r):
				// GitHub reported its job completed (the workflow_job
				// delivery's hint): the ephemeral runner is done and
				// exits, and its replacement need not wait for the exit.
				// It is deleted once it has ended.
			default:
				alive = append(alive, r)
			}
		}
	}
	c.failures.observe(key, finished)
	out.outdated, out.outdatedKnown = c.failures.outdated(key)

	desired := int(out.desired)
	var victims []*octorunv1alpha1.Runner
	diff := len(alive) - desired
	if set.Spec.ScaleSet != nil {
		if wait := c.excess.wait(key, diff > 0, c.now()); wait > 0 {
			diff, requeue = 0, shorter(requeue, wait)
		}
	}
	if diff > 0 {
		candidates := removable(alive)
		n := min(diff, len(candidates))
		victims = candidates[:n]
		out.blocked = diff - n
	} else if diff == 0 {
		victims = outdated(alive, hash)
	}

	// Finished Runners and victims go, and replacements come, in one sync
	// under one expectation: the steady churn of one-job runners costs one
	// sync per finished runner.
	toDelete := append(append([]*octorunv1alpha1.Runner(nil), finished...), victims...)
	if len(toDelete) > c.opts.BurstRunners {
		toDelete = toDelete[:c.opts.BurstRunners]
	}
	toCreate := max(-diff, 0)
	if toCreate > 0 {
		if failed, wait := c.failures.wait(key); wait > 0 {
			out.failureReason = octorunv1alpha1.ReasonRunnersFailing
			out.failureMessage = fmt.Sprintf("%d runners failed in a row; the next one is created in %s", failed, wait.Round(time.Second))
			toCreate, requeue = 0, shorter(requeue, wait)
		}
	}
	toCreate = min(toCreate, c.opts.BurstRunners, max(c.opts.MaxUnregistered-unregistered(alive), 0))
	if len(toDelete) == 0 && toCreate == 0 {
		return requeue, nil
	}
	klog.FromContext(ctx).V(4).Info("Managing Runners", "desired", desired, "alive", len(alive), "finished", len(finished),
		"create", toCreate, "delete", len(toDelete))
	keys := make([]string, len(toDelete))
	for i, r := range toDelete {
		keys[i] = cache.MetaObjectToName(r).String()
	}
	c.expectations.expect(key, toCreate, keys)
	deleteErr := c.deleteRunners(ctx, set, key, toDelete, keys, out)
	createErr := c.createRunners(ctx, set, key, hash, toCreate, out)
	return requeue, errors.Join(deleteErr, createErr)
}

// unregistered counts the Runners waiting for their GitHub registration.
func unregistered(alive []*octorunv1alpha1.Runner) int {
	n := 0
	for _, r := range alive {
		if r.Spec.ID == 0 {
			n++
		}
	}
	return n
}

// removable returns the Runners a scale-down may delete, in order: not yet
// registered, then registered but not running, then Idle ones newest first.
// Active Runners are never removable.
func removable(alive []*octorunv1alpha1.Runner) []*octorunv1alpha1.Runner {
	rank := func(r *octorunv1alpha1.Runner) int {
		switch {
		case r.Status.Phase == octorunv1alpha1.RunnerPhaseActive:
			return -1
		case r.Spec.ID == 0:
			return 0
		case r.Status.Phase != octorunv1alpha1.RunnerPhaseIdle:
			return 1
		default:
			return 2
		}
	}
	var out []*octorunv1alpha1.Runner
	for _, r := range alive {
		if rank(r) >= 0 {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := rank(out[i]), rank(out[j])
		if ri != rj {
			return ri < rj
		}
		return out[j].CreationTimestamp.Before(&out[i].CreationTimestamp) // newest first
	})
	return out
}

// outdated returns Runners of an older template to replace now, gradually:
// one at a time, and only while every other Runner is Idle or Active, so the
// set never drops more than one runner below its size for a rollout.
func outdated(alive []*octorunv1alpha1.Runner, hash string) []*octorunv1alpha1.Runner {
	var old []*octorunv1alpha1.Runner
	for _, r := range alive {
		if r.Labels[octorunv1alpha1.LabelTemplateHash] == hash {
			if r.Status.Phase != octorunv1alpha1.RunnerPhaseIdle && r.Status.Phase != octorunv1alpha1.RunnerPhaseActive {
				return nil // a replacement is still coming up
			}
			continue
		}
		old = append(old, r)
	}
	candidates := removable(old)
	if len(candidates) == 0 {
		return nil
	}
	return candidates[:1]
}

// createRunners creates n Runners in slow-start batches (1, 2, 4, ...): a
// batch that fails stops the rest, so a broken template or quota costs a
// few requests, not n.
func (c *Controller) createRunners(ctx context.Context, set *octorunv1alpha1.RunnerSet, key, hash string, n int, out *outcome) error {
	if n == 0 {
		return nil
	}
	logger := klog.FromContext(ctx)
	created, err := slowStartBatch(n, 1, func() error {
		r := newRunner(set, hash)
		_, err := c.octorunClient.OctorunV1alpha1().Runners(set.Namespace).Create(ctx, r, metav1.CreateOptions{})
		if err != nil && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil // the namespace goes; so do we
		}
		return err
	})
	// Creations that were not made will never be observed.
	for range n - created {
		c.expectations.creationObserved(key)
	}
	if created > 0 {
		logger.V(2).Info("Created Runners", "count", created, "desired", out.desired)
	}
	if err != nil {
		out.failureReason = octorunv1alpha1.ReasonFailedCreate
		out.failureMessage = fmt.Sprintf("Creating runners failed after %d of %d: %v", created, n, err)
		c.recorder.Eventf(set, corev1.EventTypeWarning, EventFailedCreate, "Error creating runners: %v", err)
		return fmt.Errorf("creating runners: %w", err)
	}
	return nil
}

// slowStartBatch calls fn count times in batches of 1, 2, 4, ... (from
// initial), in parallel within a batch, and stops after a batch with an
// error. It returns the successes.
func slowStartBatch(count, initial int, fn func() error) (int, error) {
	remaining := count
	successes := 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		errCh := make(chan error, batch)
		var wg sync.WaitGroup
		for range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := fn(); err != nil {
					errCh <- err
				}
			}()
		}
		wg.Wait()
		close(errCh)
		successes += batch - len(errCh)
		if err, failed := <-errCh; failed {
			return successes, err
		}
		remaining -= batch
	}
	return successes, nil
}

// deleteRunners deletes Runners, in parallel. The Runner controller's
// finalizer removes each from GitHub, or keeps it while GitHub says a job
// just landed on it.
func (c *Controller) deleteRunners(ctx context.Context, set *octorunv1alpha1.RunnerSet, key string, runners []*octorunv1alpha1.Runner, keys []string, out *outcome) error {
	if len(runners) == 0 {
		return nil
	}
	logger := klog.FromContext(ctx)
	errCh := make(chan error, len(runners))
	var wg sync.WaitGroup
	for i, r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.octorunClient.OctorunV1alpha1().Runners(r.Namespace).Delete(ctx, r.Name, metav1.DeleteOptions{
				Preconditions: &metav1.Preconditions{UID: &r.UID},
			})
			if err != nil {
				// This deletion will not be observed.
				c.expectations.deletionObserved(key, keys[i])
				if !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
					errCh <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errCh)
	logger.V(2).Info("Deleted Runners", "count", len(runners)-len(errCh))
	if err, failed := <-errCh; failed {
		out.failureReason = octorunv1alpha1.ReasonFailedDelete
		out.failureMessage = fmt.Sprintf("Deleting runners failed: %v", err)
		c.recorder.Eventf(set, corev1.EventTypeWarning, EventFailedDelete, "Error deleting runners: %v", err)
		return fmt.Errorf("deleting runners: %w", err)
	}
	return nil
}

// shorter returns the shorter of two waits, zero meaning none.
func shorter(a, b time.Duration) time.Duration {
	if a == 0 || (b > 0 && b < a) {
		return b
	}
	return a
}
