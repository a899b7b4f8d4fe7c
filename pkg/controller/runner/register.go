package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/github"
	"github.com/octorun/octorun/pkg/runnerscaleset"
	"github.com/octorun/octorun/pkg/scopegrant"
)

// scaleSetWait is how long a Runner of a scale-set RunnerSet waits before
// it looks again for its set's scale set on GitHub.
const scaleSetWait = 2 * time.Second

// exitGrace is how long the Runner waits, after its runner exited with no
// job seen, for word of one: from a scale set's messages for a Runner of a
// scale set, else as the options say.
func (c *Controller) exitGrace(runner *octorunv1alpha1.Runner) time.Duration {
	if id, err := c.scaleSetOf(runner); err == nil && id != 0 {
		return c.opts.ScaleSetExitGracePeriod
	}
	return c.opts.ExitGracePeriod
}

// scaleSetOf returns the id of the runner scale set the Runner registers
// with, 0 when none.
func (c *Controller) scaleSetOf(runner *octorunv1alpha1.Runner) (int64, error) {
	if c.opts.ScaleSets == nil {
		return 0, nil
	}
	return c.opts.ScaleSets.ScaleSetOf(runner)
}

const (
	// Annotations of the runner's Secret.
	annotationRunnerID   = octorunv1alpha1.LabelPrefix + "runner-id"
	annotationRunnerName = octorunv1alpha1.LabelPrefix + "runner-name"
	annotationRunnerOS   = octorunv1alpha1.LabelPrefix + "runner-os"
)

// attempt is what a sync's attempt to register a Runner led to.
type attempt struct {
	// runner is the Runner as the attempt last read or wrote it, or as it
	// started from when it did neither.
	runner *octorunv1alpha1.Runner
	// registration says why the Runner is not registered; zero when nothing
	// went wrong.
	registration registration
	// requeue is when to try again; zero: on change only, or with the
	// queue's backoff after an error.
	requeue time.Duration
}

// register registers the Runner on GitHub and keeps its JIT config in a
// Secret, or says why it could not.
func (c *Controller) register(ctx context.Context, runner *octorunv1alpha1.Runner, scope github.Scope, scopeErr error) (attempt, error) {
	if scopeErr != nil {
		return attempt{runner: runner, registration: registration{reason: octorunv1alpha1.ReasonInvalidURL, message: scopeErr.Error(), permanent: true}}, nil
	}
	if err := c.opts.Grants.Check(runner.Namespace, runner.Spec.URL, runner.Spec.Group); err != nil {
		// Checked before any GitHub call: a namespace uses Octorun's
		// credential only where a ScopeGrant lets it. A grant may come
		// later, so the Runner waits for it.
		if !scopegrant.IsNotGranted(err) {
			return attempt{runner: runner}, err
		}
		reg := registration{reason: octorunv1alpha1.ReasonScopeNotGranted, message: err.Error()}
		if cond := meta.FindStatusCondition(runner.Status.Conditions, octorunv1alpha1.RunnerConditionRegistered); cond == nil || cond.Reason != reg.reason {
			c.recorder.Event(runner, corev1.EventTypeWarning, EventRegistrationError, reg.message)
		}
		return attempt{runner: runner, registration: reg, requeue: c.opts.RetryPeriod}, nil
	}
	labels := octorunv1alpha1.RunnerLabels(runner.Labels, &runner.Spec, c.opts.DefaultArch)
	if len(labels) > 100 {
		return attempt{runner: runner, registration: registration{
			reason:    octorunv1alpha1.ReasonRegistrationFailed,
			message:   fmt.Sprintf("GitHub allows 100 runner labels; the Runner's octorun.github.io/ labels make %d", len(labels)),
			permanent: true,
		}}, nil
	}

	// The finalizer comes first: from the first GitHub call on, the Runner
	// must not go without its registration being removed. The RunnerSet
	// controller creates its Runners with it.
	if !slices.Contains(runner.Finalizers, octorunv1alpha1.RunnerFinalizer) {
		runner.Finalizers = append(runner.Finalizers, octorunv1alpha1.RunnerFinalizer)
		updated, err := c.octorunClient.OctorunV1alpha1().Runners(runner.Namespace).Update(ctx, runner, metav1.UpdateOptions{})
		if err != nil {
			return attempt{runner: runner}, fmt.Errorf("adding the finalizer: %w", err)
		}
		c.wrote(updated)
		runner = updated
	}
	// The registration is tried at once, with no read first. An earlier
	// attempt's registration, if there is one (a sync whose write of
	// spec.id was lost, or which the cache does not show yet), holds the
	// runner's name on GitHub: GitHub's 409 for the name then sends the
	// sync to the live Runner and its Secret (recoverAttempt) before
	// anything else is done.
	return c.registerOnGitHub(ctx, runner, scope, labels)
}

