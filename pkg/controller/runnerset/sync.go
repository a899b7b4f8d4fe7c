package runnerset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
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
	EventRunnersFailing = "RunnersFailing"
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
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	set := cached.DeepCopy()

	var out outcome
	selector, err := selectorOf(set)
	if err != nil {
		out.invalidSelector = fmt.Sprintf("The selector is invalid: %v", err)
	} else if set.Spec.Selector == nil || len(set.Spec.Selector.MatchLabels)+len(set.Spec.Selector.MatchExpressions) == 0 {
		out.invalidSelector = "The selector is empty: it selects no runner"
	}

	all, err := c.runnerLister.Runners(set.Namespace).List(labels.Everything())
	if err != nil {
		return 0, err
	}
	runners, err := c.claimRunners(ctx, set, selector, all)
	if err != nil {
		return 0, err
	}

	var requeue time.Duration
	var manageErr error
	if out.invalidSelector == "" && set.DeletionTimestamp == nil && c.expectations.satisfied(key.String()) {
		requeue, manageErr = c.manageRunners(ctx, set, runners, &out)
	}

	status := calculateStatus(set, runners, selector, out, metav1.NewTime(c.now()))
	if err := c.updateStatus(ctx, set, status); err != nil {
		return 0, errors.Join(manageErr, err)
	}
	return requeue, manageErr
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
		set = live
	}
}

// manageRunners deletes finished Runners, and creates or deletes Runners
// towards the desired count.
func (c *Controller) manageRunners(ctx context.Context, set *octorunv1alpha1.RunnerSet, runners []*octorunv1alpha1.Runner, out *outcome) (time.Duration, error) {
	key := cache.MetaObjectToName(set).String()
	hash := templateHash(&set.Spec.Template)

	var finished, alive []*octorunv1alpha1.Runner
	for _, r := range runners {
		switch {
		case r.DeletionTimestamp != nil:
		case r.Status.Phase == octorunv1alpha1.RunnerPhaseComplete || r.Status.Phase == octorunv1alpha1.RunnerPhaseFailed:
			finished = append(finished, r)
		default:
			alive = append(alive, r)
		}
	}
	c.countFailures(key, finished)

	desired := int(desiredRunners(set))
	var victims []*octorunv1alpha1.Runner
	diff := len(alive) - desired
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
	var requeue time.Duration
	if toCreate > 0 {
		if wait := c.failureBackoff(key); wait > 0 {
			st := c.failureStateOf(key)
			out.failureReason = octorunv1alpha1.ReasonRunnersFailing
			out.failureMessage = fmt.Sprintf("%d runners failed in a row; the next one is created in %s", st.count, wait.Round(time.Second))
			toCreate, requeue = 0, wait
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
		logger.V(2).Info("Created Runners", "count", created, "desired", desiredRunners(set))
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

// newRunner returns a Runner of the set's template.
func newRunner(set *octorunv1alpha1.RunnerSet, hash string) *octorunv1alpha1.Runner {
	t := set.Spec.Template.DeepCopy()
	lbls := map[string]string{}
	for k, v := range t.Labels {
		lbls[k] = v
	}
	lbls[octorunv1alpha1.LabelTemplateHash] = hash
	return &octorunv1alpha1.Runner{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    set.Name + "-",
			Namespace:       set.Namespace,
			Labels:          lbls,
			Annotations:     t.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, octorunv1alpha1.SchemeGroupVersion.WithKind("RunnerSet"))},
		},
		Spec: t.Spec,
	}
}

