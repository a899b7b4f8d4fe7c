package scaleset

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	gha "github.com/actions/scaleset"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/github"
	"github.com/octorun/octorun/pkg/scopegrant"
)

// failureRetry is how soon a scale set GitHub failed to create, update or
// delete is tried again.
const failureRetry = 10 * time.Second

// sync converges one scale-set RunnerSet: its scale set on GitHub, its
// message session, spec.runners from the jobs assigned to it, and its
// status. A deleted one is finalized.
func (c *Controller) sync(ctx context.Context, key cache.ObjectName) (time.Duration, error) {
	logger := klog.FromContext(ctx)
	set, err := c.sets.RunnerSets(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		logger.V(4).Info("RunnerSet is gone")
		c.forget(key)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if set.Spec.ScaleSet == nil {
		c.forget(key)
		return 0, nil
	}
	st := c.state(key, set.UID)
	if set.DeletionTimestamp != nil {
		return c.finalize(ctx, set, st)
	}

	scope, err := github.ParseScope(set.Spec.Template.Spec.URL)
	if err != nil {
		c.stopSession(st)
		return 0, c.setReady(ctx, set, st, metav1.ConditionFalse, octorunv1alpha1.ReasonInvalidURL, err.Error())
	}
	group := set.ScaleSetRunnerGroup()
	if err := c.opts.Grants.Check(set.Namespace, set.Spec.Template.Spec.URL, group); err != nil {
		if !scopegrant.IsNotGranted(err) {
			return 0, err
		}
		// Checked before any GitHub call, as for Runners.
		c.stopSession(st)
		return c.opts.RetryPeriod, c.setReady(ctx, set, st, metav1.ConditionFalse, octorunv1alpha1.ReasonScopeNotGranted, err.Error())
	}
	if !slices.Contains(set.Finalizers, octorunv1alpha1.ScaleSetFinalizer) {
		// From the scale set's creation on, the RunnerSet must not go
		// without deleting it.
		if set, err = c.patchFinalizers(ctx, set, append(slices.Clone(set.Finalizers), octorunv1alpha1.ScaleSetFinalizer)); err != nil {
			return 0, fmt.Errorf("adding the finalizer: %w", err)
		}
	}
	if settings := settingsOf(set); st.id == 0 || st.settings != settings {
		id, err := c.ensureScaleSet(ctx, set, scope, group)
		if err != nil {
			msg := err.Error()
			if cond := meta.FindStatusCondition(set.Status.Conditions, octorunv1alpha1.RunnerSetConditionScaleSetReady); cond == nil || cond.Message != msg {
				c.recorder.Event(set, corev1.EventTypeWarning, EventFailed, msg)
			}
			logger.Error(err, "Could not create or update the runner scale set")
			return failureRetry, c.setReady(ctx, set, st, metav1.ConditionFalse, octorunv1alpha1.ReasonScaleSetFailed, msg)
		}
		st.id, st.settings = id, settings
	}

	c.ensureSession(ctx, st, scope, st.id, int(c.capacity(set)))
	stats, hasStats, listening, sessionErr := st.snapshot()
	if !hasStats && set.Status.ScaleSet != nil && set.Status.ScaleSet.ID == st.id {
		// A new leader, before its session's first statistics: the last
		// ones recorded stand.
		stats.TotalAssignedJobs, stats.TotalRunningJobs = int(set.Status.ScaleSet.AssignedJobs), int(set.Status.ScaleSet.RunningJobs)
	}
	if set, err = c.scale(ctx, set, stats.TotalAssignedJobs); err != nil {
		return 0, err
	}

	status, reason, msg := metav1.ConditionFalse, octorunv1alpha1.ReasonScaleSetPending, fmt.Sprintf("Opening the message session of runner scale set %d", st.id)
	switch {
	case listening:
		status, reason, msg = metav1.ConditionTrue, octorunv1alpha1.ReasonListening,
			fmt.Sprintf("Runner scale set %d %q follows the jobs GitHub assigns to it", st.id, set.ScaleSetName())
	case sessionErr != nil:
		reason, msg = octorunv1alpha1.ReasonSessionFailed, fmt.Sprintf("The message session of runner scale set %d failed, and is retried: %v", st.id, sessionErr)
	}
	if cond := meta.FindStatusCondition(set.Status.Conditions, octorunv1alpha1.RunnerSetConditionScaleSetReady); cond == nil || cond.Reason != reason {
		switch reason {
		case octorunv1alpha1.ReasonListening:
			c.recorder.Event(set, corev1.EventTypeNormal, EventListening, msg)
		case octorunv1alpha1.ReasonSessionFailed:
			c.recorder.Event(set, corev1.EventTypeWarning, EventSessionFailed, msg)
		}
	}
	return 0, c.writeStatus(ctx, set, func(s *octorunv1alpha1.RunnerSetStatus) {
		s.ScaleSet = &octorunv1alpha1.RunnerScaleSetStatus{
			ID: st.id, AssignedJobs: int32(max(stats.TotalAssignedJobs, 0)), RunningJobs: int32(max(stats.TotalRunningJobs, 0)),
		}
		c.condition(s, set, status, reason, msg)
	})
}

// scaleFromSession sets spec.runners from the session's statistics, from
// the listener: it works from the cached set, whose spec the patch does
// not depend on.
func (c *Controller) scaleFromSession(ctx context.Context, st *setState) error {
	set, err := c.sets.RunnerSets(st.key.Namespace).Get(st.key.Name)
	if err != nil || set.UID != st.uid || set.Spec.ScaleSet == nil || set.DeletionTimestamp != nil {
		return err
	}
	stats, _, _, _ := st.snapshot()
	_, err = c.scale(ctx, set, stats.TotalAssignedJobs)
	return err
}

// settingsOf returns what the set's scale set on GitHub is made of: its
// scope, group, name and labels. The generation would not do: Octorun's
// own writes of spec.runners move it.
func settingsOf(set *octorunv1alpha1.RunnerSet) string {
	b, _ := json.Marshal([]any{set.Spec.Template.Spec.URL, set.ScaleSetRunnerGroup(), set.ScaleSetName(), set.Spec.ScaleSet.Labels})
	return string(b)
}

// capacity is the most runners the set may run: its maxRunners within
// Octorun's cap.
func (c *Controller) capacity(set *octorunv1alpha1.RunnerSet) int32 {
	_, hi := set.ScaleSetBounds()
	if c.opts.MaxRunners > 0 {
		hi = min(hi, c.opts.MaxRunners)
	}
	return hi
}

// scale sets spec.runners to what the jobs assigned to the set ask for.
func (c *Controller) scale(ctx context.Context, set *octorunv1alpha1.RunnerSet, assigned int) (*octorunv1alpha1.RunnerSet, error) {
	want := min(set.ScaleSetDesired(assigned), c.capacity(set))
	if set.Spec.Runners != nil && *set.Spec.Runners == want {
		return set, nil
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"runners": want}})
	if err != nil {
		return set, err
	}
	updated, err := c.octorunClient.OctorunV1alpha1().RunnerSets(set.Namespace).Patch(ctx, set.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return set, fmt.Errorf("setting spec.runners to %d: %w", want, err)
	}
	klog.FromContext(ctx).V(2).Info("Scaled to the jobs assigned", "assignedJobs", assigned, "runners", want)
	return updated, nil
}

