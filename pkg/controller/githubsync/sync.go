package githubsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/github"
)

// Event reasons.
const (
	// EventBusyOnGitHub: GitHub says the runner runs a job no event told of.
	EventBusyOnGitHub = "BusyOnGitHub"
	// EventRegistrationVanished: the runner's registration is gone from
	// GitHub, so the Runner is deleted (and replaced by its RunnerSet).
	EventRegistrationVanished = "RegistrationVanished"
)

var everything = labels.Everything()

// scopeKey identifies a scope without regard to case, as GitHub does.
type scopeKey github.Scope

func keyOf(s github.Scope) scopeKey {
	return scopeKey{Host: strings.ToLower(s.Host), Owner: strings.ToLower(s.Owner), Repo: strings.ToLower(s.Repo), Enterprise: s.Enterprise}
}

// scopeState is what the sync remembers of a scope between periods.
type scopeState struct {
	// notBefore is when GitHub allows the next list.
	notBefore time.Time
	// vanished are the Runners (by UID) whose registration was missing in
	// the last list; deleted when it is missing again.
	vanished map[types.UID]bool
	// orphans are the GitHub runners (by id) that were orphans in the last
	// list; removed when they still are.
	orphans map[int64]bool
}

// scopeGroup is the Runners of one scope.
type scopeGroup struct {
	scope   github.Scope
	runners []*octorunv1alpha1.Runner
}

// groupByScope groups the Runners by the scope of their URL, ordered by
// scope; Runners of invalid URLs, of other hosts or of scopes not granted to
// their namespace are left out. A scope
// spelled in several cases is named as by the first Runner, by namespace and
// name.
func (c *Controller) groupByScope(runners []*octorunv1alpha1.Runner) []scopeGroup {
	runners = slices.Clone(runners)
	sort.Slice(runners, func(i, j int) bool {
		return runners[i].Namespace+"/"+runners[i].Name < runners[j].Namespace+"/"+runners[j].Name
	})
	byKey := map[scopeKey]*scopeGroup{}
	for _, r := range runners {
		scope, err := github.ParseScope(r.Spec.URL)
		if err != nil || !strings.EqualFold(scope.Host, c.opts.GitHubHost) {
			continue
		}
		if c.opts.Grants != nil && c.opts.Grants.Check(r.Namespace, r.Spec.URL, r.Spec.Group) != nil {
			continue
		}
		k := keyOf(scope)
		g, ok := byKey[k]
		if !ok {
			g = &scopeGroup{scope: scope}
			byKey[k] = g
		}
		g.runners = append(g.runners, r)
	}
	out := make([]scopeGroup, 0, len(byKey))
	for _, g := range byKey {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool { return keyOf(out[i].scope).String() < keyOf(out[j].scope).String() })
	return out
}

func (k scopeKey) String() string { return github.Scope(k).URL() }

