package runner

import (
	"context"
	"fmt"
	"path"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// The pod of each container mode follows actions-runner-controller's
// gha-runner-scale-set chart (templates/_helpers.tpl), which GitHub
// maintains for the same runner image.
const (
	// runnerHome is the runner user's home in the official image.
	runnerHome = "/home/runner"
	// dockerSocketDir holds the Docker daemon's socket.
	dockerSocketDir = "/var/run"
	// dockerGroupID is the official image's docker group, which the runner
	// user is in (actions/runner images/Dockerfile): the daemon gives the
	// socket to it.
	dockerGroupID = "123"
	// waitForDockerSeconds is how long run-helper.sh waits for the daemon.
	waitForDockerSeconds = "120"
	// defaultWorkVolumeSize is Kubernetes mode's work volume when the Runner
	// names no size.
	defaultWorkVolumeSize = "1Gi"
)

// workDir is the runner's work directory: spec.workdir, relative to the
// runner's home unless absolute.
func workDir(spec *octorunv1alpha1.RunnerSpec) string {
	dir := spec.Workdir
	if dir == "" {
		dir = octorunv1alpha1.DefaultWorkdir
	}
	if path.IsAbs(dir) {
		return dir
	}
	return path.Join(runnerHome, dir)
}

// applyContainerMode adds to the pod and its runner container what the
// Runner's container mode needs.
func applyContainerMode(pod *corev1.Pod, runnerC *corev1.Container, runner *octorunv1alpha1.Runner) {
	mode := runner.Spec.ContainerMode
	if mode == nil {
		return
	}
	switch mode.Type {
	case octorunv1alpha1.ContainerModeDinD:
		applyDinD(pod, runnerC, runner)
	case octorunv1alpha1.ContainerModeKubernetes:
		applyKubernetesMode(pod, runnerC, runner)
	}
}

// applyDinD runs a Docker daemon as a native sidecar (an init container
// with restartPolicy Always: it starts before the runner, which waits for
// its startup probe, and is stopped when the runner ends, so the pod ends
// with it). The daemon is privileged: DinD mode cannot meet the Pod
// Security Standards' baseline level.
func applyDinD(pod *corev1.Pod, runnerC *corev1.Container, runner *octorunv1alpha1.Runner) {
	dind := runner.Spec.ContainerMode.DinD
	image := octorunv1alpha1.DefaultDinDImage
	var resources corev1.ResourceRequirements
	if dind != nil {
		if dind.Image != "" {
			image = dind.Image
		}
		dind.Resources.DeepCopyInto(&resources)
	}
	work := workDir(&runner.Spec)
	externals := path.Join(runnerHome, "externals")
	addWorkVolume(pod, corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}})
	pod.Spec.Volumes = append(pod.Spec.Volumes,
		corev1.Volume{Name: octorunv1alpha1.DinDSocketVolumeName, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: octorunv1alpha1.DinDExternalsVolumeName, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	)
	pod.Spec.InitContainers = append(pod.Spec.InitContainers,
		corev1.Container{
			// The daemon's containers run the runner's externals (node for
			// JavaScript actions) from the path the runner gives them.
			Name:            octorunv1alpha1.DinDExternalsContainerName,
			Image:           runnerC.Image,
			ImagePullPolicy: runnerC.ImagePullPolicy,
			Command:         []string{"cp"},
			Args:            []string{"-r", externals + "/.", "/home/runner/tmpDir/"},
			VolumeMounts:    []corev1.VolumeMount{{Name: octorunv1alpha1.DinDExternalsVolumeName, MountPath: "/home/runner/tmpDir"}},
			SecurityContext: runnerC.SecurityContext.DeepCopy(),
		},
		corev1.Container{
			Name:          octorunv1alpha1.DinDContainerName,
			Image:         image,
			RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
			Args:          []string{"dockerd", "--host=unix://" + dockerSocketDir + "/docker.sock", "--group=$(DOCKER_GROUP_GID)"},
			Env:           []corev1.EnvVar{{Name: "DOCKER_GROUP_GID", Value: dockerGroupID}},
			SecurityContext: &corev1.SecurityContext{
				Privileged: ptr.To(true),
			},
			StartupProbe: &corev1.Probe{
				ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"docker", "info"}}},
				PeriodSeconds:    5,
				FailureThreshold: 24,
			},
			Resources: resources,
			VolumeMounts: []corev1.VolumeMount{
				{Name: octorunv1alpha1.WorkVolumeName, MountPath: work},
				{Name: octorunv1alpha1.DinDSocketVolumeName, MountPath: dockerSocketDir},
				{Name: octorunv1alpha1.DinDExternalsVolumeName, MountPath: externals},
			},
		},
	)
	runnerC.Env = append(runnerC.Env,
		corev1.EnvVar{Name: octorunv1alpha1.EnvDockerHost, Value: "unix://" + dockerSocketDir + "/docker.sock"},
		corev1.EnvVar{Name: octorunv1alpha1.EnvWaitForDocker, Value: waitForDockerSeconds},
	)
	mountWork(runnerC, work)
	runnerC.VolumeMounts = append(runnerC.VolumeMounts,
		corev1.VolumeMount{Name: octorunv1alpha1.DinDSocketVolumeName, MountPath: dockerSocketDir})
}