// recoverAttempt follows GitHub's 409 for the name of a Runner without
// spec.id: an earlier attempt registered it. The cache may be behind that
// attempt's write of spec.id, or the write was lost after the Secret
// recording the registration was stored; failing both, the name is held by
// a registration whose Secret was never stored (handleNameTaken).
func (c *Controller) recoverAttempt(ctx context.Context, runner *octorunv1alpha1.Runner, scope github.Scope, name string) (attempt, error) {
	live, err := c.getLiveRunner(ctx, runner)
	if err != nil {
		return attempt{runner: runner}, fmt.Errorf("reading the Runner: %w", err)
	}
	runner = live
	if runner.Spec.ID != 0 {
		return attempt{runner: runner}, nil
	}
	// A Secret of an earlier attempt whose write of spec.id was lost.
	secret, err := c.kubeClient.CoreV1().Secrets(runner.Namespace).Get(ctx, runner.Name, metav1.GetOptions{})
	switch {
	case err == nil && !metav1.IsControlledBy(secret, runner):
		return attempt{runner: runner, requeue: c.opts.RetryPeriod, registration: registration{
			reason:  octorunv1alpha1.ReasonPodNameConflict,
			message: fmt.Sprintf("Secret %s exists and does not belong to the Runner; delete or rename it", runner.Name),
		}}, nil
	case err == nil:
		return c.adopt(ctx, runner, scope, secret)
	case !apierrors.IsNotFound(err):
		return attempt{runner: runner}, fmt.Errorf("reading Secret %s: %w", runner.Name, err)
	}
	return c.handleNameTaken(ctx, runner, scope, name)
}

// adopt takes up the registration an earlier attempt recorded in the
// Runner's Secret before its write of spec.id was lost. Anyone who may write
// Secrets in the namespace can make one that looks like that, so the id is
// adopted only if GitHub names its runner as Octorun names the Runner's; a
// registration gone from GitHub takes its stale Secret with it, and the
// Runner registers again.
func (c *Controller) adopt(ctx context.Context, runner *octorunv1alpha1.Runner, scope github.Scope, secret *corev1.Secret) (attempt, error) {
	id, err := strconv.ParseInt(secret.Annotations[annotationRunnerID], 10, 64)
	if err != nil || id <= 0 {
		return attempt{runner: runner}, fmt.Errorf("Secret %s has no runner id", runner.Name)
	}
	owner, err := c.ownership(ctx, runner, scope, id)
	if err != nil {
		return c.registrationFailure(ctx, runner, err)
	}
	switch owner {
	case gone:
		if err := c.kubeClient.CoreV1().Secrets(runner.Namespace).Delete(ctx, secret.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &secret.UID},
		}); err != nil && !apierrors.IsNotFound(err) {
			return attempt{runner: runner}, fmt.Errorf("deleting Secret %s of runner %d, gone from GitHub: %w", secret.Name, id, err)
		}
		return attempt{runner: runner, registration: registration{reason: octorunv1alpha1.ReasonRegistering, message: "Retrying the registration"}, requeue: time.Millisecond}, nil
	case notOwned:
		reg := registration{
			reason: octorunv1alpha1.ReasonRegistrationNotOwned,
			message: fmt.Sprintf("Secret %s records GitHub runner %d, which is not the runner Octorun registered for this Runner; Octorun neither adopts nor removes it: delete the Runner",
				secret.Name, id),
			permanent: true,
		}
		c.recorder.Event(runner, corev1.EventTypeWarning, EventRegistrationNotOwned, reg.message)
		return attempt{runner: runner, registration: reg}, nil
	}
	klog.FromContext(ctx).V(2).Info("Recovering the runner id from its Secret", "id", id)
	runner, err = c.setRunnerID(ctx, runner, id, secret.Annotations[annotationRunnerOS])
	return attempt{runner: runner}, err
}

