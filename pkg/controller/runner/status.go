package runner

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// registration is the outcome of the last registration attempt of a sync.
type registration struct {
	// reason and message explain a failure; empty when none happened.
	reason, message string
	// permanent failures end the Runner: its immutable spec cannot be
	// registered.
	permanent bool
}

// observation is what a sync saw of a Runner's world.
type observation struct {
	registration registration
	pod          *corev1.Pod // nil when there is none
	podConflict  string      // a message when the pod's or Secret's name is taken
	job          *octorunv1alpha1.JobAssignment
	// exitGrace is how long after its runner exited without a job seen a
	// Runner waits for GitHub's late word of one before GitHub is asked.
	exitGrace time.Duration
	// registrationGone is GitHub's answer about the registration of a
	// runner that exited 0 with no job seen: true when GitHub removed it;
	// nil when not asked.
	registrationGone *bool
}

// ending is how a Runner's runner process ended, as told by its pod and by
// what GitHub reported.
type ending struct {
	// reason and message say how, for the Exited condition; empty while
	// the runner runs, or while a late job report may still come.
	reason, message string
	// outdated: GitHub refused the runner's version (exit code 7).
	outdated bool
	// waitFor is how much longer to wait for a late job report; zero when
	// not waiting.
	waitFor time.Duration
	// askGitHub: the wait is over and only GitHub can tell whether the
	// registration is gone (observation.registrationGone).
	askGitHub bool
}

// endingOf says how the Runner's runner ended. Whether it ran a job is
// GitHub's knowledge, not the exit code's: the runner's run-helper.sh exits
// 0 after its job, and also when its registration is gone, on a session
// conflict and on unknown errors (actions/runner
// src/Misc/layoutroot/run-helper.sh.template). Only code 7, which Octorun
// has run-helper.sh pass through, says more: the version is deprecated.
func endingOf(obs observation, now time.Time) ending {
	pod := obs.pod
	if pod == nil || pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
		return ending{}
	}
	t := runnerTermination(pod)
	switch {
	case t != nil && t.ExitCode == octorunv1alpha1.ExitCodeVersionDeprecated:
		return ending{
			reason:   octorunv1alpha1.ReasonOutdated,
			outdated: true,
			message: fmt.Sprintf("GitHub refused the runner: the version of image %s is older than GitHub accepts (exit code %d). "+
				"Use a current ghcr.io/actions/actions-runner release in spec.image (in a RunnerSet, its template), or in Octorun's --default-runner-image for Runners that name none",
				runnerImage(pod), t.ExitCode),
		}
	case obs.job != nil && (pod.Status.Phase == corev1.PodSucceeded || obs.job.CompletedAt != nil):
		return ending{reason: octorunv1alpha1.ReasonJobCompleted, message: "The runner exited after its job"}
	case obs.job != nil:
		return ending{reason: octorunv1alpha1.ReasonPodTerminated, message: failedPodMessage(pod)}
	case pod.Status.Phase == corev1.PodFailed:
		return ending{reason: octorunv1alpha1.ReasonPodTerminated, message: failedPodMessage(pod)}
	}
	// Exit 0 and no job seen: a workflow_job delivery may be late.
	if ended := endedAt(pod); ended != nil {
		if left := obs.exitGrace - now.Sub(ended.Time); left > 0 {
			return ending{waitFor: left}
		}
	}
	switch {
	case obs.registrationGone == nil:
		return ending{askGitHub: true}
	case *obs.registrationGone:
		// GitHub removes an ephemeral runner after its one job (GitHub
		// docs, "Autoscaling with self-hosted runners"): without webhooks
		// this is all Octorun learns of a short job.
		return ending{
			reason: octorunv1alpha1.ReasonRegistrationRemoved,
			message: "The runner exited and GitHub has removed its registration, as it does after an ephemeral runner's job; " +
				"no workflow_job delivery named the job",
		}
	}
	return ending{
		reason: octorunv1alpha1.ReasonRunnerExited,
		message: "The runner exited without taking a job, and its registration is still on GitHub: another pod used its config, " +
			"or it could not connect; see the runner container's log",
	}
}

