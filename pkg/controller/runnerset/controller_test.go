package runnerset

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// An owner reference resolves by group, kind, name and UID: the version it
// was written with does not matter.
func TestResolveControllerRef(t *testing.T) {
	set := newSet("set", 1)
	ref := func(apiVersion, kind string) *metav1.OwnerReference {
		return &metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: "set", UID: set.UID, Controller: ptr.To(true)}
	}
	otherUID := ref(octorunv1alpha1.SchemeGroupVersion.String(), "RunnerSet")
	otherUID.UID = "replaced"
	tests := []struct {
		name string
		ref  *metav1.OwnerReference
		want bool
	}{
		{name: "this version", ref: ref("octorun.github.io/v1alpha1", "RunnerSet"), want: true},
		{name: "another version of the group", ref: ref("octorun.github.io/v1beta1", "RunnerSet"), want: true},
		{name: "another group, same kind", ref: ref("example.com/v1alpha1", "RunnerSet")},
		{name: "the core group", ref: ref("v1", "RunnerSet")},
		{name: "another kind", ref: ref("octorun.github.io/v1alpha1", "Runner")},
		{name: "a malformed apiVersion", ref: ref("octorun.github.io/v1/extra", "RunnerSet")},
		{name: "another UID", ref: otherUID},
		{name: "none"},
	}
	f := newFixture(t)
	f.sets = append(f.sets, set)
	f.build()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := f.c.resolveControllerRef("default", tt.ref)
			if (got != nil) != tt.want {
				t.Errorf("resolveControllerRef(%+v) = %v, want resolved %v", tt.ref, got, tt.want)
			}
		})
	}
}
