package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RunnerTemplateSpec describes the data a runner should have when created from a template
type RunnerTemplateSpec struct {
	// Refer to Kubernetes API documentation for fields of `metadata`.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Specification of the desired behavior of the runner.
	// More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status
	// +required
	Spec RunnerSpec `json:"spec"`
}

// RunnerScaleSetSpec makes a RunnerSet a GitHub runner scale set: Octorun
// registers the set on GitHub's Actions service, holds a message session
// with it, and sets spec.runners from GitHub's count of the jobs assigned to
// the set, so no inbound webhook and no metrics pipeline are needed.
type RunnerScaleSetSpec struct {
	// Name of the scale set on GitHub: the label workflows target with
	// runs-on. Defaults to the RunnerSet's name.
	// +kubebuilder:validation:MaxLength=100
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._-]+$`
	// +optional
	Name string `json:"name,omitempty"`

	// Labels are further labels of the scale set, beside its name; a job
	// goes to the set when the set has all of its runs-on labels.
	// +kubebuilder:validation:MaxItems=99
	// +kubebuilder:validation:items:MaxLength=256
	// +listType=set
	// +optional
	Labels []string `json:"labels,omitempty"`

	// RunnerGroup is the runner group of the scale set, which must be the
	// template's spec.group when both are set. Defaults to the template's
	// group.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	RunnerGroup string `json:"runnerGroup,omitempty"`

	// MinRunners is how many runners the set keeps when no job is assigned
	// to it. Defaults to 0.
	// +kubebuilder:validation:Minimum=0
	// +optional
	MinRunners *int32 `json:"minRunners,omitempty"`

	// MaxRunners is the most runners the set runs, and the capacity it
	// tells GitHub it has. Unset means no bound beside Octorun's
	// --max-runners-per-runnerset.
	// +kubebuilder:validation:Minimum=0
	// +optional
	MaxRunners *int32 `json:"maxRunners,omitempty"`
}

// RunnerScaleSetStatus is the observed state of a RunnerSet's scale set.
type RunnerScaleSetStatus struct {
	// ID of the scale set on GitHub; 0 until it is created or adopted.
	// +optional
	ID int64 `json:"id,omitempty"`

	// AssignedJobs is the number of jobs GitHub has assigned to the scale
	// set, waiting or running, as its last message said.
	// +optional
	AssignedJobs int32 `json:"assignedJobs"`

	// RunningJobs is the number of the set's jobs running, as its last
	// message said.
	// +optional
	RunningJobs int32 `json:"runningJobs"`
}

// RunnerSetSpec defines the desired state of RunnerSet
// +kubebuilder:validation:XValidation:rule="has(self.scaleSet) == has(oldSelf.scaleSet)",message="a RunnerSet cannot become or stop being a scale set: create another RunnerSet",fieldPath=".scaleSet"
type RunnerSetSpec struct {
	// Runners is the number of desired runners.
	// This is a pointer to distinguish between explicit zero and unspecified.
	// Defaults to 1.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +optional
	Runners *int32 `json:"runners,omitempty"`

	// Selector is a label query over runners that should match the replica count.
	// Label keys and values that must match in order to be controlled by this RunnerSet.
	// It must match the runner template's labels.
	// More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// Template is the object that describes the runner that will be created if
	// insufficient replicas are detected.
	// +required
	Template RunnerTemplateSpec `json:"template"`

	// ScaleSet, when set, makes the RunnerSet a GitHub runner scale set
	// whose runners follow the jobs GitHub assigns to it: Octorun then sets
	// spec.runners, between the scale set's minRunners and maxRunners, and
	// refuses other writes of the scale subresource. It cannot be added or
	// removed after creation.
	// +optional
	ScaleSet *RunnerScaleSetSpec `json:"scaleSet,omitempty"`
}

// RunnerSetStatus defines the observed state of RunnerSet
type RunnerSetStatus struct {
	// Runners is the most recently observed number of runners.
	// +optional
	Runners int32 `json:"runners"`

	// The number of idle runners for this RunnerSet.
	// +optional
	// +kubebuilder:default=0
	IdleRunners int32 `json:"idleRunners"`

	// The number of active runners for this RunnerSet.
	// +optional
	// +kubebuilder:default=0
	ActiveRunners int32 `json:"activeRunners"`

	// Conditions defines current service state of the runner.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Selector is the same as the label selector but in the string format to avoid introspection
	// by clients. The string will be in the same format as the query-param syntax.
	// More info about label selectors: http://kubernetes.io/docs/user-guide/labels#label-selectors
	// +optional
	Selector string `json:"selector,omitempty"`

	// ObservedGeneration is the most recent generation of the RunnerSet spec observed
	// by the controller.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// ScaleSet is the state of the set's GitHub runner scale set, when it
	// is one.
	// +optional
	ScaleSet *RunnerScaleSetStatus `json:"scaleSet,omitempty"`
}

// +genclient
// +genclient:method=GetScale,verb=get,subresource=scale,result=k8s.io/api/autoscaling/v1.Scale
// +genclient:method=UpdateScale,verb=update,subresource=scale,input=k8s.io/api/autoscaling/v1.Scale,result=k8s.io/api/autoscaling/v1.Scale
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=octorun
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.runners,statuspath=.status.runners,selectorpath=.status.selector
// +kubebuilder:printcolumn:name="Desired",type=integer,JSONPath=`.spec.runners`,description="The number of desired runners"
// +kubebuilder:printcolumn:name="Current",type=integer,JSONPath=`.status.runners`,description="The number of runners observed"
// +kubebuilder:printcolumn:name="Idle",type=integer,JSONPath=`.status.idleRunners`,description="The number of idle runners"
// +kubebuilder:printcolumn:name="Active",type=integer,JSONPath=`.status.activeRunners`,description="The number of runners running a job"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// RunnerSet is the Schema for the runnersets API
type RunnerSet struct {
	metav1.TypeMeta `json:",inline"`
	// Refer to Kubernetes API documentation for fields of `metadata`.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec RunnerSetSpec `json:"spec"`
	// +optional
	Status RunnerSetStatus `json:"status,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true

// RunnerSetList contains a list of RunnerSet
type RunnerSetList struct {
	metav1.TypeMeta `json:",inline"`
	// Refer to Kubernetes API documentation for fields of `metadata`.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []RunnerSet `json:"items"`
}
