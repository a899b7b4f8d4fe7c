package admission

import (
	"maps"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// defaultRunnerSpec sets the defaults of the empty fields of spec, image
// the runner image.
func defaultRunnerSpec(spec *octorunv1alpha1.RunnerSpec, image string) {
	if spec.Group == "" {
		spec.Group = octorunv1alpha1.DefaultRunnerGroup
	}
	if spec.Workdir == "" {
		spec.Workdir = octorunv1alpha1.DefaultWorkdir
	}
	if spec.Image.Name == "" {
		spec.Image.Name = image
	}
	if spec.Image.PullPolicy == "" {
		spec.Image.PullPolicy = octorunv1alpha1.DefaultImagePullPolicy
	}
}

// defaultRunner sets the defaults of r, whose name is name ("" when it is
// not known yet).
func defaultRunner(r *octorunv1alpha1.Runner, name, image string) {
	defaultRunnerLabels(r, name)
	defaultRunnerSpec(&r.Spec, image)
}

// defaultRunnerLabels sets the runner label of r, whose name is name (""
// when it is not known yet).
func defaultRunnerLabels(r *octorunv1alpha1.Runner, name string) {
	if name != "" {
		setLabel(&r.ObjectMeta, octorunv1alpha1.LabelRunner, name)
	}
}

// defaultRunnerSet sets the defaults of s, whose name is name ("" when it
// is not known yet). The selector is taken from the template's labels, the
// runnerset label included, only when it selects nothing at all. A scale
// set's runner group is given to the template, as the two must be the
// same, when the template names no group or Default: the CRD defaults the
// template's group to Default before the webhooks see it, so a Default
// there may be the schema's rather than the user's.
func defaultRunnerSet(s *octorunv1alpha1.RunnerSet, name, image string) {
	template := &s.Spec.Template
	if name != "" {
		setLabel(&template.ObjectMeta, octorunv1alpha1.LabelRunnerSet, name)
	}
	if selectorIsEmpty(s.Spec.Selector) && len(template.Labels) > 0 {
		s.Spec.Selector = &metav1.LabelSelector{MatchLabels: maps.Clone(template.Labels)}
	}
	if ss := s.Spec.ScaleSet; ss != nil && ss.RunnerGroup != "" &&
		(template.Spec.Group == "" || template.Spec.Group == octorunv1alpha1.DefaultRunnerGroup) {
		template.Spec.Group = ss.RunnerGroup
	}
	defaultRunnerSpec(&template.Spec, image)
}

func setLabel(meta *metav1.ObjectMeta, key, value string) {
	if meta.Labels == nil {
		meta.Labels = map[string]string{}
	}
	meta.Labels[key] = value
}

func selectorIsEmpty(s *metav1.LabelSelector) bool {
	return s == nil || len(s.MatchLabels)+len(s.MatchExpressions) == 0
}
