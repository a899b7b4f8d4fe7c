package runner

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

const (
	// Annotations that tell node autoscalers whether the pod may be evicted.
	annotationSafeToEvict  = octorunv1alpha1.AnnotationSafeToEvict
	annotationDoNotDisrupt = octorunv1alpha1.AnnotationDoNotDisrupt
)

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

// busyLabels returns the pod labels for a phase: the busy label, which the
// namespace's PodDisruptionBudget selects, while the runner holds a job.
func busyLabels(phase octorunv1alpha1.RunnerPhase) map[string]string {
	if phase == octorunv1alpha1.RunnerPhaseActive {
		return map[string]string{octorunv1alpha1.LabelBusy: "true"}
	}
	return nil
}

// evictionAnnotations returns the pod annotations for a phase: a runner
// holding a job must not be evicted by node autoscalers; any other may.
func evictionAnnotations(phase octorunv1alpha1.RunnerPhase) map[string]string {
	if phase == octorunv1alpha1.RunnerPhaseActive {
		return map[string]string{annotationSafeToEvict: "false", annotationDoNotDisrupt: "true"}
	}
	return map[string]string{annotationSafeToEvict: "true"}
}