// syncScope lists the scope's GitHub runners once and corrects the Runners
// (read before the list) and the orphans (against the Runners read after
// it).
func (c *Controller) syncScope(ctx context.Context, scope github.Scope, runners []*octorunv1alpha1.Runner) error {
	logger := klog.LoggerWithValues(klog.FromContext(ctx), "scope", scope.String())
	ctx = klog.NewContext(ctx, logger)
	state := c.state(scope)
	now := c.now()
	if now.Before(state.notBefore) {
		logger.V(4).Info("Waiting for GitHub's rate limits", "until", state.notBefore)
		c.metrics.syncs.WithLabelValues(resultDeferred).Inc()
		return nil
	}
	start := time.Now()
	defer func() { c.metrics.duration.Observe(time.Since(start).Seconds()) }()

	ghRunners, err := c.github.ListRunners(ctx, scope)
	if d, ok := github.RetryAfter(err); ok {
		state.notBefore = now.Add(d)
		c.metrics.syncs.WithLabelValues(resultRateLimited).Inc()
		logger.V(2).Info("GitHub's rate limits defer the sync", "retryAfter", d)
		return nil
	}
	if err != nil {
		c.metrics.syncs.WithLabelValues(resultError).Inc()
		return fmt.Errorf("listing the runners of %s: %w", scope, err)
	}
	logger.V(4).Info("Listed GitHub runners", "count", len(ghRunners), "runners", len(runners))
	byID := make(map[int64]github.Runner, len(ghRunners))
	for _, gr := range ghRunners {
		byID[gr.ID] = gr
	}

	var errs []error
	vanished := map[types.UID]bool{}
	for _, r := range runners {
		if r.DeletionTimestamp != nil || r.Spec.ID == 0 {
			continue
		}
		job, _ := octorunv1alpha1.JobAssignmentOf(r) // a malformed hint is none, as for the Runner controller
		gr, registered := byID[r.Spec.ID]
		// spec.id is written in the tenant's namespace: the runner of that
		// id is the Runner's only if it carries the Runner's name.
		registered = registered && gr.Name == octorunv1alpha1.GitHubRunnerName(c.opts.RunnerNamePrefix, r)
		switch {
		case registered && gr.Busy && job == nil && (r.Status.Phase == octorunv1alpha1.RunnerPhaseIdle || r.Status.Phase == octorunv1alpha1.RunnerPhasePending || r.Status.Phase == ""):
			errs = append(errs, c.markBusy(ctx, r))
		case !registered && (r.Status.Phase == octorunv1alpha1.RunnerPhaseIdle || r.Status.Phase == octorunv1alpha1.RunnerPhasePending) &&
			job == nil && now.Sub(r.CreationTimestamp.Time) >= c.opts.GracePeriod:
			// Seen twice, so that a Runner whose job just ended (its
			// ephemeral runner deregistered, its pod about to exit) is
			// Complete by then. A Pending one is a registration whose pod
			// never ran: GitHub removes an ephemeral runner that never
			// connects after about a day (GitHub docs, "Autoscaling with
			// self-hosted runners"), and its config is useless after.
			if state.vanished[r.UID] {
				errs = append(errs, c.deleteVanished(ctx, r))
			} else {
				vanished[r.UID] = true
				logger.V(2).Info("The Runner's registration is gone from GitHub; deleting it next period if still so", "runner", klog.KObj(r), "id", r.Spec.ID)
			}
		}
	}
	state.vanished = vanished

	if err := c.deleteOrphans(ctx, scope, state, ghRunners); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		c.metrics.syncs.WithLabelValues(resultError).Inc()
		return err
	}
	c.metrics.syncs.WithLabelValues(resultSynced).Inc()
	return nil
}

