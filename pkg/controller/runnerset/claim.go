package runnerset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// controllerIndex indexes Runners by their controller's UID, and those
// without a controller by their namespace, as the ReplicaSet controller
// indexes pods: a sync reads the Runners its set controls and the orphans
// it may adopt, not every Runner of the namespace.
const controllerIndex = "octorun.github.io/runner-controller-uid"

// controllerIndexKey is the controllerIndex key of the Runners of namespace
// whose controller has the UID, or of its orphans for the empty UID. An
// owner reference names an owner of the Runner's own namespace: with the
// namespace in the key, a Runner naming another namespace's set never
// reaches that set's sync, as when the sync listed its namespace.
func controllerIndexKey(namespace string, controller types.UID) string {
	if controller == "" {
		return namespace // no "/" in a namespace: never a controller's key
	}
	return namespace + "/" + string(controller)
}

func indexByController(obj any) ([]string, error) {
	r, ok := obj.(*octorunv1alpha1.Runner)
	if !ok {
		return nil, nil
	}
	var controller types.UID
	if ref := metav1.GetControllerOf(r); ref != nil {
		controller = ref.UID
	}
	return []string{controllerIndexKey(r.Namespace, controller)}, nil
}

// candidates returns the Runners a set may claim: those it controls and the
// orphans of its namespace.
func (c *Controller) candidates(set *octorunv1alpha1.RunnerSet) ([]*octorunv1alpha1.Runner, error) {
	var out []*octorunv1alpha1.Runner
	for _, key := range []string{controllerIndexKey(set.Namespace, set.UID), controllerIndexKey(set.Namespace, "")} {
		objs, err := c.runnerIndexer.ByIndex(controllerIndex, key)
		if err != nil {
			return nil, fmt.Errorf("reading the set's Runners from the cache: %w", err)
		}
		for _, obj := range objs {
			if r, ok := obj.(*octorunv1alpha1.Runner); ok {
				out = append(out, r)
			}
		}
	}
	return out, nil
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
