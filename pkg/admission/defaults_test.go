package admission

import (
	"encoding/json"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// The operator's default image (--default-runner-image) reaches Runners and
// RunnerSet templates that name none; one that names its image keeps it.
func TestMutateDefaultImage(t *testing.T) {
	const operatorDefault = "registry.example.com/actions-runner:2.336.0"
	a := NewAdmitter(Options{OctorunUsernames: []string{testOctorunUser}, DefaultRunnerImage: operatorDefault})

	r := validRunner()
	r.Spec.Image.Name = ""
	var got octorunv1alpha1.Runner
	if err := json.Unmarshal(mutateTwice(t, a, newReview(t, admissionv1.Create, r, nil, "alice")), &got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Image.Name != operatorDefault {
		t.Errorf("Runner image = %q, want the operator's default %q", got.Spec.Image.Name, operatorDefault)
	}

	s := validRunnerSet()
	s.Spec.Template.Spec.Image.Name = ""
	var gotSet octorunv1alpha1.RunnerSet
	if err := json.Unmarshal(mutateTwice(t, a, newReview(t, admissionv1.Create, s, nil, "alice")), &gotSet); err != nil {
		t.Fatal(err)
	}
	if img := gotSet.Spec.Template.Spec.Image.Name; img != operatorDefault {
		t.Errorf("RunnerSet template image = %q, want %q", img, operatorDefault)
	}

	own := validRunner()
	own.Spec.Image.Name = "example.com/own:1"
	var kept octorunv1alpha1.Runner
	if err := json.Unmarshal(mutateTwice(t, a, newReview(t, admissionv1.Create, own, nil, "alice")), &kept); err != nil {
		t.Fatal(err)
	}
	if kept.Spec.Image.Name != "example.com/own:1" {
		t.Errorf("Runner image = %q, want its own", kept.Spec.Image.Name)
	}
}
