package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RunnerPhase is a label for the condition of a runner at the current time.
// +kubebuilder:validation:Enum=Pending;Idle;Active;Complete;Failed
type RunnerPhase string

// These are the valid phases of a runner.
const (
	// RunnerPhasePending means the runner is being initialized: it is being
	// registered on GitHub, or its pod is not running yet.
	RunnerPhasePending RunnerPhase = "Pending"
	// RunnerPhaseIdle means the runner is registered and its pod is running,
	// but no job has been assigned to it yet.
	RunnerPhaseIdle RunnerPhase = "Idle"
	// RunnerPhaseActive means a job has been assigned to the runner and is
	// running on it.
	RunnerPhaseActive RunnerPhase = "Active"
	// RunnerPhaseComplete means the runner has finished its job and exited
	// successfully. A runner runs one job only, so it never becomes Idle again.
	RunnerPhaseComplete RunnerPhase = "Complete"
	// RunnerPhaseFailed means the runner cannot run or finish a job: its pod
	// failed or it could not be registered. It never becomes Idle again.
	RunnerPhaseFailed RunnerPhase = "Failed"
)

// RunnerImage describes the container image of the runner.
type RunnerImage struct {
	// Runner Container image name.
	// +optional
	Name string `json:"name,omitempty"`

	// Image pull policy.
	// One of Always, Never, IfNotPresent.
	// +kubebuilder:validation:Enum=Always;Never;IfNotPresent
	// +optional
	PullPolicy corev1.PullPolicy `json:"pullPolicy,omitempty"`

	// An optional list of references to secrets in the same namespace to use for pulling any of the images used by this PodSpec.
	// If specified, these secrets will be passed to individual puller implementations for them to use. For example,
	// in the case of docker, only DockerConfig type secrets are honored.
	// More info: https://kubernetes.io/docs/concepts/containers/images#specifying-imagepullsecrets-on-a-pod
	// +optional
	PullSecrets []corev1.LocalObjectReference `json:"pullSecrets,omitempty"`
}

// RunnerPlacement describes where the runner pod may be scheduled.
type RunnerPlacement struct {
	// A selector which must be true for the pod to fit on a node.
	// Selector which must match a node's labels for the pod to be scheduled on that node.
	// More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// If specified, the pod's tolerations.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// If specified, the pod's scheduling constraints
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
}