// ensureScaleSet creates the set's scale set on GitHub, or adopts the one
// of its name in its group, or updates the one it has, so that it has the
// spec's name, labels and group; it returns its id.
func (c *Controller) ensureScaleSet(ctx context.Context, set *octorunv1alpha1.RunnerSet, scope github.Scope, group string) (int64, error) {
	client, err := c.clients.For(ctx, scope)
	if err != nil {
		return 0, err
	}
	g, err := client.GetRunnerGroupByName(ctx, group)
	if err != nil {
		return 0, fmt.Errorf("finding runner group %q of %s: %w", group, scope.URL(), err)
	}
	want := &gha.RunnerScaleSet{
		Name:          set.ScaleSetName(),
		RunnerGroupID: g.ID,
		Labels:        scaleSetLabels(set),
		// The Runner's image is the runner's version: it must not update
		// itself (as ARC's scale sets: actions-runner-controller
		// controllers/actions.github.com/autoscalingrunnerset_controller.go).
		RunnerSetting: gha.RunnerSetting{DisableUpdate: true},
	}
	existing, err := client.GetRunnerScaleSet(ctx, g.ID, want.Name)
	if err != nil {
		return 0, fmt.Errorf("looking up runner scale set %q: %w", want.Name, err)
	}
	if existing == nil && set.Status.ScaleSet != nil && set.Status.ScaleSet.ID != 0 {
		// Renamed or moved to another group: the set's own scale set, if
		// it is still there, takes the new settings.
		if byID, err := client.GetRunnerScaleSetByID(ctx, int(set.Status.ScaleSet.ID)); err == nil && byID != nil && byID.ID != 0 {
			existing = byID
		}
	}
	if existing == nil {
		created, err := client.CreateRunnerScaleSet(ctx, want)
		if err != nil {
			return 0, fmt.Errorf("creating runner scale set %q: %w", want.Name, err)
		}
		klog.FromContext(ctx).Info("Created the runner scale set on GitHub", "scaleSetID", created.ID, "name", created.Name, "group", group)
		c.recorder.Eventf(set, corev1.EventTypeNormal, EventCreated, "Created runner scale set %d %q in runner group %q", created.ID, created.Name, group)
		return int64(created.ID), nil
	}
	id := int64(existing.ID)
	if other := c.holder(set, id); other != "" {
		return 0, fmt.Errorf("runner scale set %d %q belongs to RunnerSet %s: give this one another spec.scaleSet.name", id, want.Name, other)
	}
	if existing.Name != want.Name || existing.RunnerGroupID != want.RunnerGroupID || !sameLabels(existing.Labels, want.Labels) {
		if _, err := client.UpdateRunnerScaleSet(ctx, existing.ID, want); err != nil {
			return 0, fmt.Errorf("updating runner scale set %d %q: %w", id, want.Name, err)
		}
		c.recorder.Eventf(set, corev1.EventTypeNormal, EventUpdated, "Updated runner scale set %d %q", id, want.Name)
	} else if set.Status.ScaleSet == nil || set.Status.ScaleSet.ID != id {
		c.recorder.Eventf(set, corev1.EventTypeNormal, EventAdopted, "Adopted runner scale set %d %q", id, want.Name)
	}
	return id, nil
}

