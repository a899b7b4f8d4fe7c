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

// RunnerSetSpec defines the desired state of RunnerSet
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
