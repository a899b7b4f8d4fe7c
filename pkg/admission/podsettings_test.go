package admission

import (
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// storageClasses is a cluster with or without a default StorageClass.
type storageClasses struct {
	hasDefault bool
	err        error
}

func (s storageClasses) HasDefault() (bool, error) { return s.hasDefault, s.err }

func dind() *octorunv1alpha1.ContainerMode {
	return &octorunv1alpha1.ContainerMode{Type: octorunv1alpha1.ContainerModeDinD}
}

func kubernetesMode(class string) *octorunv1alpha1.ContainerMode {
	m := &octorunv1alpha1.ContainerMode{Type: octorunv1alpha1.ContainerModeKubernetes}
	if class != "" {
		m.Kubernetes = &octorunv1alpha1.KubernetesMode{WorkVolumeStorageClassName: ptr.To(class)}
	}
	return m
}

// TestValidatePodSettings: the pod settings and container modes a Runner
// may have, and clear refusals of what would break its pod or take what
// Octorun sets.
func TestValidatePodSettings(t *testing.T) {
	for _, tc := range []struct {
		name        string
		mutate      func(*octorunv1alpha1.Runner)
		noDefaultSC bool
		want        []string
	}{
		{name: "every setting", mutate: func(r *octorunv1alpha1.Runner) {
			r.Spec.Env = []corev1.EnvVar{{Name: "HTTPS_PROXY", Value: "http://proxy:3128"}}
			r.Spec.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}}}
			r.Spec.InitContainers = []corev1.Container{{Name: "sidecar", Image: "x", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}}
			r.Spec.Containers = []corev1.Container{{Name: "exporter", Image: "y"}}
			r.Spec.PriorityClassName = "ci"
			r.Spec.TerminationGracePeriodSeconds = ptr.To[int64](600)
			r.Spec.PodAnnotations = map[string]string{"example.com/team": "a"}
		}},
		{name: "DinD", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.ContainerMode = dind() }},
		{name: "DinD mounting the work volume", mutate: func(r *octorunv1alpha1.Runner) {
			r.Spec.ContainerMode = dind()
			r.Spec.VolumeMounts = []corev1.VolumeMount{{Name: "work", MountPath: "/home/runner/_work"}}
		}},
		{name: "Kubernetes with a default StorageClass", mutate: func(r *octorunv1alpha1.Runner) {
			r.Spec.ServiceAccountName, r.Spec.ContainerMode = "hooks", kubernetesMode("")
		}},
		{name: "Kubernetes with a class and no default", noDefaultSC: true, mutate: func(r *octorunv1alpha1.Runner) {
			r.Spec.ServiceAccountName, r.Spec.ContainerMode = "hooks", kubernetesMode("fast")
		}},
		{name: "Kubernetes with its own work volume and no default", noDefaultSC: true, mutate: func(r *octorunv1alpha1.Runner) {
			r.Spec.ServiceAccountName, r.Spec.ContainerMode = "hooks", kubernetesMode("")
			r.Spec.Volumes = []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		}},
		{name: "Kubernetes without a class where none is default", noDefaultSC: true, mutate: func(r *octorunv1alpha1.Runner) {
			r.Spec.ServiceAccountName, r.Spec.ContainerMode = "hooks", kubernetesMode("")
		}, want: []string{"spec.containerMode.kubernetes.workVolumeStorageClassName: FieldValueRequired"}},
		{name: "Kubernetes without a ServiceAccount", mutate: func(r *octorunv1alpha1.Runner) {
			r.Spec.ContainerMode = kubernetesMode("fast")
		}, want: []string{"spec.serviceAccountName: FieldValueRequired"}},
		{name: "Kubernetes with an empty work volume", mutate: func(r *octorunv1alpha1.Runner) {
			r.Spec.ServiceAccountName, r.Spec.ContainerMode = "hooks", kubernetesMode("fast")
			r.Spec.ContainerMode.Kubernetes.WorkVolumeSize = ptr.To(resource.MustParse("0"))
		}, want: []string{"spec.containerMode.kubernetes.workVolumeSize: FieldValueInvalid"}},
		{name: "settings of the other mode", mutate: func(r *octorunv1alpha1.Runner) {
			r.Spec.ContainerMode = dind()
			r.Spec.ContainerMode.Kubernetes = &octorunv1alpha1.KubernetesMode{}
		}, want: []string{"spec.containerMode.kubernetes: FieldValueForbidden"}},
		{name: "unknown mode", mutate: func(r *octorunv1alpha1.Runner) {
			r.Spec.ContainerMode = &octorunv1alpha1.ContainerMode{Type: "Podman"}
		}, want: []string{"spec.containerMode.type: FieldValueNotSupported"}},
		{name: "env overriding the JIT config", mutate: func(r *octorunv1alpha1.Runner) {
			r.Spec.Env = []corev1.EnvVar{{Name: octorunv1alpha1.EnvJITConfig, Value: "stolen"}}
		}, want: []string{"spec.env[0].name: FieldValueForbidden"}},
		{name: "env overriding DinD's DOCKER_HOST", mutate: func(r *octorunv1alpha1.Runner) {
			r.Spec.ContainerMode = dind()
			r.Spec.Env = []corev1.EnvVar{{Name: "DOCKER_HOST", Value: "tcp://elsewhere:2375"}}
		}, want: []string{"spec.env[0].name: FieldValueForbidden"}},
		{name: "DOCKER_HOST without DinD", mutate: func(r *octorunv1alpha1.Runner) {
			r.Spec.Env = []corev1.EnvVar{{Name: "DOCKER_HOST", Value: "tcp://docker:2375"}}
		}},
		{name: "invalid env name", mutate: func(r *octorunv1alpha1.Runner) {
			r.Spec.Env = []corev1.EnvVar{{Name: "A=B"}}
		}, want: []string{"spec.env[0].name: FieldValueInvalid"}},
		{name: "a sidecar named runner", mutate: func(r *octorunv1alpha1.Runner) {
			r.Spec.InitContainers = []corev1.Container{{Name: "runner", Image: "x"}}
		}, want: []string{"spec.initContainers[0].name: FieldValueForbidden"}},
		{name: "a container named dind in DinD", mutate: func(r *octorunv1alpha1.Runner) {
			r.Spec.ContainerMode = dind()
			r.Spec.Containers = []corev1.Container{{Name: "dind", Image: "x"}}
		}, want: []string{"spec.containers[0].name: FieldValueForbidden"}},
		{name: "a container named twice", mutate: func(r *octorunv1alpha1.Runner) {
			r.Spec.InitContainers = []corev1.Container{{Name: "a", Image: "x"}}
			r.Spec.Containers = []corev1.Container{{Name: "a", Image: "x"}}
		}, want: []string{"spec.containers[0].name: FieldValueDuplicate"}},
		{name: "a volume named as DinD's", mutate: func(r *octorunv1alpha1.Runner) {
			r.Spec.ContainerMode = dind()
			r.Spec.Volumes = []corev1.Volume{{Name: "dind-sock"}}
		}, want: []string{"spec.volumes[0].name: FieldValueForbidden"}},
		{name: "an eviction annotation", mutate: func(r *octorunv1alpha1.Runner) {
			r.Spec.PodAnnotations = map[string]string{octorunv1alpha1.AnnotationSafeToEvict: "true"}
		}, want: []string{"spec.podAnnotations[cluster-autoscaler.kubernetes.io/safe-to-evict]: FieldValueForbidden"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAdmitter(Options{OctorunUsernames: []string{testOctorunUser}, StorageClasses: storageClasses{hasDefault: !tc.noDefaultSC}})
			r := validRunner()
			tc.mutate(r)
			got := causes(t, a.Validate(newReview(t, admissionv1.Create, r, nil, testUser)))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("causes (-want +got):\n%s", diff)
			}
			// A RunnerSet's template is checked alike.
			s := validRunnerSet()
			s.Spec.Template.Spec = r.Spec
			var want []string
			for _, c := range tc.want {
				want = append(want, "spec.template."+c)
			}
			if got := causes(t, a.Validate(newReview(t, admissionv1.Create, s, nil, testUser))); !slices.Equal(want, got) {
				t.Errorf("RunnerSet causes %v, want %v", got, want)
			}
		})
	}
}

// TestValidateStorageClassesUnknown: when the StorageClasses cannot be
// read, a Kubernetes-mode Runner that needs the default is refused with an
// internal error rather than let through.
func TestValidateStorageClassesUnknown(t *testing.T) {
	a := NewAdmitter(Options{StorageClasses: storageClasses{err: errors.New("cache not synced")}})
	r := validRunner()
	r.Spec.ServiceAccountName, r.Spec.ContainerMode = "hooks", kubernetesMode("")
	if resp := a.Validate(newReview(t, admissionv1.Create, r, nil, testUser)); resp.Allowed {
		t.Error("allowed without knowing the StorageClasses")
	}
}
