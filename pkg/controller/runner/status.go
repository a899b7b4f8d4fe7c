package runner

import (
	"fmt"

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

	// PodReady.
	podReason, podMessage := podState(obs)
	podReady := metav1.ConditionFalse
	if podReason == octorunv1alpha1.ReasonPodRunning {
		podReady = metav1.ConditionTrue
	}
	set(octorunv1alpha1.RunnerConditionPodReady, podReady, podReason, podMessage)

	// JobAssigned.
	if obs.job != nil {
		msg := "GitHub assigned a job to the runner"
		if obs.job.JobID != 0 {
			msg = fmt.Sprintf("Running job %d of workflow run %d", obs.job.JobID, obs.job.RunID)
		}
		set(octorunv1alpha1.RunnerConditionJobAssigned, metav1.ConditionTrue, octorunv1alpha1.ReasonJobAssigned, msg)
	} else if meta.FindStatusCondition(status.Conditions, octorunv1alpha1.RunnerConditionJobAssigned) == nil || !terminal(status.Phase) {
		set(octorunv1alpha1.RunnerConditionJobAssigned, metav1.ConditionFalse, octorunv1alpha1.ReasonNoJob, "No job has been assigned to the runner")
	}

	status.Phase = computePhase(runner, obs, podReason)
	return status
}

// computePhase: Pending → Idle → Active → Complete, or Failed. Complete and
// Failed are final: a runner runs one job only.
func computePhase(runner *octorunv1alpha1.Runner, obs observation, podReason string) octorunv1alpha1.RunnerPhase {
	prev := runner.Status.Phase
	if terminal(prev) {
		return prev
	}
	pod := obs.pod
	switch {
	case obs.registration.permanent:
		return octorunv1alpha1.RunnerPhaseFailed
	case pod != nil && pod.Status.Phase == corev1.PodSucceeded:
		return octorunv1alpha1.RunnerPhaseComplete
	case pod != nil && pod.Status.Phase == corev1.PodFailed,
		podReason == octorunv1alpha1.ReasonImagePullFailed:
		return octorunv1alpha1.RunnerPhaseFailed
	case pod == nil && (prev == octorunv1alpha1.RunnerPhaseIdle || prev == octorunv1alpha1.RunnerPhaseActive):
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
	case pod.Status.Phase == corev1.PodSucceeded:
		return octorunv1alpha1.ReasonPodTerminated, "The runner exited after its job"
	case pod.Status.Phase == corev1.PodFailed:
		msg := "The runner pod failed"
		if pod.Status.Reason != "" {
			msg = fmt.Sprintf("The runner pod failed: %s", pod.Status.Reason)
			if pod.Status.Message != "" {
				msg += ": " + pod.Status.Message
			}
		} else if t := runnerTermination(pod); t != nil {
			msg = fmt.Sprintf("The runner exited with code %d (%s)", t.ExitCode, t.Reason)
		}
		return octorunv1alpha1.ReasonPodTerminated, msg
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