// markBusy writes a job hint without a job id on a Runner GitHub says is
// busy. The merge patch is conditional on the resourceVersion read: a
// Runner that changed since is looked at again next period.
func (c *Controller) markBusy(ctx context.Context, r *octorunv1alpha1.Runner) error {
	hint := octorunv1alpha1.JobAssignment{AssignedAt: metav1.NewTime(c.now())}
	meta := map[string]any{"annotations": map[string]string{octorunv1alpha1.AnnotationJobAssignment: hint.String()}}
	if r.ResourceVersion != "" {
		meta["resourceVersion"] = r.ResourceVersion
	}
	patch, err := json.Marshal(map[string]any{"metadata": meta})
	if err != nil {
		return err
	}
	_, err = c.octorunClient.OctorunV1alpha1().Runners(r.Namespace).Patch(ctx, r.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	switch {
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return nil
	case err != nil:
		return fmt.Errorf("writing the job hint of Runner %s/%s: %w", r.Namespace, r.Name, err)
	}
	klog.FromContext(ctx).V(2).Info("GitHub says the runner is busy; wrote the job hint", "runner", klog.KObj(r), "id", r.Spec.ID)
	c.recorder.Event(r, corev1.EventTypeNormal, EventBusyOnGitHub, "GitHub says the runner is running a job")
	c.metrics.actions.WithLabelValues(actionMarkBusy).Inc()
	return nil
}

// deleteVanished deletes an Idle Runner whose registration is gone from
// GitHub: its JIT config is useless, so it will never run a job. The
// deletion is conditional on the UID and resourceVersion read.
func (c *Controller) deleteVanished(ctx context.Context, r *octorunv1alpha1.Runner) error {
	uid, rv := r.UID, r.ResourceVersion
	pre := &metav1.Preconditions{UID: &uid}
	if rv != "" {
		pre.ResourceVersion = &rv
	}
	err := c.octorunClient.OctorunV1alpha1().Runners(r.Namespace).Delete(ctx, r.Name, metav1.DeleteOptions{Preconditions: pre})
	switch {
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return nil
	case err != nil:
		return fmt.Errorf("deleting Runner %s/%s, whose registration is gone from GitHub: %w", r.Namespace, r.Name, err)
	}
	klog.FromContext(ctx).V(2).Info("Deleted a Runner whose registration is gone from GitHub", "runner", klog.KObj(r), "id", r.Spec.ID)
	c.recorder.Eventf(r, corev1.EventTypeWarning, EventRegistrationVanished,
		"GitHub runner %d is gone from GitHub; the Runner is deleted so that it can be replaced", r.Spec.ID)
	c.metrics.actions.WithLabelValues(actionDeleteVanished).Inc()
	return nil
}

// deleteOrphans removes the GitHub runners named with Octorun's prefix that
// no Runner has (by id or name) and that are not busy, when they were
// orphans in the previous list already. The Runners are read now, after the
// list, so a Runner registered meanwhile is known.
func (c *Controller) deleteOrphans(ctx context.Context, scope github.Scope, state *scopeState, ghRunners []github.Runner) error {
	prefix := c.opts.RunnerNamePrefix
	if prefix == "" {
		return nil
	}
	logger := klog.FromContext(ctx)
	runners, err := c.runnerLister.List(everything)
	if err != nil {
		return err
	}
	ids, names := map[int64]bool{}, map[string]bool{}
	for _, r := range runners {
		// Every Runner, of any scope: protecting too much is harmless.
		if r.Spec.ID != 0 {
			ids[r.Spec.ID] = true
		}
		names[octorunv1alpha1.GitHubRunnerName(prefix, r)] = true
	}
	orphans := map[int64]bool{}
	var errs []error
	for _, gr := range ghRunners {
		if !strings.HasPrefix(gr.Name, prefix) || gr.Busy || ids[gr.ID] || names[gr.Name] {
			continue
		}
		if !state.orphans[gr.ID] {
			orphans[gr.ID] = true
			logger.V(2).Info("Found a GitHub runner without a Runner; removing it next period if still so", "id", gr.ID, "githubName", gr.Name)
			continue
		}
		err := c.github.DeleteRunner(ctx, scope, gr.ID)
		if d, ok := github.RetryAfter(err); ok {
			// The rest waits for the next list GitHub allows.
			state.notBefore = c.now().Add(d)
			for id := range state.orphans {
				orphans[id] = true
			}
			break
		}
		switch {
		case err == nil:
			logger.V(2).Info("Removed a GitHub runner without a Runner", "id", gr.ID, "githubName", gr.Name)
			c.metrics.actions.WithLabelValues(actionDeleteOrphan).Inc()
		case errors.Is(err, github.ErrNotFound), errors.Is(err, github.ErrRunnerBusy):
			// Gone already, or a job just started on it: next period.
		default:
			orphans[gr.ID] = true
			errs = append(errs, fmt.Errorf("removing orphan GitHub runner %d (%s): %w", gr.ID, gr.Name, err))
		}
	}
	state.orphans = orphans
	return errors.Join(errs...)
}