// registerOnGitHub registers a Runner that carries the finalizer and has no
// registration yet, and keeps its JIT config in a Secret.
func (c *Controller) registerOnGitHub(ctx context.Context, runner *octorunv1alpha1.Runner, scope github.Scope, labels []string) (attempt, error) {
	logger := klog.FromContext(ctx)
	name := octorunv1alpha1.GitHubRunnerName(c.opts.RunnerNamePrefix, runner)
	workdir := runner.Spec.Workdir
	if workdir == "" {
		workdir = octorunv1alpha1.DefaultWorkdir
	}
	var jit *github.JITConfig
	setID, err := c.scaleSetOf(runner)
	switch {
	case errors.Is(err, runnerscaleset.ErrNotReady):
		return attempt{runner: runner, requeue: scaleSetWait, registration: registration{
			reason: octorunv1alpha1.ReasonRegistering, message: "Waiting for the RunnerSet's runner scale set to be created on GitHub",
		}}, nil
	case err != nil:
		var mismatch *runnerscaleset.MismatchError
		if errors.As(err, &mismatch) {
			return attempt{runner: runner, registration: registration{reason: octorunv1alpha1.ReasonRegistrationFailed, message: err.Error(), permanent: true}}, nil
		}
		return attempt{runner: runner}, err
	case setID != 0:
		// A scale set's runners take its labels and group: GitHub gives
		// the set's jobs to them only.
		jit, err = c.opts.ScaleSets.GenerateJITConfig(ctx, scope, setID, name, workdir)
	default:
		var groupID int64
		if groupID, err = c.github.RunnerGroupID(ctx, scope, runner.Spec.Group); err != nil {
			return c.registrationFailure(ctx, runner, err)
		}
		jit, err = c.github.GenerateJITConfig(ctx, scope, github.JITConfigRequest{
			Name: name, RunnerGroupID: groupID, Labels: labels, WorkFolder: workdir,
		})
	}
	if errors.Is(err, github.ErrRunnerNameTaken) {
		return c.recoverAttempt(ctx, runner, scope, name)
	}
	if err != nil {
		return c.registrationFailure(ctx, runner, err)
	}
	id := jit.Runner.ID
	c.remember(runner, id)
	logger.V(2).Info("Registered the runner on GitHub", "id", id, "githubName", name)

	// Keep the config: the Secret first (it records the id too), then spec.
	secret := newSecret(runner, id, jit.Runner.Name, jit.Runner.OS, jit.EncodedJITConfig)
	if err := c.storeConfig(ctx, runner, secret); err != nil {
		// Without its config the registration is useless: remove it rather
		// than leave a runner on GitHub that no pod will run.
		if delErr := c.github.DeleteRunner(ctx, scope, id); delErr != nil && !errors.Is(delErr, github.ErrNotFound) {
			logger.Error(delErr, "Removing a registration whose config could not be stored", "id", id)
		}
		return attempt{runner: runner}, fmt.Errorf("storing the JIT config of runner %d in Secret %s: %w", id, runner.Name, err)
	}
	runner, err = c.setRunnerID(ctx, runner, id, jit.Runner.OS)
	return attempt{runner: runner}, err
}

// storeConfig creates the Secret of a new registration. A Secret of the
// Runner there already records an earlier registration that is gone from
// GitHub (GitHub gave the name to this one): it is replaced. A Secret of
// the name that is not the Runner's is left alone.
func (c *Controller) storeConfig(ctx context.Context, runner *octorunv1alpha1.Runner, secret *corev1.Secret) error {
	secrets := c.kubeClient.CoreV1().Secrets(runner.Namespace)
	_, err := secrets.Create(ctx, secret, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	existing, err := secrets.Get(ctx, secret.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if !metav1.IsControlledBy(existing, runner) {
		return fmt.Errorf("Secret %s exists and does not belong to the Runner", secret.Name)
	}
	if err := secrets.Delete(ctx, secret.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &existing.UID}}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting the stale Secret %s: %w", secret.Name, err)
	}
	_, err = secrets.Create(ctx, secret, metav1.CreateOptions{})
	return err
}