// applyKubernetesMode has the runner's container hooks run the job's
// containers as pods of their own, with the Runner's ServiceAccount, on a
// work volume they share with the runner: a generic ephemeral volume, made
// with the pod and removed with it, whose claim the hooks find by its name
// ("<pod>-work").
func applyKubernetesMode(pod *corev1.Pod, runnerC *corev1.Container, runner *octorunv1alpha1.Runner) {
	km := runner.Spec.ContainerMode.Kubernetes
	size := resource.MustParse(defaultWorkVolumeSize)
	var class *string
	require := true
	if km != nil {
		if km.WorkVolumeSize != nil {
			size = km.WorkVolumeSize.DeepCopy()
		}
		if km.WorkVolumeStorageClassName != nil && *km.WorkVolumeStorageClassName != "" {
			class = ptr.To(*km.WorkVolumeStorageClassName)
		}
		if km.RequireJobContainer != nil {
			require = *km.RequireJobContainer
		}
	}
	addWorkVolume(pod, corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
		VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: class,
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
			},
		},
	}})
	runnerC.Env = append(runnerC.Env,
		corev1.EnvVar{Name: octorunv1alpha1.EnvContainerHooks, Value: octorunv1alpha1.ContainerHooksScript},
		corev1.EnvVar{Name: octorunv1alpha1.EnvRequireJobContainer, Value: strconv.FormatBool(require)},
		corev1.EnvVar{Name: octorunv1alpha1.EnvRunnerPodName, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		corev1.EnvVar{Name: octorunv1alpha1.EnvHooksNamespace, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
	)
	mountWork(runnerC, workDir(&runner.Spec))
}

// mountWork mounts the work volume at the work directory in the runner
// container, unless the Runner mounts it itself.
func mountWork(runnerC *corev1.Container, dir string) {
	for _, m := range runnerC.VolumeMounts {
		if m.Name == octorunv1alpha1.WorkVolumeName {
			return
		}
	}
	runnerC.VolumeMounts = append(runnerC.VolumeMounts, corev1.VolumeMount{Name: octorunv1alpha1.WorkVolumeName, MountPath: dir})
}

// addWorkVolume adds the work volume, unless the Runner brings its own.
func addWorkVolume(pod *corev1.Pod, source corev1.VolumeSource) {
	for _, v := range pod.Spec.Volumes {
		if v.Name == octorunv1alpha1.WorkVolumeName {
			return
		}
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: octorunv1alpha1.WorkVolumeName, VolumeSource: source})
}

// deleteHookPods deletes the job pods the container hooks of a Runner in
// Kubernetes mode left: the hooks remove them when a job ends, but not when
// the runner is killed first, and they set no owner reference on them for
// the garbage collector (actions/runner-container-hooks, packages/k8s).
// They carry the label runner-pod, valued with the runner pod's name.
func (c *Controller) deleteHookPods(ctx context.Context, runner *octorunv1alpha1.Runner) error {
	if runner.Spec.ContainerMode == nil || runner.Spec.ContainerMode.Type != octorunv1alpha1.ContainerModeKubernetes {
		return nil
	}
	pods := c.kubeClient.CoreV1().Pods(runner.Namespace)
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: labels.Set{octorunv1alpha1.HookPodLabel: runner.Name}.String()})
	if err != nil {
		return fmt.Errorf("listing the job pods of the runner's container hooks: %w", err)
	}
	for i := range list.Items {
		p := &list.Items[i]
		err := pods.Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
		switch {
		case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
			// Gone already, or another pod of that name now.
		case err != nil:
			return fmt.Errorf("deleting job pod %s of the runner's container hooks: %w", p.Name, err)
		default:
			klog.FromContext(ctx).V(2).Info("Deleted a job pod the runner's container hooks left", "pod", klog.KObj(p))
		}
	}
	return nil
}
