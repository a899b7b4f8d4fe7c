package admission

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

func TestValidateRunnerCreate(t *testing.T) {
	a := testAdmitter()
	tests := []struct {
		name   string
		mutate func(*octorunv1alpha1.Runner)
		user   string
		want   []string // "field: reason", sorted; nil when allowed
	}{
		{name: "valid", mutate: func(*octorunv1alpha1.Runner) {}},
		{name: "repository URL", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.URL = "https://github.com/octorun/octorun" }},
		{name: "missing URL", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.URL = "" }, want: []string{"spec.url: FieldValueRequired"}},
		{name: "invalid URL", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.URL = "https://gitlab.com/octorun" }, want: []string{"spec.url: FieldValueInvalid"}},
		{name: "no group", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.Group = "" }, want: []string{"spec.group: FieldValueRequired"}},
		{name: "no workdir", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.Workdir = "" }, want: []string{"spec.workdir: FieldValueRequired"}},
		{name: "no image name", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.Image.Name = "" }, want: []string{"spec.image.name: FieldValueRequired"}},
		{name: "blank image name", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.Image.Name = "  " }, want: []string{"spec.image.name: FieldValueRequired"}},
		{name: "image name with spaces around", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.Image.Name = " runner:1" }, want: []string{"spec.image.name: FieldValueInvalid"}},
		{name: "no pull policy", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.Image.PullPolicy = "" }, want: []string{"spec.image.pullPolicy: FieldValueRequired"}},
		{name: "unknown pull policy", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.Image.PullPolicy = "Sometimes" }, want: []string{"spec.image.pullPolicy: FieldValueNotSupported"}},
		{
			name: "volume mounts naming volumes",
			mutate: func(r *octorunv1alpha1.Runner) {
				r.Spec.Volumes = []corev1.Volume{{Name: "cache"}, {Name: "docker"}}
				r.Spec.VolumeMounts = []corev1.VolumeMount{{Name: "docker", MountPath: "/var/run"}, {Name: "cache", MountPath: "/cache"}}
			},
		},
		{
			name: "volume mount naming no volume",
			mutate: func(r *octorunv1alpha1.Runner) {
				r.Spec.Volumes = []corev1.Volume{{Name: "cache"}}
				r.Spec.VolumeMounts = []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}, {Name: "docker", MountPath: "/var/run"}}
			},
			want: []string{"spec.volumeMounts[1].name: FieldValueNotFound"},
		},
		{
			name: "volume mount without volumes",
			mutate: func(r *octorunv1alpha1.Runner) {
				r.Spec.VolumeMounts = []corev1.VolumeMount{{Name: "docker", MountPath: "/var/run"}}
			},
			want: []string{"spec.volumeMounts[0].name: FieldValueNotFound"},
		},
		{
			name: "volume mount without name",
			mutate: func(r *octorunv1alpha1.Runner) {
				r.Spec.Volumes = []corev1.Volume{{Name: "cache"}}
				r.Spec.VolumeMounts = []corev1.VolumeMount{{MountPath: "/cache"}}
			},
			want: []string{"spec.volumeMounts[0].name: FieldValueRequired"},
		},
		{
			name: "duplicate and unnamed volumes",
			mutate: func(r *octorunv1alpha1.Runner) {
				r.Spec.Volumes = []corev1.Volume{{Name: "cache"}, {Name: "cache"}, {}}
			},
			want: []string{"spec.volumes[1].name: FieldValueDuplicate", "spec.volumes[2].name: FieldValueRequired"},
		},
		{name: "id set by Octorun", user: testOctorunUser, mutate: func(r *octorunv1alpha1.Runner) { r.Spec.ID, r.Spec.OS = 42, "linux" }},
		{name: "id set by a user", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.ID = 42 }, want: []string{"spec.id: FieldValueForbidden"}},
		{name: "os set by a user", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.OS = "linux" }, want: []string{"spec.os: FieldValueForbidden"}},
		{name: "negative id by Octorun", user: testOctorunUser, mutate: func(r *octorunv1alpha1.Runner) { r.Spec.ID = -1 }, want: []string{"spec.id: FieldValueInvalid"}},
		{
			name: "every error at once",
			mutate: func(r *octorunv1alpha1.Runner) {
				r.Spec = octorunv1alpha1.RunnerSpec{URL: "http://github.com/o", ID: 1}
			},
			want: []string{
				"spec.group: FieldValueRequired", "spec.id: FieldValueForbidden", "spec.image.name: FieldValueRequired",
				"spec.image.pullPolicy: FieldValueRequired", "spec.url: FieldValueInvalid", "spec.workdir: FieldValueRequired",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validRunner()
			tt.mutate(r)
			user := tt.user
			if user == "" {
				user = testUser
			}
			resp := a.Validate(newReview(t, admissionv1.Create, r, nil, user))
			if resp.UID == "" {
				t.Error("the response has no uid")
			}
			if diff := cmp.Diff(tt.want, causes(t, resp)); diff != "" {
				t.Errorf("field errors differ (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateRunnerUpdate(t *testing.T) {
	a := testAdmitter()
	tests := []struct {
		name string
		old  func(*octorunv1alpha1.Runner)
		new  func(*octorunv1alpha1.Runner)
		user string
		want []string
	}{
		{name: "no change", new: func(*octorunv1alpha1.Runner) {}},
		{
			name: "labels, annotations, finalizers and status are free",
			new: func(r *octorunv1alpha1.Runner) {
				r.Labels["x"] = "y"
				r.Annotations = map[string]string{"a": "b"}
				r.Finalizers = []string{octorunv1alpha1.RunnerFinalizer}
				r.Status.Phase = octorunv1alpha1.RunnerPhaseIdle
			},
		},
		{name: "URL changed", new: func(r *octorunv1alpha1.Runner) { r.Spec.URL = "https://github.com/other" }, want: []string{"spec.url: FieldValueInvalid"}},
		{name: "URL changed by Octorun", user: testOctorunUser, new: func(r *octorunv1alpha1.Runner) { r.Spec.URL = "https://github.com/other" }, want: []string{"spec.url: FieldValueInvalid"}},
		{name: "group changed", new: func(r *octorunv1alpha1.Runner) { r.Spec.Group = "Other" }, want: []string{"spec.group: FieldValueInvalid"}},
		{name: "image changed", new: func(r *octorunv1alpha1.Runner) { r.Spec.Image.PullPolicy = corev1.PullAlways }, want: []string{"spec.image: FieldValueInvalid"}},
		{
			name: "resources changed",
			new: func(r *octorunv1alpha1.Runner) {
				r.Spec.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
			},
			want: []string{"spec.resources: FieldValueInvalid"},
		},
		{
			name: "resources written differently but equal",
			old: func(r *octorunv1alpha1.Runner) {
				r.Spec.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1000m")}
			},
			new: func(r *octorunv1alpha1.Runner) {
				r.Spec.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
			},
		},
		{
			name: "volumes changed",
			new:  func(r *octorunv1alpha1.Runner) { r.Spec.Volumes = []corev1.Volume{{Name: "v"}} },
			want: []string{"spec.volumes: FieldValueInvalid"},
		},
		{
			name: "several fields changed",
			new: func(r *octorunv1alpha1.Runner) {
				r.Spec.Workdir = "w"
				r.Spec.ServiceAccountName = "sa"
				r.Spec.RuntimeClassName = new("gvisor")
			},
			want: []string{"spec.runtimeClassName: FieldValueInvalid", "spec.serviceAccountName: FieldValueInvalid", "spec.workdir: FieldValueInvalid"},
		},
		{
			name: "defaults added to a Runner stored without them",
			old: func(r *octorunv1alpha1.Runner) {
				r.Spec = octorunv1alpha1.RunnerSpec{URL: r.Spec.URL, Group: r.Spec.Group}
			},
			new: func(*octorunv1alpha1.Runner) {},
		},
		{
			name: "Runner stored with a URL no longer allowed can still be updated",
			old:  func(r *octorunv1alpha1.Runner) { r.Spec.URL = "https://removed.example.com/o" },
			new:  func(r *octorunv1alpha1.Runner) { r.Finalizers = nil },
		},
		{name: "id set by Octorun", user: testOctorunUser, new: func(r *octorunv1alpha1.Runner) { r.Spec.ID = 42 }},
		{name: "os set by Octorun", user: testOctorunUser, new: func(r *octorunv1alpha1.Runner) { r.Spec.OS = "linux" }},
		{name: "id and os set by Octorun", user: testOctorunUser, new: func(r *octorunv1alpha1.Runner) { r.Spec.ID, r.Spec.OS = 42, "linux" }},
		{name: "id set by a user", new: func(r *octorunv1alpha1.Runner) { r.Spec.ID = 42 }, want: []string{"spec.id: FieldValueForbidden"}},
		{name: "os set by a user", new: func(r *octorunv1alpha1.Runner) { r.Spec.OS = "linux" }, want: []string{"spec.os: FieldValueForbidden"}},
		{name: "id set by another service account", user: "system:serviceaccount:default:octorun", new: func(r *octorunv1alpha1.Runner) { r.Spec.ID = 42 }, want: []string{"spec.id: FieldValueForbidden"}},
		{
			name: "id changed by Octorun",
			user: testOctorunUser,
			old:  func(r *octorunv1alpha1.Runner) { r.Spec.ID = 42 },
			new:  func(r *octorunv1alpha1.Runner) { r.Spec.ID = 43 },
			want: []string{"spec.id: FieldValueInvalid"},
		},
		{
			name: "id cleared by Octorun",
			user: testOctorunUser,
			old:  func(r *octorunv1alpha1.Runner) { r.Spec.ID = 42 },
			new:  func(r *octorunv1alpha1.Runner) { r.Spec.ID = 0 },
			want: []string{"spec.id: FieldValueInvalid"},
		},
		{
			name: "os changed by Octorun",
			user: testOctorunUser,
			old:  func(r *octorunv1alpha1.Runner) { r.Spec.OS = "linux" },
			new:  func(r *octorunv1alpha1.Runner) { r.Spec.OS = "windows" },
			want: []string{"spec.os: FieldValueInvalid"},
		},
		{
			name: "id kept by a user",
			old:  func(r *octorunv1alpha1.Runner) { r.Spec.ID, r.Spec.OS = 42, "linux" },
			new:  func(r *octorunv1alpha1.Runner) { r.Labels["x"] = "y" },
		},
		{
			name: "os set once by Octorun after the id",
			user: testOctorunUser,
			old:  func(r *octorunv1alpha1.Runner) { r.Spec.ID = 42 },
			new:  func(r *octorunv1alpha1.Runner) { r.Spec.OS = "linux" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validRunner()
			if tt.old != nil {
				tt.old(old)
			}
			r := old.DeepCopy()
			defaultRunnerSpec(&r.Spec, octorunv1alpha1.DefaultRunnerImage) // as the mutating webhook did
			tt.new(r)
			user := tt.user
			if user == "" {
				user = testUser
			}
			resp := a.Validate(newReview(t, admissionv1.Update, r, old, user))
			if diff := cmp.Diff(tt.want, causes(t, resp)); diff != "" {
				t.Errorf("field errors differ (-want +got):\n%s", diff)
			}
		})
	}
}

// TestValidateMessages checks that messages read like the API server's.
func TestValidateMessages(t *testing.T) {
	a := testAdmitter()
	old := validRunner()
	r := old.DeepCopy()
	r.Spec.URL = "https://github.com/other"
	resp := a.Validate(newReview(t, admissionv1.Update, r, old, testUser))
	want := `Runner.octorun.github.io "r" is invalid: spec.url: Invalid value: "https://github.com/other": field is immutable`
	if resp.Result == nil || resp.Result.Message != want {
		t.Errorf("message = %+v, want %q", resp.Result, want)
	}

	r = validRunner()
	r.Spec.ID = 7
	resp = a.Validate(newReview(t, admissionv1.Create, r, nil, testUser))
	want = `Runner.octorun.github.io "r" is invalid: spec.id: Forbidden: may be set only by Octorun's controller`
	if resp.Result == nil || resp.Result.Message != want {
		t.Errorf("message = %+v, want %q", resp.Result, want)
	}
}

// TestValidateScopeGrant: a Runner, or a RunnerSet whose template's scope
// or group is new, is refused in a namespace no ScopeGrant lets use it; a
// RunnerSet whose template keeps its scope may still change (scale down,
// labels) after its grant is gone.
func TestValidateScopeGrant(t *testing.T) {
	a := NewAdmitter(Options{OctorunUsernames: []string{testOctorunUser}, Grants: testGrants{"https://github.com/victim": true}})
	forbidden := []string{"spec.url: FieldValueForbidden"}

	r := validRunner()
	r.Spec.URL = "https://github.com/victim"
	for _, user := range []string{testUser, testOctorunUser} {
		if got := causes(t, a.Validate(newReview(t, admissionv1.Create, r, nil, user))); !slices.Equal(got, forbidden) {
			t.Errorf("Runner of an ungranted scope by %s: causes %v, want %v", user, got, forbidden)
		}
	}

	s := validRunnerSet()
	s.Spec.Template.Spec.URL = "https://github.com/victim"
	if got := causes(t, a.Validate(newReview(t, admissionv1.Create, s, nil, testUser))); !slices.Equal(got, []string{"spec.template.spec.url: FieldValueForbidden"}) {
		t.Errorf("RunnerSet of an ungranted scope: causes %v", got)
	}
	granted := validRunnerSet()
	if got := causes(t, a.Validate(newReview(t, admissionv1.Update, s, granted, testUser))); len(got) == 0 {
		t.Error("A RunnerSet moved to an ungranted scope was allowed")
	}
	scaled := s.DeepCopy()
	scaled.Spec.Runners = ptr.To[int32](0)
	if got := causes(t, a.Validate(newReview(t, admissionv1.Update, scaled, s, testUser))); len(got) != 0 {
		t.Errorf("Scaling down a RunnerSet whose scope is no longer granted: causes %v, want none", got)
	}
}
