package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/github"
)

// Event reasons. A Runner's ordinary life makes one Event, RunnerCompleted
// (its registration, start and job are in its conditions): an Event is an
// API write, and a busy cluster makes thousands of Runners a day. Every
// trouble makes a Warning.
const (
	EventRegistrationError    = "RegistrationFailed"
	EventOrphanRemoved        = "OrphanRegistrationRemoved"
	EventCompleted            = "RunnerCompleted"
	EventFailed               = "RunnerFailed"
	EventOutdated             = "RunnerOutdated"
	EventDeletionDelayed      = "DeletionDelayed"
	EventDeregistrationFailed = "DeregistrationFailed"
	EventRegistrationNotOwned = "RegistrationNotOwned"
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

	obs := observation{job: job, exitGrace: c.exitGrace(runner)}
	var requeue time.Duration
	var manageErr error
	if runner.Spec.ID == 0 && !terminal(runner.Status.Phase) {
		var a attempt
		a, manageErr = c.register(ctx, runner, scope, scopeErr)
		runner, obs.registration, requeue = a.runner, a.registration, a.requeue
	}
	if runner.Spec.ID != 0 && manageErr == nil {
		var p runnerPod
		p, manageErr = c.ensurePod(ctx, runner)
		obs.pod, obs.podConflict = p.pod, p.conflict
	}

	now := c.now()
	end := endingOf(obs, now)
	if end.askGitHub && manageErr == nil {
		var d time.Duration
		obs.registrationGone, d, manageErr = c.registrationGone(ctx, runner, scope)
		end.waitFor = d
	}
	status := computeStatus(runner, obs, metav1.NewTime(now))
	if end.waitFor > 0 && (requeue == 0 || end.waitFor < requeue) {
		requeue = end.waitFor
	}
	if obs.pod != nil && obs.podConflict == "" {
		if err := c.syncPodDisruption(ctx, obs.pod, status.Phase); err != nil && manageErr == nil {
			manageErr = err
		}
	}
	if wait, fold := foldPending(runner, status, obs, now); fold && manageErr == nil {
		klog.FromContext(ctx).V(4).Info("Leaving Pending unwritten while the new pod starts", "wait", wait)
		if requeue == 0 || wait < requeue {
			requeue = wait
		}
		return requeue, nil
	}
	if _, err := c.updateStatus(ctx, runner, status); err != nil {
		return 0, errors.Join(manageErr, err)
	}
	return requeue, manageErr
}

// pendingFold is how long the first status of a Runner, Pending while its
// new pod starts, goes unwritten: a pod that runs within it makes the
// Runner's first status Idle, one status write instead of two.
const pendingFold = 10 * time.Second

// foldPending says whether the status, Pending, of a Runner that has none
// yet is left unwritten because its pod was just made and starts with no
// trouble; and how long until it is written anyway.
func foldPending(runner *octorunv1alpha1.Runner, status octorunv1alpha1.RunnerStatus, obs observation, now time.Time) (time.Duration, bool) {
	if status.Phase != octorunv1alpha1.RunnerPhasePending || runner.Status.Phase != "" || len(runner.Status.Conditions) != 0 ||
		obs.pod == nil || obs.podConflict != "" || obs.registration.reason != "" {
		return 0, false
	}
	if cond := meta.FindStatusCondition(status.Conditions, octorunv1alpha1.RunnerConditionPodReady); cond == nil || cond.Reason != octorunv1alpha1.ReasonPodPending {
		return 0, false // something to tell: an image that does not pull, say
	}
	created := obs.pod.CreationTimestamp.Time
	if created.IsZero() {
		created = now // made by this sync, as the fake clientset returns it
	}
	left := pendingFold - now.Sub(created)
	return left, left > 0
}

// registrationGone asks GitHub whether the registration of a Runner whose
// runner exited with no job seen is still there. It returns nil and when to
// ask again when GitHub's rate limits say wait.
func (c *Controller) registrationGone(ctx context.Context, runner *octorunv1alpha1.Runner, scope github.Scope) (*bool, time.Duration, error) {
	if answer, ok := c.asked.Get(runner.UID); ok {
		// A sync whose status write did not land asked already.
		gone := answer.(bool)
		return &gone, 0, nil
	}
	_, err := c.github.GetRunner(ctx, scope, runner.Spec.ID)
	gone := errors.Is(err, github.ErrNotFound)
	switch d, limited := github.RetryAfter(err); {
	case limited:
		return nil, d, nil
	case err != nil && !gone:
		return nil, 0, fmt.Errorf("asking GitHub for runner %d, which exited without a job seen: %w", runner.Spec.ID, err)
	}
	c.asked.Set(runner.UID, gone, uidMemoryTTL)
	klog.FromContext(ctx).V(2).Info("The runner exited without a job seen; asked GitHub", "id", runner.Spec.ID, "registrationGone", gone)
	return &gone, 0, nil
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
