package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/github"
)

// Event reasons.
const (
	EventRegistered        = "Registered"
	EventRegistrationError = "RegistrationFailed"
	EventOrphanRemoved     = "OrphanRegistrationRemoved"
	EventIdle              = "RunnerIdle"
	EventJobStarted        = "JobStarted"
	EventCompleted         = "RunnerCompleted"
	EventFailed            = "RunnerFailed"
	EventDeletionDelayed   = "DeletionDelayed"
	EventDeregistered      = "Deregistered"
)

// sync converges one Runner. It returns how long to wait before the Runner
// must be looked at again (0: only on change), or an error to retry with
// backoff.
func (c *Controller) sync(ctx context.Context, key cache.ObjectName) (time.Duration, error) {
	logger := klog.FromContext(ctx)
	cached, err := c.runners.Get(key)
	if apierrors.IsNotFound(err) {
		logger.V(4).Info("Runner is gone")
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	runner := cached.DeepCopy() // never mutate the cache
	scope, scopeErr := c.scopeOf(runner)

	job, err := octorunv1alpha1.JobAssignmentOf(runner)
	if err != nil {
		logger.V(2).Info("Ignoring a malformed job assignment", "err", err)
	}
	if runner.DeletionTimestamp != nil {
		return c.finalize(ctx, runner, scope, scopeErr, job)
	}

	obs := observation{job: job}
	var requeue time.Duration
	var manageErr error
	if runner.Spec.ID == 0 && !terminal(runner.Status.Phase) {
		runner, obs.registration, requeue, manageErr = c.register(ctx, runner, scope, scopeErr)
	}
	if runner.Spec.ID != 0 && manageErr == nil {
		obs.pod, obs.podConflict, manageErr = c.ensurePod(ctx, runner)
	}

	status := computeStatus(runner, obs)
	if obs.pod != nil && obs.podConflict == "" {
		if err := c.syncPodDisruption(ctx, obs.pod, status.Phase); err != nil && manageErr == nil {
			manageErr = err
		}
	}
	if _, err := c.updateStatus(ctx, runner, status); err != nil {
		return 0, errors.Join(manageErr, err)
	}
	return requeue, manageErr
}

// scopeOf parses the Runner's URL and checks it is on Octorun's GitHub.
func (c *Controller) scopeOf(runner *octorunv1alpha1.Runner) (github.Scope, error) {
	scope, err := github.ParseScope(runner.Spec.URL)
	if err != nil {
		return scope, err
	}
	if scope.Host != c.opts.GitHubHost {
		return scope, fmt.Errorf("%s is not on %s, the GitHub Octorun is configured for", runner.Spec.URL, c.opts.GitHubHost)
	}
	return scope, nil
}

// register registers the Runner on GitHub and keeps its JIT config in a
// Secret, or says why it could not.
func (c *Controller) register(ctx context.Context, runner *octorunv1alpha1.Runner, scope github.Scope, scopeErr error) (*octorunv1alpha1.Runner, registration, time.Duration, error) {
	logger := klog.FromContext(ctx)
	if scopeErr != nil {
		return runner, registration{reason: octorunv1alpha1.ReasonInvalidURL, message: scopeErr.Error(), permanent: true}, 0, nil
	}
	labels := octorunv1alpha1.GitHubLabels(runner.Labels)
	if len(labels) > 100 {
		return runner, registration{
			reason:    octorunv1alpha1.ReasonRegistrationFailed,
			message:   fmt.Sprintf("GitHub allows 100 runner labels; the Runner's octorun.github.io/ labels make %d", len(labels)),
			permanent: true,
		}, 0, nil
	}

	// The finalizer comes first: from the first GitHub call on, the Runner
	// must not go without its registration being removed.
	if !slices.Contains(runner.Finalizers, octorunv1alpha1.RunnerFinalizer) {
		runner.Finalizers = append(runner.Finalizers, octorunv1alpha1.RunnerFinalizer)
		updated, err := c.octorunClient.OctorunV1alpha1().Runners(runner.Namespace).Update(ctx, runner, metav1.UpdateOptions{})
		if err != nil {
			return runner, registration{}, 0, fmt.Errorf("adding the finalizer: %w", err)
		}
		c.wrote(updated)
		// The update succeeded on the cached version, which had no
		// finalizer: no earlier attempt registered the Runner, so neither a
		// live read nor a look for an earlier attempt's Secret is needed.
		return c.registerOnGitHub(ctx, updated, scope, labels)
	}

	// The cache may be behind an earlier sync that registered already.
	live, err := c.getLiveRunner(ctx, runner)
	if err != nil {
		return runner, registration{}, 0, fmt.Errorf("reading the Runner: %w", err)
	}
	runner = live
	if runner.Spec.ID != 0 {
		return runner, registration{}, 0, nil
	}
	// A Secret of an earlier attempt whose write of spec.id was lost.
	secret, err := c.kubeClient.CoreV1().Secrets(runner.Namespace).Get(ctx, runner.Name, metav1.GetOptions{})
	switch {
	case err == nil && !metav1.IsControlledBy(secret, runner):
		return runner, registration{
			reason:  octorunv1alpha1.ReasonPodNameConflict,
			message: fmt.Sprintf("Secret %s exists and does not belong to the Runner; delete or rename it", runner.Name),
		}, c.opts.RetryPeriod, nil
	case err == nil:
		id, err := strconv.ParseInt(secret.Annotations[annotationRunnerID], 10, 64)
		if err == nil && id > 0 {
			logger.V(2).Info("Recovering the runner id from its Secret", "id", id)
			runner, err = c.setRunnerID(ctx, runner, id, secret.Annotations[annotationRunnerOS])
			return runner, registration{}, 0, err
		}
		return runner, registration{}, 0, fmt.Errorf("Secret %s has no runner id", runner.Name)
	case !apierrors.IsNotFound(err):
		return runner, registration{}, 0, fmt.Errorf("reading Secret %s: %w", runner.Name, err)
	}
	return c.registerOnGitHub(ctx, runner, scope, labels)
}

// registerOnGitHub registers a Runner that carries the finalizer and has no
// registration yet, and keeps its JIT config in a Secret.
func (c *Controller) registerOnGitHub(ctx context.Context, runner *octorunv1alpha1.Runner, scope github.Scope, labels []string) (*octorunv1alpha1.Runner, registration, time.Duration, error) {
	logger := klog.FromContext(ctx)
	groupID, err := c.github.RunnerGroupID(ctx, scope, runner.Spec.Group)
	if err != nil {
		return c.registrationFailure(ctx, runner, err)
	}
	name := octorunv1alpha1.GitHubRunnerName(c.opts.RunnerNamePrefix, runner)
	workdir := runner.Spec.Workdir
	if workdir == "" {
		workdir = octorunv1alpha1.DefaultWorkdir
	}
	jit, err := c.github.GenerateJITConfig(ctx, scope, github.JITConfigRequest{
		Name: name, RunnerGroupID: groupID, Labels: labels, WorkFolder: workdir,
	})
	if errors.Is(err, github.ErrRunnerNameTaken) {
		return c.handleNameTaken(ctx, runner, scope, name)
	}
	if err != nil {
		return c.registrationFailure(ctx, runner, err)
	}
	id := jit.Runner.ID
	logger.V(2).Info("Registered the runner on GitHub", "id", id, "githubName", name)

	// Keep the config: the Secret first (it records the id too), then spec.
	secret := newSecret(runner, id, jit.Runner.Name, jit.Runner.OS, jit.EncodedJITConfig)
	if _, err := c.kubeClient.CoreV1().Secrets(runner.Namespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		// Without its config the registration is useless: remove it rather
		// than leave a runner on GitHub that no pod will run.
		if delErr := c.github.DeleteRunner(ctx, scope, id); delErr != nil && !errors.Is(delErr, github.ErrNotFound) {
			logger.Error(delErr, "Removing a registration whose config could not be stored", "id", id)
		}
		return runner, registration{}, 0, fmt.Errorf("storing the JIT config of runner %d in Secret %s: %w", id, runner.Name, err)
	}
	c.recorder.Eventf(runner, corev1.EventTypeNormal, EventRegistered, "Registered on GitHub as runner %d (%s)", id, name)
	runner, err = c.setRunnerID(ctx, runner, id, jit.Runner.OS)
	return runner, registration{}, 0, err
}

// registrationFailure turns a failed GitHub call of the registration into a
// condition and a retry plan: rate limits wait as told, failures a user must
// fix are retried slowly, and server errors back off.
func (c *Controller) registrationFailure(ctx context.Context, runner *octorunv1alpha1.Runner, err error) (*octorunv1alpha1.Runner, registration, time.Duration, error) {
	if d, ok := github.RetryAfter(err); ok {
		return runner, registration{reason: octorunv1alpha1.ReasonRateLimited, message: err.Error()}, d, nil
	}
	reg := registration{reason: octorunv1alpha1.ReasonRegistrationFailed, message: err.Error()}
	switch {
	case errors.Is(err, github.ErrUnauthorized):
		reg.reason = octorunv1alpha1.ReasonUnauthorized
	case errors.Is(err, github.ErrRunnerGroupNotFound):
		reg.reason = octorunv1alpha1.ReasonRunnerGroupNotFound
	case errors.Is(err, github.ErrNotFound):
		reg.reason = octorunv1alpha1.ReasonScopeNotFound
		reg.message = fmt.Sprintf("GitHub does not know %s, or Octorun's credentials cannot see it: %v", runner.Spec.URL, err)
	case errors.Is(err, github.ErrInvalidRequest):
		reg.permanent = true
	default:
		// GitHub failed or was unreachable: retry with backoff.
		return runner, reg, 0, err
	}
	if cond := meta.FindStatusCondition(runner.Status.Conditions, octorunv1alpha1.RunnerConditionRegistered); cond == nil || cond.Reason != reg.reason {
		c.recorder.Event(runner, corev1.EventTypeWarning, EventRegistrationError, reg.message)
	}
	if reg.permanent {
		return runner, reg, 0, nil
	}
	klog.FromContext(ctx).V(2).Info("Registration failed; retrying later", "reason", reg.reason, "err", err)
	return runner, reg, c.opts.RetryPeriod, nil
}

// handleNameTaken handles GitHub's 409 for the runner's name. A registration
// of that name that is offline and idle is an earlier attempt whose config
// was lost: it is removed and the registration retried. A name in use by a
// live runner belongs to someone else: the Runner fails, with a message
// saying how to fix it.
func (c *Controller) handleNameTaken(ctx context.Context, runner *octorunv1alpha1.Runner, scope github.Scope, name string) (*octorunv1alpha1.Runner, registration, time.Duration, error) {
	existing, err := c.github.FindRunnerByName(ctx, scope, name)
	if errors.Is(err, github.ErrNotFound) {
		return runner, registration{reason: octorunv1alpha1.ReasonRegistering, message: "Retrying the registration"}, time.Second, nil
	}
	if err != nil {
		return c.registrationFailure(ctx, runner, err)
	}
	if existing.Status == "offline" && !existing.Busy {
		if err := c.github.DeleteRunner(ctx, scope, existing.ID); err != nil && !errors.Is(err, github.ErrNotFound) {
			return c.registrationFailure(ctx, runner, err)
		}
		c.recorder.Eventf(runner, corev1.EventTypeNormal, EventOrphanRemoved,
			"Removed runner %d (%s) from GitHub, left by an earlier registration attempt", existing.ID, name)
		return runner, registration{reason: octorunv1alpha1.ReasonRegistering, message: "Retrying the registration"}, time.Millisecond, nil
	}
	reg := registration{
		reason: octorunv1alpha1.ReasonRunnerNameTaken,
		message: fmt.Sprintf("GitHub runner %q (id %d) of %s is %s and not Octorun's: another cluster or tool uses the name; give each cluster its own runner name prefix",
			name, existing.ID, scope, existing.Status),
		permanent: true,
	}
	c.recorder.Event(runner, corev1.EventTypeWarning, EventRegistrationError, reg.message)
	return runner, reg, 0, nil
}

// setRunnerID writes spec.id and spec.os, the only spec fields Octorun sets.
func (c *Controller) setRunnerID(ctx context.Context, runner *octorunv1alpha1.Runner, id int64, os string) (*octorunv1alpha1.Runner, error) {
	var updated *octorunv1alpha1.Runner
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		r := runner.DeepCopy()
		r.Spec.ID, r.Spec.OS = id, os
		var err error
		updated, err = c.octorunClient.OctorunV1alpha1().Runners(r.Namespace).Update(ctx, r, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			if live, getErr := c.getLiveRunner(ctx, runner); getErr == nil {
				runner = live
			}
		}
		return err
	})
	if err != nil {
		return runner, fmt.Errorf("writing spec.id %d: %w", id, err)
	}
	c.wrote(updated)
	return updated, nil
}

