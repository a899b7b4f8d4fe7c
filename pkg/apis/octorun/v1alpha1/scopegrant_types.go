package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GrantedScope is a GitHub scope, and the runner groups in it, that a
// ScopeGrant opens to its namespaces.
type GrantedScope struct {
	// URL of the scope: an enterprise (https://HOST/enterprises/NAME), an
	// organization (https://HOST/ORG) or a repository (https://HOST/OWNER/REPO).
	// An organization's grant covers its repositories too; a host alone
	// (https://HOST) grants every scope on it.
	// +required
	// +kubebuilder:validation:Pattern=`^https://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[A-Za-z0-9_.-]+){0,2}$`
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`

	// RunnerGroups are the runner groups (a Runner's spec.group) of an
	// enterprise or organization that runners may join, by name, without
	// regard to case; "*" allows any group. Empty allows the default group
	// only. Repository runners have no group.
	// +optional
	// +listType=set
	RunnerGroups []string `json:"runnerGroups,omitempty"`
}

// ScopeGrantSpec names namespaces and the GitHub scopes their Runners and
// RunnerSets may register runners in.
type ScopeGrantSpec struct {
	// Namespaces the grant applies to, by name.
	// +optional
	// +listType=set
	Namespaces []string `json:"namespaces,omitempty"`

	// NamespaceSelector selects further namespaces by their labels. An
	// empty selector selects every namespace; none selects none.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// Scopes the namespaces may register runners in.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	Scopes []GrantedScope `json:"scopes"`
}

// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=octorun

// ScopeGrant lets namespaces register runners in GitHub scopes: a Runner, or
// a RunnerSet's template, may name a scope (spec.url) and runner group
// (spec.group) only when a ScopeGrant grants them to its namespace. Octorun
// uses one GitHub credential for every namespace; ScopeGrants, which only
// cluster administrators write, decide which namespace may use it where.
// With no ScopeGrant, no Runner registers.
type ScopeGrant struct {
	metav1.TypeMeta `json:",inline"`
	// Refer to Kubernetes API documentation for fields of `metadata`.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec ScopeGrantSpec `json:"spec"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true

// ScopeGrantList contains a list of ScopeGrant.
type ScopeGrantList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ScopeGrant `json:"items"`
}
