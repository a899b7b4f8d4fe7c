package admission

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

func TestValidateRunnerSetCreate(t *testing.T) {
	a := testAdmitter()
	tests := []struct {
		name   string
		mutate func(*octorunv1alpha1.RunnerSet)
		want   []string
	}{
		{name: "valid", mutate: func(*octorunv1alpha1.RunnerSet) {}},
		{name: "zero runners", mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.Runners = new(int32(0)) }},
		{name: "runners unset", mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.Runners = nil }},
		{name: "negative runners", mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.Runners = new(int32(-1)) }, want: []string{"spec.runners: FieldValueInvalid"}},
		{name: "no selector", mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.Selector = nil }, want: []string{"spec.selector: FieldValueRequired"}},
		{name: "empty selector", mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.Selector = &metav1.LabelSelector{} }, want: []string{"spec.selector: FieldValueInvalid"}},
		{
			name: "selector matching by expression",
			mutate: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "team", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}},
				}}
			},
		},
		{
			name: "selector not matching the template labels",
			mutate: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "b"}}
			},
			want: []string{"spec.template.metadata.labels: FieldValueInvalid"},
		},
		{
			name: "selector with an invalid operator",
			mutate: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Near"}}}
			},
			want: []string{"spec.selector.matchExpressions[0].operator: FieldValueInvalid"},
		},
		{
			name: "invalid template label",
			mutate: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Template.Labels["bad key!"] = "x"
			},
			want: []string{"spec.template.metadata.labels: FieldValueInvalid"},
		},
		{
			name: "template URL on an unknown host",
			mutate: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Template.Spec.URL = "https://gitlab.com/octorun"
			},
			want: []string{"spec.template.spec.url: FieldValueInvalid"},
		},
		{
			name: "template URL on a configured enterprise host",
			mutate: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Template.Spec.URL = "https://" + testEnterprise + "/octorun"
			},
		},
		{
			name:   "template without image name",
			mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.Template.Spec.Image.Name = "" },
			want:   []string{"spec.template.spec.image.name: FieldValueRequired"},
		},
		{
			name: "template volume mount naming no volume",
			mutate: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Template.Spec.VolumeMounts = []corev1.VolumeMount{{Name: "docker", MountPath: "/var/run"}}
			},
			want: []string{"spec.template.spec.volumeMounts[0].name: FieldValueNotFound"},
		},
		{
			name:   "template with an id and os",
			mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.Template.Spec.ID, s.Spec.Template.Spec.OS = 1, "linux" },
			want:   []string{"spec.template.spec.id: FieldValueForbidden", "spec.template.spec.os: FieldValueForbidden"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validRunnerSet()
			tt.mutate(s)
			// Octorun's own user may not set a template id either.
			resp := a.Validate(newReview(t, admissionv1.Create, s, nil, testOctorunUser))
			if diff := cmp.Diff(tt.want, causes(t, resp)); diff != "" {
				t.Errorf("field errors differ (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateRunnerSetUpdate(t *testing.T) {
	a := testAdmitter()
	tests := []struct {
		name string
		old  func(*octorunv1alpha1.RunnerSet)
		new  func(*octorunv1alpha1.RunnerSet)
		want []string
	}{
		{name: "no change", new: func(*octorunv1alpha1.RunnerSet) {}},
		{name: "scaled", new: func(s *octorunv1alpha1.RunnerSet) { s.Spec.Runners = new(int32(5)) }},
		{name: "scaled below zero", new: func(s *octorunv1alpha1.RunnerSet) { s.Spec.Runners = new(int32(-1)) }, want: []string{"spec.runners: FieldValueInvalid"}},
		{
			name: "template changed",
			new: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Template.Spec.URL = "https://github.com/octorun/other"
				s.Spec.Template.Spec.Image.Name = "example.com/runner:2"
				s.Spec.Template.Labels["team"] = "a"
			},
		},
		{
			name: "template changed to an invalid URL",
			new:  func(s *octorunv1alpha1.RunnerSet) { s.Spec.Template.Spec.URL = "https://github.com/octorun/other/x" },
			want: []string{"spec.template.spec.url: FieldValueInvalid"},
		},
		{
			name: "selector changed",
			new: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}
			},
			want: []string{"spec.selector: FieldValueInvalid"},
		},
		{
			name: "template labels no longer matching the selector",
			new:  func(s *octorunv1alpha1.RunnerSet) { s.Spec.Template.Labels[octorunv1alpha1.LabelRunnerSet] = "x" },
			want: []string{"spec.template.metadata.labels: FieldValueInvalid"},
		},
		{
			name: "selector defaulted from the old template labels equals the new one",
			old:  func(s *octorunv1alpha1.RunnerSet) { s.Spec.Selector = nil },
			new: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Selector = &metav1.LabelSelector{MatchLabels: s.Spec.Template.Labels}
			},
		},
		{
			name: "stored with a URL no longer allowed, scaled",
			old:  func(s *octorunv1alpha1.RunnerSet) { s.Spec.Template.Spec.URL = "https://removed.example.com/o" },
			new:  func(s *octorunv1alpha1.RunnerSet) { s.Spec.Runners = new(int32(3)) },
		},
		{
			name: "stored with a mismatching selector, finalizer removed",
			old: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "b"}}
				s.Finalizers = []string{"x"}
			},
			new: func(s *octorunv1alpha1.RunnerSet) { s.Finalizers = nil },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validRunnerSet()
			if tt.old != nil {
				tt.old(old)
			}
			s := old.DeepCopy()
			defaultRunnerSet(s, s.Name, octorunv1alpha1.DefaultRunnerImage) // as the mutating webhook did
			tt.new(s)
			resp := a.Validate(newReview(t, admissionv1.Update, s, old, testUser))
			if diff := cmp.Diff(tt.want, causes(t, resp)); diff != "" {
				t.Errorf("field errors differ (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateRunnerSetMessage(t *testing.T) {
	s := validRunnerSet()
	s.Spec.Template.Spec.URL = "https://github.com/octorun?ref=main"
	resp := testAdmitter().Validate(newReview(t, admissionv1.Create, s, nil, testUser))
	want := `RunnerSet.octorun.github.io "s" is invalid: spec.template.spec.url: Invalid value: "https://github.com/octorun?ref=main": must be https://<host>/<organization>, https://<host>/<owner>/<repository> or https://<host>/enterprises/<enterprise>: a query is not allowed`
	if resp.Result == nil || resp.Result.Message != want {
		t.Errorf("message = %+v, want %q", resp.Result, want)
	}

	s = validRunnerSet()
	s.Spec.Selector.MatchLabels = map[string]string{"team": "b"}
	resp = testAdmitter().Validate(newReview(t, admissionv1.Create, s, nil, testUser))
	if resp.Result == nil || !strings.Contains(resp.Result.Message, "spec.template.metadata.labels: Invalid value: ") ||
		!strings.Contains(resp.Result.Message, "`selector` does not match template `labels`") {
		t.Errorf("message = %+v, want the Deployment-like selector message", resp.Result)
	}
}

// TestValidateRunnerSetCap: a RunnerSet asking for more runners than the
// operator's cap is refused.
func TestValidateRunnerSetCap(t *testing.T) {
	a := NewAdmitter(Options{MaxRunners: 100})
	s := validRunnerSet()
	s.Spec.Runners = ptr.To[int32](101)
	if got := causes(t, a.Validate(newReview(t, admissionv1.Create, s, nil, testUser))); len(got) != 1 || got[0] != "spec.runners: FieldValueInvalid" {
		t.Errorf("causes %v, want spec.runners invalid", got)
	}
	s.Spec.Runners = ptr.To[int32](100)
	if got := causes(t, a.Validate(newReview(t, admissionv1.Create, s, nil, testUser))); len(got) != 0 {
		t.Errorf("causes %v for a set at the cap, want none", got)
	}
}