// ensurePod returns the Runner's pod, creating it for a registered Runner
// that has none and never had one running. conflict tells of a pod of that
// name owned by something else.
func (c *Controller) ensurePod(ctx context.Context, runner *octorunv1alpha1.Runner) (*corev1.Pod, string, error) {
	pod, err := c.podLister.Pods(runner.Namespace).Get(runner.Name)
	switch {
	case err == nil && !metav1.IsControlledBy(pod, runner):
		return nil, fmt.Sprintf("Pod %s exists and does not belong to the Runner; delete or rename it", runner.Name), nil
	case err == nil:
		return pod, "", nil
	case !apierrors.IsNotFound(err):
		return nil, "", err
	}
	switch runner.Status.Phase {
	case octorunv1alpha1.RunnerPhaseIdle, octorunv1alpha1.RunnerPhaseActive, octorunv1alpha1.RunnerPhaseComplete, octorunv1alpha1.RunnerPhaseFailed:
		// Its pod ran and went: a JIT config runs once.
		return nil, "", nil
	}
	pod, err = c.kubeClient.CoreV1().Pods(runner.Namespace).Create(ctx, newPod(runner), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Created by an earlier sync the cache has not seen yet.
		pod, err = c.kubeClient.CoreV1().Pods(runner.Namespace).Get(ctx, runner.Name, metav1.GetOptions{})
		if err == nil && !metav1.IsControlledBy(pod, runner) {
			return nil, fmt.Sprintf("Pod %s exists and does not belong to the Runner; delete or rename it", runner.Name), nil
		}
	}
	if err != nil {
		return nil, "", fmt.Errorf("creating pod %s: %w", runner.Name, err)
	}
	klog.FromContext(ctx).V(2).Info("Created the runner pod", "pod", klog.KObj(pod))
	return pod, "", nil
}

