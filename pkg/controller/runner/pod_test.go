package runner

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// restrictedSecurityContext is the runner container's security context
// that docs/operations.md gives for the Pod Security Standards' restricted
// level; the pod's seccomp profile completes it.
func restrictedSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To[int64](1001),
		RunAsGroup:               ptr.To[int64](1001),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

// TestPodSecurityContext: by default the pod runs the runtime's seccomp
// profile and the container the image's runner user, with privilege
// escalation and the default capabilities left for sudo (the whole context
// is compared: no other field is set); a Runner's security context replaces
// the container's whole and leaves the pod's.
func TestPodSecurityContext(t *testing.T) {
	runtimeDefault := &corev1.PodSecurityContext{
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	localhost := &corev1.SecurityContext{
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To("runner.json")},
	}
	tests := []struct {
		name          string
		spec          *corev1.SecurityContext
		wantPod       *corev1.PodSecurityContext
		wantContainer *corev1.SecurityContext
	}{{
		name:    "default",
		wantPod: runtimeDefault,
		wantContainer: &corev1.SecurityContext{
			RunAsNonRoot: ptr.To(true),
			RunAsUser:    ptr.To[int64](1001),
			RunAsGroup:   ptr.To[int64](1001),
		},
	}, {
		name:          "restricted setup",
		spec:          restrictedSecurityContext(),
		wantPod:       runtimeDefault,
		wantContainer: restrictedSecurityContext(),
	}, {
		name:          "partial context replaces the default whole",
		spec:          &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
		wantPod:       runtimeDefault,
		wantContainer: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
	}, {
		name:          "container seccomp profile beside the pod's",
		spec:          localhost,
		wantPod:       runtimeDefault,
		wantContainer: localhost,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner("r1")
			r.Spec.SecurityContext = tt.spec
			pod := newPod(r, octorunv1alpha1.DefaultRunnerImage)
			if diff := cmp.Diff(tt.wantPod, pod.Spec.SecurityContext); diff != "" {
				t.Errorf("Pod security context (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantContainer, pod.Spec.Containers[0].SecurityContext); diff != "" {
				t.Errorf("Container security context (-want +got):\n%s", diff)
			}
			if tt.spec != nil && pod.Spec.Containers[0].SecurityContext == tt.spec {
				t.Error("The pod shares the Runner's security context instead of a copy")
			}
		})
	}
}

// TestRefusedPodIsReported: a pod the API server refuses (here by Pod
// Security admission) is a Warning Event on the Runner with the API
// server's message, and an error to retry: the namespace's labels may
// change.
func TestRefusedPodIsReported(t *testing.T) {
	f := newFixture(t)
	r := registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhasePending)
	f.addRunner(r)
	_, ctx := ktesting.NewTestContext(t)
	c := f.newController(ctx)
	refusal := `violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false`
	f.kubeClient.PrependReactor("create", "pods", func(core.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "r1", errors.New(refusal))
	})

	if _, err := c.sync(ctx, cache.MetaObjectToName(r)); err == nil || !apierrors.IsForbidden(err) {
		t.Errorf("sync = %v, want the API server's refusal to retry", err)
	}
	events := f.events()
	if len(events) != 1 || !strings.HasPrefix(events[0], "Warning "+EventFailedCreatePod+" Error creating pod: ") || !strings.Contains(events[0], refusal) {
		t.Errorf("Events = %q, want one Warning %s with the refusal", events, EventFailedCreatePod)
	}
	if got := conditionReason(f.runner("r1"), octorunv1alpha1.RunnerConditionPodReady); got != "False/"+octorunv1alpha1.ReasonPodMissing {
		t.Errorf("PodReady = %s, want False/%s", got, octorunv1alpha1.ReasonPodMissing)
	}
}

// TestPodInTerminatingNamespaceIsNotReported: a namespace being deleted
// refuses new pods; its Runners go with it, nothing to tell.
func TestPodInTerminatingNamespaceIsNotReported(t *testing.T) {
	f := newFixture(t)
	r := registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhasePending)
	f.addRunner(r)
	_, ctx := ktesting.NewTestContext(t)
	c := f.newController(ctx)
	f.kubeClient.PrependReactor("create", "pods", func(core.Action) (bool, runtime.Object, error) {
		err := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "r1", errors.New("namespace default is being terminated"))
		err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause}}
		return true, nil, err
	})

	if _, err := c.sync(ctx, cache.MetaObjectToName(r)); err == nil {
		t.Error("sync succeeded, want the refusal")
	}
	if events := f.events(); len(events) != 0 {
		t.Errorf("Events = %q, want none", events)
	}
}