// RunnerSpec defines the desired state of Runner
type RunnerSpec struct {
	// The github Organization or Repository URL for this runner.
	// Must be a valid Github Org or Repository URL.
	// eg:
	// 	- "https://github.com/org"
	// 	- "https://github.com/org/repo"
	// An enterprise's URL, "https://github.com/enterprises/enterprise",
	// registers an enterprise runner. The admission webhook checks the URL
	// by the grammar of pkg/runnerurl.
	// +kubebuilder:validation:Pattern=`^https://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?$`
	// +kubebuilder:validation:MaxLength=2048
	// +required
	URL string `json:"url"`

	// ID of the runner assigned by Github, basically it is sequential number.
	// Read-only.
	// +kubebuilder:validation:Minimum=0
	// +optional
	ID int64 `json:"id,omitempty"`

	// OS type of the runner. Populated by the system.
	// Read-only.
	// +optional
	OS string `json:"os,omitempty"`

	// Name of the runner group to add to this runner.
	// Defaults to Default.
	// +kubebuilder:default=Default
	// +optional
	Group string `json:"group,omitempty"`

	// Relative runner work directory.
	// +optional
	Workdir string `json:"workdir,omitempty"`

	// Runner container image specification
	// +optional
	Image RunnerImage `json:"image,omitempty"`

	// Placement configuration to pass to kubernetes pod (affinity, node selector, etc).
	// +optional
	Placement RunnerPlacement `json:"placement,omitempty"`

	// Compute resources required by runner container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// ServiceAccountName is the name of the ServiceAccount to use to run this runner pod.
	// More info: https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// SecurityContext holds security configuration that will be applied to the runner container.
	// +optional
	SecurityContext *corev1.SecurityContext `json:"securityContext,omitempty"`

	// RuntimeClassName refers to a RuntimeClass object in the node.k8s.io group, which should be used
	// to run this runner pod.  If no RuntimeClass resource matches the named class, the pod will not be run.
	// If unset or empty, the "legacy" RuntimeClass will be used, which is an implicit class with an
	// empty definition that uses the default runtime handler.
	// +optional
	RuntimeClassName *string `json:"runtimeClassName,omitempty"`

	// List of volumes that can be mounted by runner container belonging to the runner pod.
	// +optional
	Volumes []corev1.Volume `json:"volumes,omitempty"`

	// Runner pod volumes to mount into the runner container filesystem.
	// +optional
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts,omitempty"`

	// Env are environment variables of the runner container, after those
	// Octorun sets; they may not set the variables Octorun sets itself
	// (ACTIONS_RUNNER_INPUT_JITCONFIG, and those of the container mode).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=256
	Env []corev1.EnvVar `json:"env,omitempty"`

	// EnvFrom are sources of environment variables of the runner container
	// (ConfigMaps, Secrets); a variable of Env wins over one of EnvFrom.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	EnvFrom []corev1.EnvFromSource `json:"envFrom,omitempty"`

	// InitContainers run in the runner pod before the runner, in order. One
	// with restartPolicy Always is a sidecar: it starts before the runner,
	// runs beside it and is stopped when the runner ends, so the pod ends
	// with the runner. None may be named "runner" or take a name the
	// container mode uses.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	InitContainers []corev1.Container `json:"initContainers,omitempty"`

	// Containers run in the runner pod beside the runner for the pod's
	// whole life: the pod does not end when the runner does, but when the
	// Runner is deleted. Prefer InitContainers with restartPolicy Always for
	// sidecars. None may be named "runner" or take a name the container
	// mode uses.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Containers []corev1.Container `json:"containers,omitempty"`

	// PriorityClassName is the runner pod's priority class.
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// TerminationGracePeriodSeconds is the runner pod's grace period when it
	// is deleted; the pod's default (30s) when unset.
	// +optional
	// +kubebuilder:validation:Minimum=0
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`

	// TopologySpreadConstraints spread the runner pods over topology
	// domains (zones, nodes).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`

	// DNSConfig adds to the runner pod's DNS settings.
	// +optional
	DNSConfig *corev1.PodDNSConfig `json:"dnsConfig,omitempty"`

	// PodAnnotations are added to the runner pod's annotations.
	// +optional
	PodAnnotations map[string]string `json:"podAnnotations,omitempty"`

	// ContainerMode lets the runner's jobs run containers (container: jobs,
	// services:, docker build): a Docker daemon beside the runner (DinD), or
	// the job's containers as pods of their own (Kubernetes). None when
	// unset: the runner runs the job's steps in its own container only.
	// +optional
	ContainerMode *ContainerMode `json:"containerMode,omitempty"`
}

// ContainerModeType is how a runner runs its jobs' containers.
// +kubebuilder:validation:Enum=DinD;Kubernetes
type ContainerModeType string

const (
	// ContainerModeDinD runs a Docker daemon in a privileged sidecar of the
	// runner pod; the runner's docker commands reach it through a shared
	// socket.
	ContainerModeDinD ContainerModeType = "DinD"
	// ContainerModeKubernetes runs the job's containers (container:,
	// services:) as pods of their own, created by the runner's container
	// hooks (actions/runner-container-hooks) with a ServiceAccount of the
	// Runner's; no privilege is needed.
	ContainerModeKubernetes ContainerModeType = "Kubernetes"
)

// ContainerMode says how a runner runs its jobs' containers.
type ContainerMode struct {
	// Type is DinD or Kubernetes.
	// +required
	Type ContainerModeType `json:"type"`

	// DinD tunes DinD mode; defaults when unset.
	// +optional
	DinD *DinDMode `json:"dind,omitempty"`

	// Kubernetes tunes Kubernetes mode; defaults when unset.
	// +optional
	Kubernetes *KubernetesMode `json:"kubernetes,omitempty"`
}

