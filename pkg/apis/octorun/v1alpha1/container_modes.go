package v1alpha1

// The names Octorun gives in a runner pod: its containers, volumes and the
// runner's environment variables. A Runner's own containers, volumes and
// variables may not take them (the admission webhook refuses them), but for
// the work volume, which a Runner may bring itself.
const (
	// RunnerContainerName is the runner's container.
	RunnerContainerName = "runner"
	// DinDContainerName is DinD mode's Docker daemon, a native sidecar.
	DinDContainerName = "dind"
	// DinDExternalsContainerName is DinD mode's init container copying the
	// runner's externals (node, for JavaScript actions) where the daemon's
	// containers find them.
	DinDExternalsContainerName = "init-dind-externals"

	// WorkVolumeName is the runner's work directory in DinD and Kubernetes
	// mode: an emptyDir, or in Kubernetes mode a generic ephemeral volume,
	// whose claim the container hooks find as "<pod name>-work". A Runner's
	// own volume of this name is used instead.
	WorkVolumeName = "work"
	// DinDSocketVolumeName holds the Docker daemon's socket.
	DinDSocketVolumeName = "dind-sock"
	// DinDExternalsVolumeName holds the runner's externals for the daemon.
	DinDExternalsVolumeName = "dind-externals"

	// EnvJITConfig is the variable the runner reads its --jitconfig from
	// (actions/runner CommandSettings).
	EnvJITConfig = "ACTIONS_RUNNER_INPUT_JITCONFIG"
	// EnvDockerHost points the runner's docker CLI at DinD mode's daemon.
	EnvDockerHost = "DOCKER_HOST"
	// EnvWaitForDocker makes run-helper.sh wait for the daemon before the
	// runner starts (actions/runner run-helper.sh.template).
	EnvWaitForDocker = "RUNNER_WAIT_FOR_DOCKER_IN_SECONDS"
	// EnvContainerHooks is the script of the runner's container hooks
	// (actions/runner Constants.ContainerHooksPath).
	EnvContainerHooks = "ACTIONS_RUNNER_CONTAINER_HOOKS"
	// EnvRequireJobContainer refuses jobs without a container:
	// (actions/runner Constants.RequireJobContainer).
	EnvRequireJobContainer = "ACTIONS_RUNNER_REQUIRE_JOB_CONTAINER"
	// EnvRunnerPodName tells the container hooks their runner pod
	// (actions/runner-container-hooks, packages/k8s).
	EnvRunnerPodName = "ACTIONS_RUNNER_POD_NAME"
	// EnvHooksNamespace tells the container hooks the namespace of the job
	// pods they create.
	EnvHooksNamespace = "ACTIONS_RUNNER_KUBERNETES_NAMESPACE"

	// DefaultDinDImage is DinD mode's Docker daemon when the Runner names
	// none, as actions-runner-controller's gha-runner-scale-set chart runs
	// it.
	DefaultDinDImage = "docker:dind"
	// ContainerHooksScript is the Kubernetes container hooks' script in the
	// official runner image (actions/runner images/Dockerfile).
	ContainerHooksScript = "/home/runner/k8s/index.js"
	// HookPodLabel is the label the container hooks put on the job pods
	// they create, valued with the runner pod's name.
	HookPodLabel = "runner-pod"
)

// Annotations Octorun keeps on runner pods for node autoscalers: whether the
// pod may be evicted (a runner holding a job may not). A Runner's
// podAnnotations may not set them.
const (
	AnnotationSafeToEvict  = "cluster-autoscaler.kubernetes.io/safe-to-evict"
	AnnotationDoNotDisrupt = "karpenter.sh/do-not-disrupt"
)

// ReservedEnv returns the runner container's variables Octorun sets for a
// Runner of the container mode mode (nil for none): a Runner's env may not
// set them.
func ReservedEnv(mode *ContainerMode) []string {
	names := []string{EnvJITConfig, EnvReturnVersionDeprecatedExitCode}
	switch modeType(mode) {
	case ContainerModeDinD:
		names = append(names, EnvDockerHost, EnvWaitForDocker)
	case ContainerModeKubernetes:
		names = append(names, EnvContainerHooks, EnvRequireJobContainer, EnvRunnerPodName, EnvHooksNamespace)
	}
	return names
}

// ReservedContainerNames returns the container names Octorun uses in the
// pod of a Runner of the container mode mode.
func ReservedContainerNames(mode *ContainerMode) []string {
	names := []string{RunnerContainerName}
	if modeType(mode) == ContainerModeDinD {
		names = append(names, DinDContainerName, DinDExternalsContainerName)
	}
	return names
}

// ReservedVolumeNames returns the volume names Octorun uses in the pod of
// a Runner of the container mode mode, but for the work volume, which the
// Runner may bring.
func ReservedVolumeNames(mode *ContainerMode) []string {
	if modeType(mode) == ContainerModeDinD {
		return []string{DinDSocketVolumeName, DinDExternalsVolumeName}
	}
	return nil
}

func modeType(mode *ContainerMode) ContainerModeType {
	if mode == nil {
		return ""
	}
	return mode.Type
}
