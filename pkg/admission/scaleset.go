package admission

import (
	"fmt"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// maxScaleSetLabels is the most labels spec.scaleSet.labels may list: with
// the scale set's name, which is a label too, they make the 100 labels
// GitHub gives a runner at most.
const maxScaleSetLabels = 99

// maxScaleSetLabelLength is the longest label GitHub takes (the CRD's bound
// too).
const maxScaleSetLabelLength = 256

// runnerSetsResource is the resource whose scale subresource the validating
// webhook reviews.
var runnerSetsResource = octorunv1alpha1.SchemeGroupVersion.WithResource("runnersets").GroupResource()

// scaleSetParts are the parts of spec.scaleSet that validateScaleSet checks
// separately, so that on update a rule is checked only when what it looks
// at changed.
type scaleSetParts struct {
	group  func(*octorunv1alpha1.RunnerSetSpec) any
	bounds func(*octorunv1alpha1.RunnerSetSpec) any
	labels func(*octorunv1alpha1.RunnerSetSpec) any
}

// validateScaleSet checks spec.scaleSet of the RunnerSet spec of a set
// named name ("" when it is not known yet); changed says whether what a
// part looks at changed since the stored object (always true on create).
func (a *Admitter) validateScaleSet(spec *octorunv1alpha1.RunnerSetSpec, name string, changed func(func(*octorunv1alpha1.RunnerSetSpec) any) bool) field.ErrorList {
	ss := spec.ScaleSet
	if ss == nil {
		return nil
	}
	fldPath := field.NewPath("spec", "scaleSet")
	parts := scaleSetParts{
		group: func(s *octorunv1alpha1.RunnerSetSpec) any {
			if s.ScaleSet == nil {
				return nil
			}
			return [2]string{s.ScaleSet.RunnerGroup, s.Template.Spec.Group}
		},
		bounds: func(s *octorunv1alpha1.RunnerSetSpec) any {
			if s.ScaleSet == nil {
				return nil
			}
			return [2]*int32{s.ScaleSet.MinRunners, s.ScaleSet.MaxRunners}
		},
		labels: func(s *octorunv1alpha1.RunnerSetSpec) any {
			if s.ScaleSet == nil {
				return nil
			}
			// The name is a label too.
			return append([]string{s.ScaleSet.Name}, s.ScaleSet.Labels...)
		},
	}

	var errs field.ErrorList
	if changed(parts.group) {
		// The scale set's runners register in the scale set's group,
		// whatever the Runner says: two groups would show one on GitHub
		// and check the ScopeGrant of the other.
		if group, template := ss.RunnerGroup, spec.Template.Spec.Group; group != "" && template != "" && group != template {
			errs = append(errs, field.Invalid(fldPath.Child("runnerGroup"), group, fmt.Sprintf(
				"must be the template's runner group, spec.template.spec.group (%q), when both are set: "+
					"set one of them, or the same group in both", template)))
		}
	}
	if changed(parts.bounds) {
		errs = append(errs, a.validateScaleSetBounds(ss, fldPath)...)
	}
	if changed(parts.labels) {
		if ss.Name != "" {
			name = ss.Name
		}
		errs = append(errs, validateScaleSetLabels(ss.Labels, name, fldPath.Child("labels"))...)
	}
	return errs
}

// validateScaleSetBounds checks minRunners and maxRunners: not negative,
// in order, and within --max-runners-per-runnerset, as spec.runners is.
func (a *Admitter) validateScaleSetBounds(ss *octorunv1alpha1.RunnerScaleSetSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, b := range []struct {
		name  string
		value *int32
	}{{"minRunners", ss.MinRunners}, {"maxRunners", ss.MaxRunners}} {
		if b.value == nil {
			continue
		}
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*b.value), fldPath.Child(b.name))...)
		if a.maxRunners > 0 && *b.value > a.maxRunners {
			errs = append(errs, field.Invalid(fldPath.Child(b.name), *b.value, maxRunnersDetail(a.maxRunners)))
		}
	}
	if lo, hi := ss.MinRunners, ss.MaxRunners; lo != nil && hi != nil && *hi < *lo {
		errs = append(errs, field.Invalid(fldPath.Child("maxRunners"), *hi,
			fmt.Sprintf("must be greater than or equal to spec.scaleSet.minRunners (%d)", *lo)))
	}
	return errs
}

// maxRunnersDetail is the refusal of a number of runners above limit, the
// --max-runners-per-runnerset.
func maxRunnersDetail(limit int32) string {
	return fmt.Sprintf("Octorun keeps at most %d runners per RunnerSet (--max-runners-per-runnerset)", limit)
}