// syncPodDisruption keeps a runner that holds a job from being evicted, and
// lets any other be: the annotations tell node autoscalers, and the busy
// label puts the pod under the namespace's PodDisruptionBudget, which makes
// evictions (kubectl drain) wait for the job to end.
func (c *Controller) syncPodDisruption(ctx context.Context, pod *corev1.Pod, phase octorunv1alpha1.RunnerPhase) error {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed || pod.DeletionTimestamp != nil {
		return nil
	}
	annotations := diffKeys(pod.Annotations, evictionAnnotations(phase), annotationSafeToEvict, annotationDoNotDisrupt)
	labels := diffKeys(pod.Labels, busyLabels(phase), octorunv1alpha1.LabelBusy)
	if len(annotations) == 0 && len(labels) == 0 {
		return nil
	}
	if labels[octorunv1alpha1.LabelBusy] != nil {
		c.ensureBusyPDB(ctx, pod.Namespace)
	}
	metadata := map[string]any{}
	if len(annotations) > 0 {
		metadata["annotations"] = annotations
	}
	if len(labels) > 0 {
		metadata["labels"] = labels
	}
	data, err := json.Marshal(map[string]any{"metadata": metadata})
	if err != nil {
		return err
	}
	if _, err := c.kubeClient.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, data, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("marking pod %s as evictable or not: %w", pod.Name, err)
	}
	return nil
}

