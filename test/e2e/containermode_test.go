package e2e

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/framework/provisioner"
	"github.com/octorun/octorun/test/githubsim"
)

// The end-to-end proofs of the container modes: the pods Octorun builds for
// them are what the API server, the scheduler, the controller-manager and
// Pod Security admission take, and what they need is cleaned up with them.

// createRunnerWithSpec creates Runner name of spec, for the organization
// octo unless spec names a URL.
func (e *runnerEnv) createRunnerWithSpec(t *testing.T, name string, spec octorunv1alpha1.RunnerSpec) {
	t.Helper()
	if spec.URL == "" {
		spec.URL = "https://github.com/octo"
	}
	_, err := e.client.OctorunV1alpha1().Runners(e.ns).Create(context.Background(), &octorunv1alpha1.Runner{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{octorunv1alpha1.LabelRunner: name}},
		Spec:       spec,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Creating Runner %s: %v", name, err)
	}
}

// findContainer returns the container called name, or nil.
func findContainer(containers []corev1.Container, name string) *corev1.Container {
	for i := range containers {
		if containers[i].Name == name {
			return &containers[i]
		}
	}
	return nil
}

// envValue is the value of variable name in container c's environment;
// c may be nil.
func envValue(c *corev1.Container, name string) (string, bool) {
	if c == nil {
		return "", false
	}
	for _, env := range c.Env {
		if env.Name == name {
			return env.Value, true
		}
	}
	return "", false
}

