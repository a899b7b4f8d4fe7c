package runner

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files of the pod tests")

// TestPodGolden compares the pod of a Runner in each container mode, and
// with every pod setting, with testdata/pod-*.yaml (go test -run
// TestPodGolden -update rewrites them; review the diff).
func TestPodGolden(t *testing.T) {
	everything := func(r *octorunv1alpha1.Runner) {
		r.Spec.Env = []corev1.EnvVar{{Name: "HTTPS_PROXY", Value: "http://proxy:3128"}}
		r.Spec.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "ci-env"}}}}
		r.Spec.InitContainers = []corev1.Container{{Name: "cache-warmer", Image: "example.com/warm:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}}
		r.Spec.Containers = []corev1.Container{{Name: "metrics", Image: "example.com/exporter:1"}}
		r.Spec.PriorityClassName = "ci"
		r.Spec.TerminationGracePeriodSeconds = ptr.To[int64](3600)
		r.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.ScheduleAnyway}}
		r.Spec.DNSConfig = &corev1.PodDNSConfig{Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}}}
		r.Spec.PodAnnotations = map[string]string{"example.com/team": "a"}
	}
	for _, tc := range []struct {
		golden string
		mutate func(*octorunv1alpha1.Runner)
	}{
		{"pod-plain.yaml", func(*octorunv1alpha1.Runner) {}},
		{"pod-settings.yaml", everything},
		{"pod-dind.yaml", func(r *octorunv1alpha1.Runner) {
			r.Spec.ContainerMode = &octorunv1alpha1.ContainerMode{Type: octorunv1alpha1.ContainerModeDinD}
		}},
		{"pod-dind-settings.yaml", func(r *octorunv1alpha1.Runner) {
			everything(r)
			r.Spec.ContainerMode = &octorunv1alpha1.ContainerMode{Type: octorunv1alpha1.ContainerModeDinD, DinD: &octorunv1alpha1.DinDMode{
				Image:     "docker:29-dind",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
			}}
		}},
		{"pod-kubernetes.yaml", func(r *octorunv1alpha1.Runner) {
			r.Spec.ServiceAccountName = "runner-hooks"
			r.Spec.ContainerMode = &octorunv1alpha1.ContainerMode{Type: octorunv1alpha1.ContainerModeKubernetes}
		}},
		{"pod-kubernetes-settings.yaml", func(r *octorunv1alpha1.Runner) {
			r.Spec.ServiceAccountName = "runner-hooks"
			r.Spec.Workdir = "work-dir"
			r.Spec.ContainerMode = &octorunv1alpha1.ContainerMode{Type: octorunv1alpha1.ContainerModeKubernetes, Kubernetes: &octorunv1alpha1.KubernetesMode{
				WorkVolumeStorageClassName: ptr.To("fast"),
				WorkVolumeSize:             ptr.To(resource.MustParse("20Gi")),
				RequireJobContainer:        ptr.To(false),
			}}
		}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			r := newRunner("r1")
			r.Spec.ID = 101
			tc.mutate(r)
			got, err := yaml.Marshal(newPod(r, octorunv1alpha1.DefaultRunnerImage))
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (go test -run TestPodGolden . -args -update writes it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("pod differs from %s (-want +got):\n%s", file, diff)
			}
		})
	}
}

// TestFinalizeDeletesHookPods: the job pods the container hooks of a
// Kubernetes-mode Runner left go with the Runner; others stay.
func TestFinalizeDeletesHookPods(t *testing.T) {
	f := newFixture(t)
	now := metav1.Unix(1_800_000_000, 0)
	r := newRunner("r1")
	r.Finalizers = []string{octorunv1alpha1.RunnerFinalizer}
	r.Spec.ContainerMode = &octorunv1alpha1.ContainerMode{Type: octorunv1alpha1.ContainerModeKubernetes}
	r.DeletionTimestamp = &now
	f.addRunner(r)
	hookPod := func(name, runnerPod string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name),
			Labels: map[string]string{octorunv1alpha1.HookPodLabel: runnerPod}}}
	}
	f.kube = append(f.kube, hookPod("r1-workflow", "r1"), hookPod("r2-workflow", "r2"))
	if _, err := f.run(r); err != nil {
		t.Fatalf("sync: %v", err)
	}
	pods, err := f.kubeClient.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, p := range pods.Items {
		left = append(left, p.Name)
	}
	if diff := cmp.Diff([]string{"r2-workflow"}, left); diff != "" {
		t.Errorf("pods left (-want +got):\n%s", diff)
	}
}