// diffKeys returns the merge patch that turns the keys of have into want.
func diffKeys(have, want map[string]string, keys ...string) map[string]any {
	patch := map[string]any{}
	for _, k := range keys {
		v, ok := want[k]
		cur, has := have[k]
		switch {
		case ok && (!has || cur != v):
			patch[k] = v
		case !ok && has:
			patch[k] = nil
		}
	}
	return patch
}

// ensureBusyPDB creates the namespace's PodDisruptionBudget of busy runner
// pods, once per namespace and process. Without it (e.g. no permission)
// Octorun still works; evictions then kill jobs, which an Event says.
func (c *Controller) ensureBusyPDB(ctx context.Context, namespace string) {
	if _, done := c.pdbs.Load(namespace); done {
		return
	}
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{
			Name: octorunv1alpha1.BusyRunnersPDB, Namespace: namespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "octorun"},
		},
		Spec: policyv1.PodDisruptionBudgetSpec{
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{octorunv1alpha1.LabelBusy: "true"}},
			MaxUnavailable: ptr.To(intstr.FromInt32(0)),
		},
	}
	_, err := c.kubeClient.PolicyV1().PodDisruptionBudgets(namespace).Create(ctx, pdb, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		klog.FromContext(ctx).Error(err, "Creating the PodDisruptionBudget of busy runners; evictions (e.g. node drains) can kill jobs", "pdb", klog.KRef(namespace, octorunv1alpha1.BusyRunnersPDB))
		if !apierrors.IsForbidden(err) {
			return // retried with the next busy runner
		}
	}
	c.pdbs.Store(namespace, true)
}

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
	case octorunv1alpha1.RunnerPhaseIdle:
		c.recorder.Event(runner, corev1.EventTypeNormal, EventIdle, "The runner is online and waits for a job")
	case octorunv1alpha1.RunnerPhaseActive:
		c.recorder.Event(runner, corev1.EventTypeNormal, EventJobStarted, message(octorunv1alpha1.RunnerConditionJobAssigned))
	case octorunv1alpha1.RunnerPhaseComplete:
		c.recorder.Event(runner, corev1.EventTypeNormal, EventCompleted, "The runner finished its job")
	case octorunv1alpha1.RunnerPhaseFailed:
		msg := message(octorunv1alpha1.RunnerConditionPodReady)
		if cond := meta.FindStatusCondition(runner.Status.Conditions, octorunv1alpha1.RunnerConditionRegistered); cond != nil && cond.Status != metav1.ConditionTrue {
			msg = cond.Message
		}
		c.recorder.Event(runner, corev1.EventTypeWarning, EventFailed, msg)
	}
}