// registrationFailure turns a failed GitHub call of the registration into a
// condition and a retry plan: rate limits wait as told, failures a user must
// fix are retried slowly, and server errors back off.
func (c *Controller) registrationFailure(ctx context.Context, runner *octorunv1alpha1.Runner, err error) (attempt, error) {
	if d, ok := github.RetryAfter(err); ok {
		return attempt{runner: runner, registration: registration{reason: octorunv1alpha1.ReasonRateLimited, message: err.Error()}, requeue: d}, nil
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
	case errors.Is(err, github.ErrNotInstalled):
		reg.reason = octorunv1alpha1.ReasonNotInstalled
		reg.message = fmt.Sprintf("Octorun's GitHub App is not installed on %s, or may not manage its self-hosted runners: install it there, then the registration is retried: %v",
			runner.Spec.URL, err)
	case errors.Is(err, github.ErrInvalidRequest):
		// A validation error: the immutable spec cannot be registered as
		// it is. A 422 that may pass (ErrEndpointSpammed) is retried below.
		reg.reason = octorunv1alpha1.ReasonRegistrationRejected
		reg.message = fmt.Sprintf("GitHub rejected the registration: %s", github.Message(err))
		reg.permanent = true
	default:
		// GitHub failed or was unreachable: retry with backoff.
		return attempt{runner: runner, registration: reg}, err
	}
	if cond := meta.FindStatusCondition(runner.Status.Conditions, octorunv1alpha1.RunnerConditionRegistered); cond == nil || cond.Reason != reg.reason {
		c.recorder.Event(runner, corev1.EventTypeWarning, EventRegistrationError, reg.message)
	}
	if reg.permanent {
		return attempt{runner: runner, registration: reg}, nil
	}
	klog.FromContext(ctx).V(2).Info("Registration failed; retrying later", "reason", reg.reason, "err", err)
	return attempt{runner: runner, registration: reg, requeue: c.opts.RetryPeriod}, nil
}

// handleNameTaken handles GitHub's 409 for the runner's name. A registration
// of that name that is offline and idle is an earlier attempt whose config
// was lost: it is removed and the registration retried. A name in use by a
// live runner belongs to someone else: the Runner fails, with a message
// saying how to fix it.
func (c *Controller) handleNameTaken(ctx context.Context, runner *octorunv1alpha1.Runner, scope github.Scope, name string) (attempt, error) {
	existing, err := c.github.FindRunnerByName(ctx, scope, name)
	if errors.Is(err, github.ErrNotFound) {
		return attempt{runner: runner, registration: registration{reason: octorunv1alpha1.ReasonRegistering, message: "Retrying the registration"}, requeue: time.Second}, nil
	}
	if err != nil {
		return c.registrationFailure(ctx, runner, err)
	}
	if existing.Status == "offline" && !existing.Busy {
		if err := c.github.DeleteRunner(ctx, scope, existing.ID); err != nil && !errors.Is(err, github.ErrNotFound) {
			// Failing to remove a leftover says nothing of the Runner's
			// registration: a 422 (GitHub still holding the leftover's
			// session) or a server error passes, so it is retried, never
			// taken for a rejection of the Runner.
			reg := registration{reason: octorunv1alpha1.ReasonRegistering,
				message: fmt.Sprintf("Removing GitHub runner %d, left by an earlier registration attempt, failed; retrying: %v", existing.ID, err)}
			if d, ok := github.RetryAfter(err); ok {
				return attempt{runner: runner, registration: reg, requeue: d}, nil
			}
			return attempt{runner: runner, registration: reg}, fmt.Errorf("removing GitHub runner %d left by an earlier registration attempt: %w", existing.ID, err)
		}
		c.recorder.Eventf(runner, corev1.EventTypeNormal, EventOrphanRemoved,
			"Removed runner %d (%s) from GitHub, left by an earlier registration attempt", existing.ID, name)
		return attempt{runner: runner, registration: registration{reason: octorunv1alpha1.ReasonRegistering, message: "Retrying the registration"}, requeue: time.Millisecond}, nil
	}
	reg := registration{
		reason: octorunv1alpha1.ReasonRunnerNameTaken,
		message: fmt.Sprintf("GitHub runner %q (id %d) of %s is %s and not Octorun's: another cluster or tool uses the name; give each cluster its own runner name prefix",
			name, existing.ID, scope, existing.Status),
		permanent: true,
	}
	c.recorder.Event(runner, corev1.EventTypeWarning, EventRegistrationError, reg.message)
	return attempt{runner: runner, registration: reg}, nil
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

// newSecret returns the Secret holding a Runner's JIT config.
func newSecret(runner *octorunv1alpha1.Runner, id int64, name, os, jitConfig string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:            runner.Name,
			Namespace:       runner.Namespace,
			Labels:          childLabels(runner),
			OwnerReferences: []metav1.OwnerReference{ownerRef(runner)},
			Annotations: map[string]string{
				annotationRunnerID:   strconv.FormatInt(id, 10),
				annotationRunnerName: name,
				annotationRunnerOS:   os,
			},
		},
		Type:      corev1.SecretTypeOpaque,
		Immutable: ptr.To(true),
		Data:      map[string][]byte{jitConfigKey: []byte(jitConfig)},
	}
}