// registrationRemoved says whether the Runner's runner ended with GitHub
// having removed its registration, as a sync asked GitHub.
func registrationRemoved(runner *octorunv1alpha1.Runner) bool {
	c := meta.FindStatusCondition(runner.Status.Conditions, octorunv1alpha1.RunnerConditionExited)
	return c != nil && c.Reason == octorunv1alpha1.ReasonRegistrationRemoved
}

// endedAt is when the runner container exited; nil when not known.
func endedAt(pod *corev1.Pod) *metav1.Time {
	if t := runnerTermination(pod); t != nil && !t.FinishedAt.IsZero() {
		return &t.FinishedAt
	}
	return nil
}

func runnerImage(pod *corev1.Pod) string {
	for _, c := range pod.Spec.Containers {
		if c.Name == runnerContainer {
			return c.Image
		}
	}
	return ""
}

func failedPodMessage(pod *corev1.Pod) string {
	if pod.Status.Phase == corev1.PodSucceeded {
		return "The runner exited"
	}
	msg := "The runner pod failed"
	if pod.Status.Reason != "" {
		msg = fmt.Sprintf("The runner pod failed: %s", pod.Status.Reason)
		if pod.Status.Message != "" {
			msg += ": " + pod.Status.Message
		}
	} else if t := runnerTermination(pod); t != nil {
		msg = fmt.Sprintf("The runner exited with code %d (%s)", t.ExitCode, t.Reason)
	}
	return msg
}

// computeStatus derives a Runner's status from what the sync observed. It is
// pure: the same inputs give the same status. now stamps the conditions that
// change status.
func computeStatus(runner *octorunv1alpha1.Runner, obs observation, now metav1.Time) octorunv1alpha1.RunnerStatus {
	status := *runner.Status.DeepCopy()
	gen := runner.Generation
	set := func(condType string, s metav1.ConditionStatus, reason, message string) {
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type: condType, Status: s, Reason: reason, Message: message, ObservedGeneration: gen, LastTransitionTime: now,
		})
	}

	// Registered.
	switch {
	case runner.Spec.ID != 0:
		set(octorunv1alpha1.RunnerConditionRegistered, metav1.ConditionTrue, octorunv1alpha1.ReasonRegistered,
			fmt.Sprintf("Registered on GitHub as runner %d", runner.Spec.ID))
	case obs.registration.reason != "":
		set(octorunv1alpha1.RunnerConditionRegistered, metav1.ConditionFalse, obs.registration.reason, obs.registration.message)
	case !terminal(status.Phase):
		set(octorunv1alpha1.RunnerConditionRegistered, metav1.ConditionFalse, octorunv1alpha1.ReasonRegistering, "Registering the runner on GitHub")
	}

	// PodReady, Exited and RunnerOutdated.
	end := endingOf(obs, now.Time)
	podReason, podMessage := podState(obs)
	if end.waitFor > 0 || end.askGitHub {
		podMessage = fmt.Sprintf("The runner exited; waiting up to %s for GitHub to report a job it ran", obs.exitGrace.Round(time.Second))
	}
	podReady := metav1.ConditionFalse
	if podReason == octorunv1alpha1.ReasonPodRunning {
		podReady = metav1.ConditionTrue
	}
	set(octorunv1alpha1.RunnerConditionPodReady, podReady, podReason, podMessage)

	// JobAssigned.
	if obs.job != nil {
		msg := "GitHub assigned a job to the runner"
		if obs.job.JobID != 0 {
			msg = fmt.Sprintf("GitHub assigned job %d of workflow run %d to the runner", obs.job.JobID, obs.job.RunID)
		}
		set(octorunv1alpha1.RunnerConditionJobAssigned, metav1.ConditionTrue, octorunv1alpha1.ReasonJobAssigned, msg)
	} else if meta.FindStatusCondition(status.Conditions, octorunv1alpha1.RunnerConditionJobAssigned) == nil || !terminal(status.Phase) {
		set(octorunv1alpha1.RunnerConditionJobAssigned, metav1.ConditionFalse, octorunv1alpha1.ReasonNoJob, "No job has been assigned to the runner")
	}

	status.Phase = computePhase(runner, obs, end, podReason)
	if end.reason != "" && !terminal(runner.Status.Phase) {
		set(octorunv1alpha1.RunnerConditionExited, metav1.ConditionTrue, end.reason, end.message)
	}
	if end.outdated && !terminal(runner.Status.Phase) {
		set(octorunv1alpha1.RunnerConditionRunnerOutdated, metav1.ConditionTrue, octorunv1alpha1.ReasonOutdated, end.message)
	}
	return status
}

