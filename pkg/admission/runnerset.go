package admission

import (
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// validateRunnerSet checks a RunnerSet; old is nil on create. On update a
// rule is checked only when what it looks at changed, so that a RunnerSet
// stored before a rule existed can still be updated; old is compared with
// its defaults applied, as the mutating webhook applies them to s.
func (a *Admitter) validateRunnerSet(s, old *octorunv1alpha1.RunnerSet) field.ErrorList {
	specPath := field.NewPath("spec")
	templatePath := specPath.Child("template")
	labelsPath := templatePath.Child("metadata", "labels")
	spec := &s.Spec
	var oldSpec *octorunv1alpha1.RunnerSetSpec
	if old != nil {
		defaulted := old.DeepCopy()
		defaultRunnerSet(defaulted, defaulted.Name, a.defaultImage)
		oldSpec = &defaulted.Spec
	}
	// changed says whether the part of the spec get returns changed.
	changed := func(get func(*octorunv1alpha1.RunnerSetSpec) any) bool {
		return oldSpec == nil || !equality.Semantic.DeepEqual(get(spec), get(oldSpec))
	}
	runners := func(s *octorunv1alpha1.RunnerSetSpec) any { return s.Runners }
	selector := func(s *octorunv1alpha1.RunnerSetSpec) any { return s.Selector }
	templateLabels := func(s *octorunv1alpha1.RunnerSetSpec) any { return s.Template.Labels }
	templateSpec := func(s *octorunv1alpha1.RunnerSetSpec) any { return s.Template.Spec }

	var errs field.ErrorList
	if spec.Runners != nil && changed(runners) {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*spec.Runners), specPath.Child("runners"))...)
		if a.maxRunners > 0 && *spec.Runners > a.maxRunners {
			errs = append(errs, field.Invalid(specPath.Child("runners"), *spec.Runners, maxRunnersDetail(a.maxRunners)))
		}
	}
	errs = append(errs, a.validateScaleSet(spec, s.Name, changed)...)
	if oldSpec != nil {
		errs = append(errs, apivalidation.ValidateImmutableField(spec.Selector, oldSpec.Selector, specPath.Child("selector"))...)
	}
	if changed(selector) || changed(templateLabels) {
		selectorErrs := validateSelector(spec.Selector, specPath.Child("selector"))
		labelErrs := metav1validation.ValidateLabels(spec.Template.Labels, labelsPath)
		if changed(selector) {
			errs = append(errs, selectorErrs...)
		}
		if changed(templateLabels) {
			errs = append(errs, labelErrs...)
		}
		if len(selectorErrs)+len(labelErrs) == 0 {
			sel, err := metav1.LabelSelectorAsSelector(spec.Selector)
			if err != nil {
				errs = append(errs, field.Invalid(specPath.Child("selector"), spec.Selector, err.Error()))
			} else if !sel.Matches(labels.Set(spec.Template.Labels)) {
				errs = append(errs, field.Invalid(labelsPath, spec.Template.Labels, "`selector` does not match template `labels`"))
			}
		}
	}
	if changed(templateSpec) {
		errs = append(errs, a.validateTemplateSpec(&spec.Template.Spec, templatePath.Child("spec"))...)
	}
	return errs
}

// validateSelector checks that a RunnerSet's selector is set, valid and
// not empty.
func validateSelector(s *metav1.LabelSelector, fldPath *field.Path) field.ErrorList {
	if s == nil {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	errs := metav1validation.ValidateLabelSelector(s, metav1validation.LabelSelectorValidationOptions{}, fldPath)
	if selectorIsEmpty(s) {
		errs = append(errs, field.Invalid(fldPath, s, "empty selector is invalid for a RunnerSet"))
	}
	return errs
}

// validateTemplateSpec checks a RunnerSet's Runner template: the Runner
// rules, and no spec.id or spec.os, which every Runner of the set would
// copy.
func (a *Admitter) validateTemplateSpec(spec *octorunv1alpha1.RunnerSpec, fldPath *field.Path) field.ErrorList {
	errs := a.validateRunnerSpec(spec, fldPath)
	if spec.ID != 0 {
		errs = append(errs, field.Forbidden(fldPath.Child(fieldID), "must not be set in a template"))
	}
	if spec.OS != "" {
		errs = append(errs, field.Forbidden(fldPath.Child(fieldOS), "must not be set in a template"))
	}
	return errs
}
