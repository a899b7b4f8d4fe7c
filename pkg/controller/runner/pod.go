package runner

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

const (
	// runnerContainer is the name of the runner's container in its pod.
	runnerContainer = "runner"
	// runnerCommand starts GitHub's runner in the official image.
	runnerCommand = "/home/runner/run.sh"
	// jitConfigEnv is the environment variable the runner reads for its
	// --jitconfig argument (actions/runner CommandSettings).
	jitConfigEnv = "ACTIONS_RUNNER_INPUT_JITCONFIG"
	// jitConfigKey is the key of the JIT config in the runner's Secret.
	jitConfigKey = "jitconfig"
	// runnerUID is the uid of the "runner" user of the official image, and
	// the gid of its group.
	runnerUID = 1001
)

// createdPodTTL bounds how long a created pod stands in for the informer's
// copy: far longer than a watch event takes to arrive, short enough that a
// pod deleted unseen is missed only briefly.
const createdPodTTL = 30 * time.Second

// EventFailedCreatePod is the reason of the Warning Event on a Runner whose
// pod the API server refused.
const EventFailedCreatePod = "FailedCreate"

// ownerRef returns the controller reference that makes the Runner own obj.
func ownerRef(runner *octorunv1alpha1.Runner) metav1.OwnerReference {
	return *metav1.NewControllerRef(runner, octorunv1alpha1.SchemeGroupVersion.WithKind("Runner"))
}

// childLabels are the labels of the objects made for a Runner: the runner
// label that the informers select on, and the RunnerSet's if any.
func childLabels(runner *octorunv1alpha1.Runner) map[string]string {
	labels := map[string]string{octorunv1alpha1.LabelRunner: runner.Name}
	if set, ok := runner.Labels[octorunv1alpha1.LabelRunnerSet]; ok {
		labels[octorunv1alpha1.LabelRunnerSet] = set
	}
	return labels
}

// runnerPod is the Runner's pod as ensurePod found or made it.
type runnerPod struct {
	pod *corev1.Pod // nil when there is none
	// conflict tells of a pod of the Runner's name owned by something else;
	// empty when there is none.
	conflict string
}

// ensurePod returns the Runner's pod, creating it for a registered Runner
// that has none and never had one running.
func (c *Controller) ensurePod(ctx context.Context, runner *octorunv1alpha1.Runner) (runnerPod, error) {
	pod, err := c.podLister.Pods(runner.Namespace).Get(runner.Name)
	switch {
	case err == nil && !metav1.IsControlledBy(pod, runner):
		return runnerPod{conflict: fmt.Sprintf("Pod %s exists and does not belong to the Runner; delete or rename it", runner.Name)}, nil
	case err == nil:
		return runnerPod{pod: pod}, nil
	case !apierrors.IsNotFound(err):
		return runnerPod{}, err
	}
	key := cache.MetaObjectToName(runner).String()
	if created, ok := c.createdPods.Get(key); ok && metav1.IsControlledBy(created.(*corev1.Pod), runner) {
		// Created by an earlier sync; the informer has yet to deliver it.
		return runnerPod{pod: created.(*corev1.Pod)}, nil
	}
	switch runner.Status.Phase {
	case octorunv1alpha1.RunnerPhaseIdle, octorunv1alpha1.RunnerPhaseActive, octorunv1alpha1.RunnerPhaseComplete, octorunv1alpha1.RunnerPhaseFailed:
		// Its pod ran and went: a JIT config runs once.
		return runnerPod{}, nil
	}
	pod, err = c.kubeClient.CoreV1().Pods(runner.Namespace).Create(ctx, newPod(runner, c.opts.DefaultImage), metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		// Created by an earlier sync the cache has not seen yet.
		pod, err = c.kubeClient.CoreV1().Pods(runner.Namespace).Get(ctx, runner.Name, metav1.GetOptions{})
		if err == nil && !metav1.IsControlledBy(pod, runner) {
			return runnerPod{conflict: fmt.Sprintf("Pod %s exists and does not belong to the Runner; delete or rename it", runner.Name)}, nil
		}
	case err != nil && !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		// A refusal (Pod Security admission, a quota, a webhook) is the
		// user's to fix, and the API server's message says how.
		c.recorder.Eventf(runner, corev1.EventTypeWarning, EventFailedCreatePod, "Error creating pod: %v", err)
	}
	if err != nil {
		return runnerPod{}, fmt.Errorf("creating pod %s: %w", runner.Name, err)
	}
	if _, err := c.podLister.Pods(pod.Namespace).Get(pod.Name); apierrors.IsNotFound(err) {
		c.createdPods.Set(key, pod, createdPodTTL)
	}
	klog.FromContext(ctx).V(2).Info("Created the runner pod", "pod", klog.KObj(pod))
	return runnerPod{pod: pod}, nil
}

