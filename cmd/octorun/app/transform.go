package app

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TrimPod is the pod informer's transform: of a pod it keeps only what the
// Runner controller reads, and of any other object all but managedFields
// (StripManagedFields). A runner pod's spec, which repeats its Runner's
// (containers, environment, volumes, placement), and most of its status are
// the better part of its memory in the cache, and nothing reads them.
//
// The pod keeps:
//   - its identity, creation and deletion timestamps, labels, annotations
//     and owner references, which the controller's ownership checks, event
//     handlers, UID-preconditioned deletes, disruption patches and the
//     wait for a new pod to start use; the labels and annotations whole, so
//     a patch computed from them never misses a key;
//   - spec.nodeName (scheduled or not) and each container's name and image
//     (the image an outdated runner ran);
//   - status.phase, reason and message, and each container status's name,
//     image and state, without the terminated state's message and
//     container ID.
//
// A trimmed pod is never written back: Octorun writes pods by create,
// merge patches of the keys it owns, and delete, never by an update of a
// cached object, which would drop what the trim dropped. The trim is
// idempotent, as client-go asks of a transform.
func TrimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return StripManagedFields(obj)
	}
	return trimPod(pod), nil
}

func trimPod(pod *corev1.Pod) *corev1.Pod {
	out := &corev1.Pod{
		TypeMeta: pod.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:              pod.Name,
			Namespace:         pod.Namespace,
			UID:               pod.UID,
			ResourceVersion:   pod.ResourceVersion,
			CreationTimestamp: pod.CreationTimestamp,
			Labels:            pod.Labels,
			Annotations:       pod.Annotations,
			OwnerReferences:   pod.OwnerReferences,
			DeletionTimestamp: pod.DeletionTimestamp,
		},
		Spec: corev1.PodSpec{NodeName: pod.Spec.NodeName},
		Status: corev1.PodStatus{
			Phase:   pod.Status.Phase,
			Reason:  pod.Status.Reason,
			Message: pod.Status.Message,
		},
	}
	if n := len(pod.Spec.Containers); n > 0 {
		out.Spec.Containers = make([]corev1.Container, n)
		for i, c := range pod.Spec.Containers {
			out.Spec.Containers[i] = corev1.Container{Name: c.Name, Image: c.Image}
		}
	}
	if n := len(pod.Status.ContainerStatuses); n > 0 {
		out.Status.ContainerStatuses = make([]corev1.ContainerStatus, n)
		for i, cs := range pod.Status.ContainerStatuses {
			out.Status.ContainerStatuses[i] = corev1.ContainerStatus{Name: cs.Name, Image: cs.Image, State: trimState(cs.State)}
		}
	}
	return out
}

// trimState keeps of a container state what tells how the container runs
// or ended.
func trimState(s corev1.ContainerState) corev1.ContainerState {
	if t := s.Terminated; t != nil {
		s.Terminated = &corev1.ContainerStateTerminated{
			ExitCode: t.ExitCode, Signal: t.Signal, Reason: t.Reason, StartedAt: t.StartedAt, FinishedAt: t.FinishedAt,
		}
	}
	return s
}
