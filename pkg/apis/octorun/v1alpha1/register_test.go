package v1alpha1

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRefers(t *testing.T) {
	tests := []struct {
		name string
		ref  *metav1.OwnerReference
		kind string
		want bool
	}{
		{name: "this version", ref: &metav1.OwnerReference{APIVersion: "octorun.github.io/v1alpha1", Kind: "RunnerSet"}, kind: "RunnerSet", want: true},
		{name: "a later version", ref: &metav1.OwnerReference{APIVersion: "octorun.github.io/v1beta1", Kind: "RunnerSet"}, kind: "RunnerSet", want: true},
		{name: "another kind", ref: &metav1.OwnerReference{APIVersion: "octorun.github.io/v1alpha1", Kind: "Runner"}, kind: "RunnerSet"},
		{name: "another group", ref: &metav1.OwnerReference{APIVersion: "example.com/v1alpha1", Kind: "RunnerSet"}, kind: "RunnerSet"},
		{name: "the core group", ref: &metav1.OwnerReference{APIVersion: "v1", Kind: "RunnerSet"}, kind: "RunnerSet"},
		{name: "a malformed apiVersion", ref: &metav1.OwnerReference{APIVersion: "octorun.github.io/v1/x", Kind: "RunnerSet"}, kind: "RunnerSet"},
		{name: "no reference", kind: "RunnerSet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Refers(tt.ref, tt.kind); got != tt.want {
				t.Errorf("Refers(%+v, %q) = %v, want %v", tt.ref, tt.kind, got, tt.want)
			}
		})
	}
}