// computePhase: Pending → Idle → Active → Complete, or Failed. Complete and
// Failed are final: a runner runs one job only.
//
// Complete means GitHub showed the runner with a job (a workflow_job
// delivery, or the sync seeing it busy) and the runner ended: an exit code
// of 0 alone is no proof of a job. A runner that exits 0 with no job seen
// stays as it was for obs.exitGrace, for a late delivery, then is Failed.
func computePhase(runner *octorunv1alpha1.Runner, obs observation, end ending, podReason string) octorunv1alpha1.RunnerPhase {
	prev := runner.Status.Phase
	if terminal(prev) {
		return prev
	}
	switch {
	case obs.registration.permanent:
		return octorunv1alpha1.RunnerPhaseFailed
	case end.reason == octorunv1alpha1.ReasonJobCompleted, end.reason == octorunv1alpha1.ReasonRegistrationRemoved:
		return octorunv1alpha1.RunnerPhaseComplete
	case end.reason != "", podReason == octorunv1alpha1.ReasonImagePullFailed:
		return octorunv1alpha1.RunnerPhaseFailed
	case end.waitFor > 0, end.askGitHub:
		if prev == "" {
			return octorunv1alpha1.RunnerPhasePending
		}
		return prev
	case obs.pod == nil && (prev == octorunv1alpha1.RunnerPhaseIdle || prev == octorunv1alpha1.RunnerPhaseActive):
		// The runner's process is gone with its pod; its JIT config is
		// spent.
		return octorunv1alpha1.RunnerPhaseFailed
	case podReason == octorunv1alpha1.ReasonPodRunning && runner.Spec.ID != 0:
		if obs.job != nil {
			return octorunv1alpha1.RunnerPhaseActive
		}
		return octorunv1alpha1.RunnerPhaseIdle
	}
	return octorunv1alpha1.RunnerPhasePending
}

func terminal(phase octorunv1alpha1.RunnerPhase) bool {
	return phase == octorunv1alpha1.RunnerPhaseComplete || phase == octorunv1alpha1.RunnerPhaseFailed
}

// podState says how the runner's pod is, as a condition reason and message.
func podState(obs observation) (reason, message string) {
	pod := obs.pod
	switch {
	case obs.podConflict != "":
		return octorunv1alpha1.ReasonPodNameConflict, obs.podConflict
	case pod == nil:
		return octorunv1alpha1.ReasonPodMissing, "The runner pod does not exist"
	case pod.Status.Phase == corev1.PodSucceeded, pod.Status.Phase == corev1.PodFailed:
		return octorunv1alpha1.ReasonPodTerminated, failedPodMessage(pod)
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name != runnerContainer {
			continue
		}
		if cs.State.Running != nil {
			return octorunv1alpha1.ReasonPodRunning, "The runner is running"
		}
		if w := cs.State.Waiting; w != nil {
			switch w.Reason {
			case "InvalidImageName", "ErrImageNeverPull":
				return octorunv1alpha1.ReasonImagePullFailed, fmt.Sprintf("The runner image %s cannot be pulled: %s", cs.Image, w.Message)
			case "ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError", "CreateContainerError":
				return octorunv1alpha1.ReasonPodPending, fmt.Sprintf("The runner container is waiting: %s: %s", w.Reason, w.Message)
			}
		}
	}
	if pod.Spec.NodeName == "" {
		return octorunv1alpha1.ReasonPodPending, "The runner pod is waiting to be scheduled"
	}
	return octorunv1alpha1.ReasonPodPending, "The runner pod is starting"
}

func runnerTermination(pod *corev1.Pod) *corev1.ContainerStateTerminated {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == runnerContainer {
			return cs.State.Terminated
		}
	}
	return nil
}
