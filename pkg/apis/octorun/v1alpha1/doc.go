// Package v1alpha1 contains API Schema definitions for the octorun.github.io v1alpha1 API group.
//
// +k8s:deepcopy-gen=package
// +groupName=octorun.github.io
package v1alpha1