// newPod returns the pod of a registered Runner. Every field of the spec
// reaches it; the JIT config comes from the Runner's Secret.
func newPod(runner *octorunv1alpha1.Runner, defaultImage string) *corev1.Pod {
	spec := runner.Spec
	image := spec.Image.Name
	if image == "" {
		image = defaultImage
	}
	pullPolicy := spec.Image.PullPolicy
	if pullPolicy == "" {
		pullPolicy = octorunv1alpha1.DefaultImagePullPolicy
	}
	// The Runner's security context replaces the container's default whole:
	// no default field is merged in, so what a user writes is what runs. The
	// pod's seccomp profile stays; a seccompProfile in the Runner's security
	// context takes precedence over it for the container.
	securityContext := spec.SecurityContext.DeepCopy()
	if securityContext == nil {
		securityContext = defaultSecurityContext()
	}
	env := []corev1.EnvVar{{
		Name: jitConfigEnv,
		ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: runner.Name},
			Key:                  jitConfigKey,
		}},
	}, {
		// Exit 7, not 0, when GitHub refuses the version.
		Name: octorunv1alpha1.EnvReturnVersionDeprecatedExitCode, Value: "1",
	}}
	annotations := copyMap(spec.PodAnnotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	for k, v := range evictionAnnotations(octorunv1alpha1.RunnerPhasePending) {
		annotations[k] = v
	}
	runnerC := corev1.Container{
		Name:            runnerContainer,
		Image:           image,
		ImagePullPolicy: pullPolicy,
		Command:         []string{runnerCommand},
		Env:             env,
		EnvFrom:         append([]corev1.EnvFromSource(nil), spec.EnvFrom...),
		Resources:       *spec.Resources.DeepCopy(),
		VolumeMounts:    append([]corev1.VolumeMount(nil), spec.VolumeMounts...),
		SecurityContext: securityContext,
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            runner.Name,
			Namespace:       runner.Namespace,
			Labels:          childLabels(runner),
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{ownerRef(runner)},
		},
		Spec: corev1.PodSpec{
			SecurityContext:    podSecurityContext(),
			RestartPolicy:      corev1.RestartPolicyNever,
			ServiceAccountName: spec.ServiceAccountName,
			// A runner needs no Kubernetes API access unless it is given a
			// service account for it.
			AutomountServiceAccountToken:  ptr.To(spec.ServiceAccountName != ""),
			ImagePullSecrets:              append([]corev1.LocalObjectReference(nil), spec.Image.PullSecrets...),
			NodeSelector:                  copyMap(spec.Placement.NodeSelector),
			Tolerations:                   append([]corev1.Toleration(nil), spec.Placement.Tolerations...),
			Affinity:                      spec.Placement.Affinity.DeepCopy(),
			RuntimeClassName:              spec.RuntimeClassName,
			PriorityClassName:             spec.PriorityClassName,
			TerminationGracePeriodSeconds: spec.TerminationGracePeriodSeconds,
			TopologySpreadConstraints:     deepCopyAll(spec.TopologySpreadConstraints),
			DNSConfig:                     spec.DNSConfig.DeepCopy(),
			Volumes:                       deepCopyVolumes(spec.Volumes),
		},
	}
	// The container mode adds its sidecars, volumes, mounts and variables,
	// then the Runner's own containers and variables come after.
	applyContainerMode(pod, &runnerC, runner)
	runnerC.Env = append(runnerC.Env, deepCopyAll(spec.Env)...)
	pod.Spec.InitContainers = append(pod.Spec.InitContainers, deepCopyAll(spec.InitContainers)...)
	pod.Spec.Containers = append([]corev1.Container{runnerC}, deepCopyAll(spec.Containers)...)
	return pod
}

// defaultSecurityContext is the runner container's security context when
// the Runner sets none: the official image's runner user, never root; the
// pod meets the Pod Security Standards' baseline level with it. It leaves
// privilege escalation and the runtime's default capabilities alone, as
// actions-runner-controller does: the official image gives its runner user
// password-less sudo, which jobs use, and sudo needs both. The restricted
// level forbids both; docs/operations.md has the security context that
// meets it.
func defaultSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot: ptr.To(true),
		RunAsUser:    ptr.To[int64](runnerUID),
		RunAsGroup:   ptr.To[int64](runnerUID),
	}
}

// podSecurityContext is the runner pod's security context: the container
// runtime's default seccomp profile instead of none (the kubelet's default
// without --seccomp-default is Unconfined). The baseline level allows it, the
// restricted level requires it, and the official image runs under it.
func podSecurityContext() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// deepCopyAll deep-copies a list of API objects; nil stays nil.
func deepCopyAll[T any, P interface {
	*T
	DeepCopyInto(*T)
}](in []T) []T {
	if in == nil {
		return nil
	}
	out := make([]T, len(in))
	for i := range in {
		P(&in[i]).DeepCopyInto(&out[i])
	}
	return out
}

func deepCopyVolumes(volumes []corev1.Volume) []corev1.Volume {
	if volumes == nil {
		return nil
	}
	out := make([]corev1.Volume, len(volumes))
	for i := range volumes {
		volumes[i].DeepCopyInto(&out[i])
	}
	return out
}