// holder names the other RunnerSet whose scale set id is, "" if none: two
// sets never share a scale set (nor its one session).
func (c *Controller) holder(set *octorunv1alpha1.RunnerSet, id int64) string {
	all, err := c.sets.List(labels.Everything())
	if err != nil {
		return ""
	}
	for _, s := range all {
		if s.UID != set.UID && s.Spec.ScaleSet != nil && s.Status.ScaleSet != nil && s.Status.ScaleSet.ID == id &&
			s.Spec.Template.Spec.URL == set.Spec.Template.Spec.URL {
			return s.Namespace + "/" + s.Name
		}
	}
	return ""
}

// scaleSetLabels are the labels of the set's scale set: its name, then its
// extra labels.
func scaleSetLabels(set *octorunv1alpha1.RunnerSet) []gha.Label {
	name := set.ScaleSetName()
	out := []gha.Label{{Name: name, Type: "System"}}
	for _, l := range set.Spec.ScaleSet.Labels {
		if l != "" && !strings.EqualFold(l, name) {
			out = append(out, gha.Label{Name: l, Type: "System"})
		}
	}
	return out
}

// sameLabels compares label names, as GitHub does, without regard to case
// or order.
func sameLabels(a, b []gha.Label) bool {
	names := func(ls []gha.Label) []string {
		out := make([]string, 0, len(ls))
		for _, l := range ls {
			out = append(out, strings.ToLower(l.Name))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(names(a), names(b))
}

// finalize deletes a deleted set's Runners, then its scale set on GitHub,
// then lets the RunnerSet go. Busy Runners finish their job first (their
// own finalizer waits for it).
func (c *Controller) finalize(ctx context.Context, set *octorunv1alpha1.RunnerSet, st *setState) (time.Duration, error) {
	c.stopSession(st)
	if !slices.Contains(set.Finalizers, octorunv1alpha1.ScaleSetFinalizer) {
		c.forget(cache.MetaObjectToName(set))
		return 0, nil
	}
	runners, err := c.runners.Runners(set.Namespace).List(labels.Everything())
	if err != nil {
		return 0, err
	}
	left := 0
	for _, r := range runners {
		if ref := metav1.GetControllerOf(r); ref == nil || ref.UID != set.UID {
			continue
		}
		left++
		if r.DeletionTimestamp != nil {
			continue
		}
		uid := r.UID
		err := c.octorunClient.OctorunV1alpha1().Runners(r.Namespace).Delete(ctx, r.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			return 0, fmt.Errorf("deleting Runner %s: %w", r.Name, err)
		}
	}
	if left > 0 {
		klog.FromContext(ctx).V(2).Info("Waiting for the Runners to go before the scale set", "runners", left)
		// Each Runner's deletion enqueues the set; this is a fallback.
		return 30 * time.Second, nil
	}
	id := st.id
	if id == 0 && set.Status.ScaleSet != nil {
		id = set.Status.ScaleSet.ID
	}
	if id != 0 {
		scope, err := github.ParseScope(set.Spec.Template.Spec.URL)
		if err != nil {
			return 0, err
		}
		client, err := c.clients.For(ctx, scope)
		if err != nil {
			return failureRetry, err
		}
		if err := client.DeleteRunnerScaleSet(ctx, int(id)); err != nil && !isNotFound(err) {
			msg := fmt.Sprintf("Deleting runner scale set %d from GitHub: %v", id, err)
			c.recorder.Event(set, corev1.EventTypeWarning, EventFailed, msg)
			return failureRetry, nil
		}
		klog.FromContext(ctx).Info("Deleted the runner scale set from GitHub", "scaleSetID", id)
		c.recorder.Eventf(set, corev1.EventTypeNormal, EventDeleted, "Deleted runner scale set %d from GitHub", id)
	}
	if _, err := c.patchFinalizers(ctx, set, slices.DeleteFunc(slices.Clone(set.Finalizers), func(f string) bool {
		return f == octorunv1alpha1.ScaleSetFinalizer
	})); err != nil && !apierrors.IsNotFound(err) {
		return 0, fmt.Errorf("removing the finalizer: %w", err)
	}
	c.forget(cache.MetaObjectToName(set))
	return 0, nil
}

// isNotFound says whether GitHub answered that the scale set does not
// exist (404): deleted already.
func isNotFound(err error) bool {
	s := err.Error()
	return strings.Contains(s, `status="404`) || strings.Contains(s, "NotFoundException")
}

// patchFinalizers sets the set's finalizers, conditional on the version
// they were computed from.
func (c *Controller) patchFinalizers(ctx context.Context, set *octorunv1alpha1.RunnerSet, finalizers []string) (*octorunv1alpha1.RunnerSet, error) {
	if finalizers == nil {
		finalizers = []string{}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": finalizers, "resourceVersion": set.ResourceVersion}})
	if err != nil {
		return set, err
	}
	return c.octorunClient.OctorunV1alpha1().RunnerSets(set.Namespace).Patch(ctx, set.Name, types.MergePatchType, patch, metav1.PatchOptions{})
}

// setReady records the ScaleSetReady condition.
func (c *Controller) setReady(ctx context.Context, set *octorunv1alpha1.RunnerSet, st *setState, status metav1.ConditionStatus, reason, msg string) error {
	return c.writeStatus(ctx, set, func(s *octorunv1alpha1.RunnerSetStatus) {
		if st.id != 0 && s.ScaleSet == nil {
			s.ScaleSet = &octorunv1alpha1.RunnerScaleSetStatus{ID: st.id}
		}
		c.condition(s, set, status, reason, msg)
	})
}

func (c *Controller) condition(s *octorunv1alpha1.RunnerSetStatus, set *octorunv1alpha1.RunnerSet, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{
		Type: octorunv1alpha1.RunnerSetConditionScaleSetReady, Status: status, Reason: reason, Message: msg,
		ObservedGeneration: set.Generation, LastTransitionTime: metav1.NewTime(c.now()),
	})
}

// writeStatus applies mutate to the set's status and writes it when it
// changed. The RunnerSet controller writes the rest of the status: on a
// conflict the change goes onto a fresh read.
func (c *Controller) writeStatus(ctx context.Context, set *octorunv1alpha1.RunnerSet, mutate func(*octorunv1alpha1.RunnerSetStatus)) error {
	sets := c.octorunClient.OctorunV1alpha1().RunnerSets(set.Namespace)
	for attempt := 0; ; attempt++ {
		next := set.DeepCopy()
		mutate(&next.Status)
		if equality.Semantic.DeepEqual(set.Status, next.Status) {
			return nil
		}
		_, err := sets.UpdateStatus(ctx, next, metav1.UpdateOptions{})
		switch {
		case err == nil, apierrors.IsNotFound(err):
			return nil
		case !apierrors.IsConflict(err) || attempt >= 2:
			return fmt.Errorf("updating the status: %w", err)
		}
		live, err := sets.Get(ctx, set.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("updating the status: %w", err)
		}
		if live.UID != set.UID {
			return nil
		}
		set = live
	}
}