// TestContainerModeDinD: a Runner in DinD mode gets its Docker daemon as a
// privileged native sidecar, which the API server takes; its pod, played by
// kwok as a kubelet runs a sidecar, runs, the Runner goes Idle, runs a job
// and ends Complete. A namespace enforcing Pod Security's baseline level
// refuses the daemon, and the Runner shows why.
func TestContainerModeDinD(t *testing.T) {
	e := startRunnerEnv(t)
	baseline := startRunnerEnv(t)
	enforcePodSecurity(t, baseline.ns, "baseline")
	dind := octorunv1alpha1.RunnerSpec{ContainerMode: &octorunv1alpha1.ContainerMode{Type: octorunv1alpha1.ContainerModeDinD}}
	e.createRunnerWithSpec(t, "dind", dind)
	baseline.createRunnerWithSpec(t, "dind", dind)

	r := e.waitForPhase(t, "dind", octorunv1alpha1.RunnerPhaseIdle)
	pod, err := Client.CoreV1().Pods(e.ns).Get(context.Background(), "dind", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	daemon := findContainer(pod.Spec.InitContainers, octorunv1alpha1.DinDContainerName)
	switch {
	case daemon == nil:
		t.Fatalf("The runner pod's init containers = %v, want a %q sidecar", pod.Spec.InitContainers, octorunv1alpha1.DinDContainerName)
	case ptr.Deref(daemon.RestartPolicy, "") != corev1.ContainerRestartPolicyAlways:
		t.Errorf("The daemon's restartPolicy = %v, want Always: a native sidecar", ptr.Deref(daemon.RestartPolicy, ""))
	case daemon.SecurityContext == nil || !ptr.Deref(daemon.SecurityContext.Privileged, false):
		t.Errorf("The daemon's security context = %+v, want privileged", daemon.SecurityContext)
	case daemon.StartupProbe == nil:
		t.Errorf("The daemon has no startup probe: the runner would start before it")
	}
	if findContainer(pod.Spec.InitContainers, octorunv1alpha1.DinDExternalsContainerName) == nil {
		t.Errorf("The runner pod's init containers = %v, want %q", pod.Spec.InitContainers, octorunv1alpha1.DinDExternalsContainerName)
	}
	runnerC := findContainer(pod.Spec.Containers, octorunv1alpha1.RunnerContainerName)
	if host, _ := envValue(runnerC, octorunv1alpha1.EnvDockerHost); host != "unix:///var/run/docker.sock" {
		t.Errorf("The runner's DOCKER_HOST = %q, want the daemon's socket", host)
	}
	// kwok starts a sidecar as the kubelet does: what follows is played
	// with the daemon up.
	var started bool
	for _, cs := range pod.Status.InitContainerStatuses {
		if cs.Name == octorunv1alpha1.DinDContainerName {
			started = ptr.Deref(cs.Started, false) && cs.State.Running != nil
		}
	}
	if !started {
		t.Errorf("The daemon's status = %+v, want it started and running beside the runner", pod.Status.InitContainerStatuses)
	}

	job := e.sim.QueueJob(githubsim.JobRequest{Owner: "octo", Repo: "hello"})
	Eventually(t, "the job to start on the DinD runner", func(context.Context) (bool, error) {
		j, _ := e.sim.Job(job.ID)
		return j.RunnerID == r.Spec.ID, nil
	})
	if err := e.sim.CompleteJob(job.ID); err != nil {
		t.Fatal(err)
	}
	e.waitForPhase(t, "dind", octorunv1alpha1.RunnerPhaseComplete)
	WaitForPod(t, e.ns, "dind", "to succeed", PodPhaseIs(corev1.PodSucceeded))

	var events []string
	Eventually(t, "a FailedCreate Event on the DinD Runner in the baseline namespace", func(ctx context.Context) (bool, error) {
		var err error
		events, err = baseline.failedCreateEvents(ctx, "dind")
		return len(events) > 0, err
	})
	for _, w := range []string{`violates PodSecurity "baseline:latest"`, `privileged (container "dind"`} {
		if !strings.HasPrefix(events[0], "Warning Error creating pod: ") || !strings.Contains(events[0], w) {
			t.Errorf("FailedCreate Event = %q, want a Warning with %q", events[0], w)
		}
	}
	if _, err := Client.CoreV1().Pods(baseline.ns).Get(context.Background(), "dind", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Getting the DinD pod in the baseline namespace: %v, want NotFound", err)
	}
}

// startProvisioner makes StorageClass class, provisioned until the test
// ends, and says whether it is the cluster's default: it is unless the
// cluster has a default already. Started before the test's env, it stops
// after the env's cleanup has released the test's Runners.
func startProvisioner(t *testing.T, class string) (isDefault bool) {
	t.Helper()
	ctx := context.Background()
	classes, err := Client.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	isDefault = true
	for _, c := range classes.Items {
		if c.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
			isDefault = false
		}
	}
	if err := provisioner.EnsureStorageClass(ctx, Client, class, isDefault); err != nil {
		t.Fatal(err)
	}
	_, pctx := ktesting.NewTestContext(t)
	pctx, cancel := context.WithCancel(pctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		provisioner.Run(pctx, Client, class)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if err := Client.StorageV1().StorageClasses().Delete(context.Background(), class, metav1.DeleteOptions{}); err != nil {
			t.Errorf("Deleting StorageClass %s: %v", class, err)
		}
	})
	return isDefault
}

// hookPod is a job pod as the container hooks of runner pod runnerPod make
// it: labelled with the runner pod's name, owned by nothing.
func hookPod(name, runnerPod string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{octorunv1alpha1.HookPodLabel: runnerPod}},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "job", Image: "node:20"}},
		},
	}
}

