package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/controller/runner"
)

// enforcePodSecurity labels namespace ns to enforce a Pod Security
// Standards level, and waits until the API server's PodSecurity admission
// (on by default) enforces it: the plugin reads namespaces from its cache.
func enforcePodSecurity(t *testing.T, ns, level string) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":%q}}}`, level)
	if _, err := Client.CoreV1().Namespaces().Patch(context.Background(), ns, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// A privileged pod, which every level but privileged refuses, tried
	// without being stored.
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-security-probe"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "probe", Image: "probe", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
		}}},
	}
	Eventually(t, "namespace "+ns+" to enforce Pod Security level "+level, func(ctx context.Context) (bool, error) {
		_, err := Client.CoreV1().Pods(ns).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		switch {
		case err == nil:
			return false, nil
		case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "violates PodSecurity"):
			return true, nil
		}
		return false, err
	})
}

// createRunnerWithSecurityContext creates Runner name whose runner
// container has security context sc.
func (e *runnerEnv) createRunnerWithSecurityContext(t *testing.T, name string, sc *corev1.SecurityContext) {
	t.Helper()
	_, err := e.client.OctorunV1alpha1().Runners(e.ns).Create(context.Background(), &octorunv1alpha1.Runner{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{octorunv1alpha1.LabelRunner: name}},
		Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octo", SecurityContext: sc},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Creating Runner %s: %v", name, err)
	}
}

// failedCreateEvents returns the messages of the FailedCreate Events on
// Runner name.
func (e *runnerEnv) failedCreateEvents(ctx context.Context, name string) ([]string, error) {
	list, err := Client.CoreV1().Events(e.ns).List(ctx, metav1.ListOptions{FieldSelector: fields.Set{
		"involvedObject.kind": "Runner", "involvedObject.name": name, "reason": runner.EventFailedCreatePod,
	}.String()})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ev := range list.Items {
		out = append(out, ev.Type+" "+ev.Message)
	}
	return out, nil
}

// TestRunnerPodsPassBaseline: in a namespace that enforces the baseline
// level, a Runner with no security context gets its pod, which runs the
// runtime's seccomp profile.
func TestRunnerPodsPassBaseline(t *testing.T) {
	e := startRunnerEnv(t)
	enforcePodSecurity(t, e.ns, "baseline")

	e.createRunner(t, "baseline", nil)
	e.waitForPhase(t, "baseline", octorunv1alpha1.RunnerPhaseIdle)
	pod, err := Client.CoreV1().Pods(e.ns).Get(context.Background(), "baseline", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sc := pod.Spec.SecurityContext; sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("The runner pod's security context = %+v, want seccomp profile RuntimeDefault", sc)
	}
	if events, err := e.failedCreateEvents(context.Background(), "baseline"); err != nil || len(events) != 0 {
		t.Errorf("FailedCreate Events = %q (%v), want none", events, err)
	}
}

// TestRunnerPodsRestrictedSetup: in a namespace that enforces the
// restricted level, a Runner with the security context docs/operations.md
// gives gets its pod; one without gets none, and a Warning Event with the
// API server's refusal.
func TestRunnerPodsRestrictedSetup(t *testing.T) {
	e := startRunnerEnv(t)
	enforcePodSecurity(t, e.ns, "restricted")

	// As docs/operations.md "Pod Security" gives it; the seccomp profile
	// comes from the pod.
	e.createRunnerWithSecurityContext(t, "restricted", &corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To[int64](1001),
		RunAsGroup:               ptr.To[int64](1001),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	})
	e.createRunner(t, "plain", nil)

	e.waitForPhase(t, "restricted", octorunv1alpha1.RunnerPhaseIdle)
	var events []string
	Eventually(t, "a FailedCreate Event on Runner plain", func(ctx context.Context) (bool, error) {
		var err error
		events, err = e.failedCreateEvents(ctx, "plain")
		return len(events) > 0, err
	})
	want := []string{`violates PodSecurity "restricted:latest"`, "allowPrivilegeEscalation != false", "unrestricted capabilities"}
	for _, w := range want {
		if !strings.HasPrefix(events[0], "Warning Error creating pod: ") || !strings.Contains(events[0], w) {
			t.Errorf("FailedCreate Event = %q, want a Warning with %q", events[0], w)
		}
	}
	if strings.Contains(events[0], "seccompProfile") {
		t.Errorf("FailedCreate Event = %q, want no complaint about the seccomp profile: the pod sets it", events[0])
	}
	if _, err := Client.CoreV1().Pods(e.ns).Get(context.Background(), "plain", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Getting the pod of Runner plain: %v, want NotFound", err)
	}
	r, err := e.client.OctorunV1alpha1().Runners(e.ns).Get(context.Background(), "plain", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := meta.FindStatusCondition(r.Status.Conditions, octorunv1alpha1.RunnerConditionPodReady)
	if r.Status.Phase != octorunv1alpha1.RunnerPhasePending || c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("Runner plain is %s with PodReady %+v, want Pending and PodReady False", r.Status.Phase, c)
	}
}