// templateHash hashes a template, as pod-template-hash does.
func templateHash(t *octorunv1alpha1.RunnerTemplateSpec) string {
	data, _ := json.Marshal(struct {
		Labels      map[string]string
		Annotations map[string]string
		Spec        octorunv1alpha1.RunnerSpec
	}{t.Labels, t.Annotations, t.Spec})
	h := fnv.New32a()
	_, _ = h.Write(data)
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// countFailures counts Failed Runners once each; a Complete one shows the
// template works and ends the streak.
func (c *Controller) countFailures(key string, finished []*octorunv1alpha1.Runner) {
	c.failuresMu.Lock()
	defer c.failuresMu.Unlock()
	st := c.failures[key]
	if st == nil {
		st = &failureState{counted: map[string]bool{}}
		c.failures[key] = st
	}
	for _, r := range finished {
		uid := string(r.UID)
		if st.counted[uid] {
			continue
		}
		st.counted[uid] = true
		if r.Status.Phase == octorunv1alpha1.RunnerPhaseComplete {
			st.count, st.until = 0, time.Time{}
			continue
		}
		if disrupted(r) {
			continue // says nothing about the template
		}
		st.count++
		wait := c.opts.FailureBackoff << min(st.count-1, 20)
		st.until = c.now().Add(min(wait, c.opts.MaxFailureBackoff))
	}
	// Forget Runners long gone: the counted set stays as small as the set.
	if len(st.counted) > 4*len(finished)+64 {
		st.counted = map[string]bool{}
		for _, r := range finished {
			st.counted[string(r.UID)] = true
		}
	}
}

// disrupted says whether a Runner failed because its pod was taken away
// (evicted by a node drain, deleted, lost with its node) rather than
// because it could not run: such failures do not slow down replacements.
func disrupted(r *octorunv1alpha1.Runner) bool {
	c := meta.FindStatusCondition(r.Status.Conditions, octorunv1alpha1.RunnerConditionPodReady)
	return c != nil && c.Reason == octorunv1alpha1.ReasonPodMissing
}

func (c *Controller) failureBackoff(key string) time.Duration {
	st := c.failureStateOf(key)
	if st.count == 0 {
		return 0
	}
	return max(st.until.Sub(c.now()), 0)
}

func (c *Controller) failureStateOf(key string) failureState {
	c.failuresMu.Lock()
	defer c.failuresMu.Unlock()
	if st := c.failures[key]; st != nil {
		return *st
	}
	return failureState{}
}

// claimRunners returns the Runners the set owns after adopting orphans it
// selects and releasing owned Runners it no longer selects. Runners owned by
// anything else are never touched.
func (c *Controller) claimRunners(ctx context.Context, set *octorunv1alpha1.RunnerSet, selector labels.Selector, all []*octorunv1alpha1.Runner) ([]*octorunv1alpha1.Runner, error) {
	var owned []*octorunv1alpha1.Runner
	var errs []error
	canAdopt := func() error {
		// Re-check with a live read: a set deleted or replaced (new UID)
		// since the cache saw it must not adopt.
		live, err := c.octorunClient.OctorunV1alpha1().RunnerSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if live.UID != set.UID || live.DeletionTimestamp != nil {
			return fmt.Errorf("RunnerSet %s/%s changed since it was cached", set.Namespace, set.Name)
		}
		return nil
	}
	adoptChecked := false
	for _, r := range all {
		ref := metav1.GetControllerOf(r)
		matches := selector.Matches(labels.Set(r.Labels))
		switch {
		case ref != nil && ref.UID != set.UID:
			continue // someone else's
		case ref != nil && matches:
			owned = append(owned, r)
		case ref != nil:
			if set.DeletionTimestamp == nil {
				if err := c.patchOwner(ctx, r, set, false); err != nil {
					errs = append(errs, err)
				}
			}
		case matches && set.DeletionTimestamp == nil && r.DeletionTimestamp == nil:
			if !adoptChecked {
				if err := canAdopt(); err != nil {
					return owned, fmt.Errorf("checking the RunnerSet before adopting: %w", err)
				}
				adoptChecked = true
			}
			if err := c.patchOwner(ctx, r, set, true); err != nil {
				errs = append(errs, err)
				continue
			}
			owned = append(owned, r)
		}
	}
	return owned, errors.Join(errs...)
}

// patchOwner adopts (or releases) a Runner by adding (or removing) the
// set's controller reference, with the Runner's UID as precondition.
func (c *Controller) patchOwner(ctx context.Context, r *octorunv1alpha1.Runner, set *octorunv1alpha1.RunnerSet, adopt bool) error {
	refs := []metav1.OwnerReference{}
	for _, ref := range r.OwnerReferences {
		if ref.UID != set.UID {
			refs = append(refs, ref)
		}
	}
	if adopt {
		refs = append(refs, *metav1.NewControllerRef(set, octorunv1alpha1.SchemeGroupVersion.WithKind("RunnerSet")))
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": refs, "uid": r.UID}})
	if err != nil {
		return err
	}
	_, err = c.octorunClient.OctorunV1alpha1().Runners(r.Namespace).Patch(ctx, r.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) || apierrors.IsConflict(err) {
		return nil // gone or replaced: nothing to claim
	}
	if err != nil {
		verb := "releasing"
		if adopt {
			verb = "adopting"
		}
		return fmt.Errorf("%s Runner %s: %w", verb, r.Name, err)
	}
	klog.FromContext(ctx).V(2).Info("Changed the Runner's owner", "runner", klog.KObj(r), "adopted", adopt)
	return nil
}