// validateScaleSetLabels checks the labels of a scale set named name (""
// when not known yet): at most maxScaleSetLabels, none empty, too long or
// padded with whitespace, and no two the same, nor one the name, without
// regard to case, as GitHub matches a job's runs-on labels.
func validateScaleSetLabels(labels []string, name string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(labels) > maxScaleSetLabels {
		errs = append(errs, field.TooMany(fldPath, len(labels), maxScaleSetLabels))
	}
	seen := sets.New[string]()
	for i, l := range labels {
		p := fldPath.Index(i)
		key := strings.ToLower(l)
		switch {
		case strings.TrimSpace(l) == "":
			errs = append(errs, field.Required(p, "a label must not be empty"))
		case strings.TrimSpace(l) != l:
			errs = append(errs, field.Invalid(p, l, "must not have leading or trailing whitespace"))
		case len(l) > maxScaleSetLabelLength:
			errs = append(errs, field.TooLong(p, l, maxScaleSetLabelLength))
		case seen.Has(key):
			errs = append(errs, field.Duplicate(p, l))
		case name != "" && key == strings.ToLower(name):
			errs = append(errs, field.Invalid(p, l, "is the scale set's name, which is a label of the scale set already"))
		}
		seen.Insert(key)
	}
	return errs
}

// grantGroup is the runner group a RunnerSet's ScopeGrant must allow: the
// scale set's for a scale set, whose runners register in it, else the
// template's.
func grantGroup(s *octorunv1alpha1.RunnerSet) string {
	if s.Spec.ScaleSet != nil {
		return s.ScaleSetRunnerGroup()
	}
	return s.Spec.Template.Spec.Group
}

// scaleSetRunnersWarnings warns a user other than Octorun who sets
// spec.runners of a scale-set RunnerSet s (old is nil on create) that the
// scale set's demand sets it. On create, spec.runners holds the CRD's
// default (1) when the user gave none, which cannot be told from an
// explicit 1, so 1 is not warned about; nor is 0, or the value the set
// starts at (its minRunners).
func (a *Admitter) scaleSetRunnersWarnings(s, old *octorunv1alpha1.RunnerSet, username string) []string {
	runners := s.Spec.Runners
	if s.Spec.ScaleSet == nil || runners == nil || a.octorun.Has(username) {
		return nil
	}
	if old == nil {
		if *runners == 0 || *runners == crdDefaultRunners || *runners == s.ScaleSetDesired(0) {
			return nil
		}
	} else if old.Spec.Runners != nil && *old.Spec.Runners == *runners {
		return nil
	}
	return []string{fmt.Sprintf(
		"spec.runners: %d holds only until the scale set's next message: Octorun sets spec.runners to the jobs GitHub "+
			"assigns to the set, within spec.scaleSet.minRunners and maxRunners; set minRunners to keep runners idle",
		*runners)}
}

// crdDefaultRunners is the CRD's default of spec.runners, which the API
// server sets before the webhooks see the object.
const crdDefaultRunners = 1

// validateSubresource reviews a write of a subresource: only the scale
// subresource of RunnerSets is expected.
func (a *Admitter) validateSubresource(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	gr := runnerSetsResource
	if req.SubResource != "scale" || req.Resource.Group != gr.Group || req.Resource.Resource != gr.Resource {
		return unexpectedKind(req.UID, gvk(req.Kind))
	}
	return a.validateScale(req)
}

// validateScale refuses a write of the scale subresource (kubectl scale, an
// HPA) to a scale-set RunnerSet by anyone but Octorun: the scale set's
// demand owns its spec.runners, and another writer would fight it. The
// review carries a Scale, so the RunnerSet is looked up. A RunnerSet not
// found is allowed: it is outside the namespaces Octorun watches, or so new
// that the cache has not seen it yet (or has an older one of the same name),
// and then the scale set's next message sets spec.runners again.
func (a *Admitter) validateScale(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	var scale autoscalingv1.Scale
	if err := decode(req.Object.Raw, &scale); err != nil {
		return deny(req.UID, http.StatusBadRequest, err.Error())
	}
	if a.runnerSets == nil || a.octorun.Has(req.UserInfo.Username) {
		return allow(req.UID)
	}
	name := scale.Name
	if name == "" {
		name = req.Name
	}
	set, err := a.runnerSets.Get(req.Namespace, name)
	switch {
	case apierrors.IsNotFound(err):
		return allow(req.UID)
	case err != nil:
		return deny(req.UID, http.StatusInternalServerError, fmt.Sprintf("Looking up RunnerSet %s/%s: %v", req.Namespace, name, err))
	case scale.UID != "" && set.UID != scale.UID:
		return allow(req.UID)
	case set.Spec.ScaleSet == nil:
		return allow(req.UID)
	}
	return deny(req.UID, http.StatusForbidden, fmt.Sprintf(
		"RunnerSet %s/%s is a GitHub runner scale set: its runners follow the jobs GitHub assigns to it; "+
			"change spec.scaleSet.minRunners or maxRunners instead", req.Namespace, name))
}