// TestContainerModeKubernetes: a Runner in Kubernetes mode, with the
// ServiceAccount its container hooks use, gets a work volume from the
// default StorageClass, made and bound with its pod, and goes Idle. When
// the Runner goes, its pod goes, the job pod its hooks left goes, another
// runner's stays, and the work volume goes with the pod.
func TestContainerModeKubernetes(t *testing.T) {
	const class = "e2e-container-mode"
	isDefault := startProvisioner(t, class)
	e := startRunnerEnv(t)
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "runner-hooks"}}
	if _, err := Client.CoreV1().ServiceAccounts(e.ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mode := &octorunv1alpha1.ContainerMode{Type: octorunv1alpha1.ContainerModeKubernetes}
	if !isDefault {
		t.Logf("The cluster has a default StorageClass: Runner names StorageClass %s", class)
		mode.Kubernetes = &octorunv1alpha1.KubernetesMode{WorkVolumeStorageClassName: ptr.To(class)}
	}
	e.createRunnerWithSpec(t, "kube", octorunv1alpha1.RunnerSpec{ServiceAccountName: sa.Name, ContainerMode: mode})

	e.waitForPhase(t, "kube", octorunv1alpha1.RunnerPhaseIdle)
	pod, err := Client.CoreV1().Pods(e.ns).Get(ctx, "kube", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Spec.ServiceAccountName != sa.Name || !ptr.Deref(pod.Spec.AutomountServiceAccountToken, false) {
		t.Errorf("The runner pod runs as %q with automount %v, want %s with its token", pod.Spec.ServiceAccountName,
			ptr.Deref(pod.Spec.AutomountServiceAccountToken, false), sa.Name)
	}
	runnerC := findContainer(pod.Spec.Containers, octorunv1alpha1.RunnerContainerName)
	if hooks, _ := envValue(runnerC, octorunv1alpha1.EnvContainerHooks); hooks != octorunv1alpha1.ContainerHooksScript {
		t.Errorf("The runner's %s = %q, want %q", octorunv1alpha1.EnvContainerHooks, hooks, octorunv1alpha1.ContainerHooksScript)
	}
	claimName := pod.Name + "-work"
	claim, err := Client.CoreV1().PersistentVolumeClaims(e.ns).Get(ctx, claimName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Getting the work volume's claim: %v", err)
	}
	if ref := metav1.GetControllerOf(claim); ref == nil || ref.Kind != "Pod" || ref.UID != pod.UID {
		t.Errorf("Claim %s is controlled by %+v, want the runner pod %s", claimName, ref, pod.UID)
	}
	if claim.Status.Phase != corev1.ClaimBound || ptr.Deref(claim.Spec.StorageClassName, "") != class {
		t.Errorf("Claim %s is %s of StorageClass %q, want Bound of %s", claimName, claim.Status.Phase,
			ptr.Deref(claim.Spec.StorageClassName, ""), class)
	}
	volume := claim.Spec.VolumeName

	// The job pod of this runner's hooks, and one of another runner's.
	for _, p := range []*corev1.Pod{hookPod("kube-workflow", pod.Name), hookPod("other-workflow", "other")} {
		if _, err := Client.CoreV1().Pods(e.ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.client.OctorunV1alpha1().Runners(e.ns).Delete(ctx, "kube", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitForRunnerGone(t, "kube")
	Eventually(t, "the job pod the hooks left to be gone", func(ctx context.Context) (bool, error) {
		p, err := Client.CoreV1().Pods(e.ns).Get(ctx, "kube-workflow", metav1.GetOptions{})
		return apierrors.IsNotFound(err) || err == nil && p.DeletionTimestamp != nil, nil
	})
	if p, err := Client.CoreV1().Pods(e.ns).Get(ctx, "other-workflow", metav1.GetOptions{}); err != nil || p.DeletionTimestamp != nil {
		t.Errorf("The job pod of another runner: %v (deleted at %v), want it left alone", err, p.GetDeletionTimestamp())
	}
	// The garbage collector deletes the claim after its pod, and the
	// volume is released, then deleted by the provisioner.
	Eventually(t, "the work volume's claim and volume to be gone with the pod", func(ctx context.Context) (bool, error) {
		_, err := Client.CoreV1().PersistentVolumeClaims(e.ns).Get(ctx, claimName, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return false, nil
		}
		_, err = Client.CoreV1().PersistentVolumes().Get(ctx, volume, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}