// DinDMode tunes the Docker daemon sidecar of DinD mode.
type DinDMode struct {
	// Image of the Docker daemon; empty means the default docker:dind image.
	// +optional
	Image string `json:"image,omitempty"`

	// Resources of the Docker daemon's container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
}

// KubernetesMode tunes Kubernetes mode.
type KubernetesMode struct {
	// WorkVolumeStorageClassName is the StorageClass of the runner's work
	// volume, a generic ephemeral volume the job's pods share with the
	// runner; empty means the cluster's default StorageClass.
	// +optional
	WorkVolumeStorageClassName *string `json:"workVolumeStorageClassName,omitempty"`

	// WorkVolumeSize is the work volume's size; 1Gi when unset.
	// +optional
	WorkVolumeSize *resource.Quantity `json:"workVolumeSize,omitempty"`

	// RequireJobContainer refuses jobs without a container:; true when
	// unset. With false, such a job runs its steps in the runner container
	// itself, beside the hooks' ServiceAccount token, and one with
	// services: but no container: fails in the hooks.
	// +optional
	RequireJobContainer *bool `json:"requireJobContainer,omitempty"`
}

// RunnerStatus defines the observed state of Runner
type RunnerStatus struct {
	// Phase represents the current phase of runner.
	// +optional
	Phase RunnerPhase `json:"phase,omitempty"`

	// Conditions defines current service state of the runner.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=octorun
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`,description="The GitHub organization or repository URL of the runner"
// +kubebuilder:printcolumn:name="ID",type=integer,JSONPath=`.spec.id`,description="ID of the runner assigned by GitHub"
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`,description="The current phase of the runner"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Runner is the Schema for the runners API
type Runner struct {
	metav1.TypeMeta `json:",inline"`
	// Refer to Kubernetes API documentation for fields of `metadata`.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is immutable but for id and os, which Octorun sets once. The API
	// server enforces it, with or without Octorun's admission webhook.
	// +required
	// +kubebuilder:validation:XValidation:rule="self.url == oldSelf.url",message="field is immutable",fieldPath=".url"
	// +kubebuilder:validation:XValidation:rule="!has(oldSelf.id) || (has(self.id) && self.id == oldSelf.id)",message="field is set once, by Octorun, and never changes",fieldPath=".id"
	// +kubebuilder:validation:XValidation:rule="!has(oldSelf.os) || (has(self.os) && self.os == oldSelf.os)",message="field is set once, by Octorun, and never changes",fieldPath=".os"
	// +kubebuilder:validation:XValidation:rule="has(self.group) == has(oldSelf.group) && (!has(self.group) || self.group == oldSelf.group)",message="field is immutable",fieldPath=".group"
	// +kubebuilder:validation:XValidation:rule="has(self.workdir) == has(oldSelf.workdir) && (!has(self.workdir) || self.workdir == oldSelf.workdir)",message="field is immutable",fieldPath=".workdir"
	// +kubebuilder:validation:XValidation:rule="has(self.image) == has(oldSelf.image) && (!has(self.image) || self.image == oldSelf.image)",message="field is immutable",fieldPath=".image"
	// +kubebuilder:validation:XValidation:rule="has(self.placement) == has(oldSelf.placement) && (!has(self.placement) || self.placement == oldSelf.placement)",message="field is immutable",fieldPath=".placement"
	// +kubebuilder:validation:XValidation:rule="has(self.resources) == has(oldSelf.resources) && (!has(self.resources) || self.resources == oldSelf.resources)",message="field is immutable",fieldPath=".resources"
	// +kubebuilder:validation:XValidation:rule="has(self.serviceAccountName) == has(oldSelf.serviceAccountName) && (!has(self.serviceAccountName) || self.serviceAccountName == oldSelf.serviceAccountName)",message="field is immutable",fieldPath=".serviceAccountName"
	// +kubebuilder:validation:XValidation:rule="has(self.securityContext) == has(oldSelf.securityContext) && (!has(self.securityContext) || self.securityContext == oldSelf.securityContext)",message="field is immutable",fieldPath=".securityContext"
	// +kubebuilder:validation:XValidation:rule="has(self.runtimeClassName) == has(oldSelf.runtimeClassName) && (!has(self.runtimeClassName) || self.runtimeClassName == oldSelf.runtimeClassName)",message="field is immutable",fieldPath=".runtimeClassName"
	// +kubebuilder:validation:XValidation:rule="has(self.volumes) == has(oldSelf.volumes) && (!has(self.volumes) || self.volumes == oldSelf.volumes)",message="field is immutable",fieldPath=".volumes"
	// +kubebuilder:validation:XValidation:rule="has(self.volumeMounts) == has(oldSelf.volumeMounts) && (!has(self.volumeMounts) || self.volumeMounts == oldSelf.volumeMounts)",message="field is immutable",fieldPath=".volumeMounts"
	// +kubebuilder:validation:XValidation:rule="has(self.env) == has(oldSelf.env) && (!has(self.env) || self.env == oldSelf.env)",message="field is immutable",fieldPath=".env"
	// +kubebuilder:validation:XValidation:rule="has(self.envFrom) == has(oldSelf.envFrom) && (!has(self.envFrom) || self.envFrom == oldSelf.envFrom)",message="field is immutable",fieldPath=".envFrom"
	// +kubebuilder:validation:XValidation:rule="has(self.initContainers) == has(oldSelf.initContainers) && (!has(self.initContainers) || self.initContainers == oldSelf.initContainers)",message="field is immutable",fieldPath=".initContainers"
	// +kubebuilder:validation:XValidation:rule="has(self.containers) == has(oldSelf.containers) && (!has(self.containers) || self.containers == oldSelf.containers)",message="field is immutable",fieldPath=".containers"
	// +kubebuilder:validation:XValidation:rule="has(self.priorityClassName) == has(oldSelf.priorityClassName) && (!has(self.priorityClassName) || self.priorityClassName == oldSelf.priorityClassName)",message="field is immutable",fieldPath=".priorityClassName"
	// +kubebuilder:validation:XValidation:rule="has(self.terminationGracePeriodSeconds) == has(oldSelf.terminationGracePeriodSeconds) && (!has(self.terminationGracePeriodSeconds) || self.terminationGracePeriodSeconds == oldSelf.terminationGracePeriodSeconds)",message="field is immutable",fieldPath=".terminationGracePeriodSeconds"
	// +kubebuilder:validation:XValidation:rule="has(self.topologySpreadConstraints) == has(oldSelf.topologySpreadConstraints) && (!has(self.topologySpreadConstraints) || self.topologySpreadConstraints == oldSelf.topologySpreadConstraints)",message="field is immutable",fieldPath=".topologySpreadConstraints"
	// +kubebuilder:validation:XValidation:rule="has(self.dnsConfig) == has(oldSelf.dnsConfig) && (!has(self.dnsConfig) || self.dnsConfig == oldSelf.dnsConfig)",message="field is immutable",fieldPath=".dnsConfig"
	// +kubebuilder:validation:XValidation:rule="has(self.podAnnotations) == has(oldSelf.podAnnotations) && (!has(self.podAnnotations) || self.podAnnotations == oldSelf.podAnnotations)",message="field is immutable",fieldPath=".podAnnotations"
	// +kubebuilder:validation:XValidation:rule="has(self.containerMode) == has(oldSelf.containerMode) && (!has(self.containerMode) || self.containerMode == oldSelf.containerMode)",message="field is immutable",fieldPath=".containerMode"
	Spec RunnerSpec `json:"spec"`
	// +optional
	Status RunnerStatus `json:"status,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true

// RunnerList contains a list of Runner
type RunnerList struct {
	metav1.TypeMeta `json:",inline"`
	// Refer to Kubernetes API documentation for fields of `metadata`.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []Runner `json:"items"`
}
