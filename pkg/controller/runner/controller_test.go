package runner

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// A pod's controller reference resolves to its Runner by group, kind, name
// and UID: the version it was written with does not matter.
func TestEnqueueOwner(t *testing.T) {
	tests := []struct {
		name   string
		change func(pod *corev1.Pod)
		want   bool
	}{
		{name: "this version", change: func(*corev1.Pod) {}, want: true},
		{name: "another version of the group", change: func(p *corev1.Pod) { p.OwnerReferences[0].APIVersion = "octorun.github.io/v1beta1" }, want: true},
		{name: "another group, same kind", change: func(p *corev1.Pod) { p.OwnerReferences[0].APIVersion = "example.com/v1alpha1" }},
		{name: "the core group", change: func(p *corev1.Pod) { p.OwnerReferences[0].APIVersion = "v1" }},
		{name: "another kind", change: func(p *corev1.Pod) { p.OwnerReferences[0].Kind = "RunnerSet" }},
		{name: "a malformed apiVersion", change: func(p *corev1.Pod) { p.OwnerReferences[0].APIVersion = "octorun.github.io/v1/extra" }},
		{name: "another UID", change: func(p *corev1.Pod) { p.OwnerReferences[0].UID = "replaced" }},
		{name: "no controller", change: func(p *corev1.Pod) { p.OwnerReferences = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			r := registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhaseIdle)
			f.addRunner(r)
			_, ctx := ktesting.NewTestContext(t)
			c := f.newController(ctx)
			pod := podOf(r, corev1.PodRunning, true)
			tt.change(pod)
			c.enqueueOwner(pod)
			if got := c.queue.Len() == 1; got != tt.want {
				t.Errorf("Runner enqueued %v, want %v", got, tt.want)
			}
		})
	}
}
