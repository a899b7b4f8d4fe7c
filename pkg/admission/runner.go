package admission

import (
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// The spec fields Octorun's controller sets once, after a Runner is
// created.
const (
	fieldID = "id"
	fieldOS = "os"
)

const setByOctorun = "may be set only by Octorun's controller"

var pullPolicies = []corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}

// validateRunner checks a new Runner created by username.
func (a *Admitter) validateRunner(r *octorunv1alpha1.Runner, username string) field.ErrorList {
	specPath := field.NewPath("spec")
	errs := a.validateRunnerSpec(&r.Spec, specPath)
	errs = append(errs, apivalidation.ValidateNonnegativeField(r.Spec.ID, specPath.Child(fieldID))...)
	if !a.octorun.Has(username) {
		if r.Spec.ID != 0 {
			errs = append(errs, field.Forbidden(specPath.Child(fieldID), setByOctorun))
		}
		if r.Spec.OS != "" {
			errs = append(errs, field.Forbidden(specPath.Child(fieldOS), setByOctorun))
		}
	}
	return errs
}

// validateRunnerUpdate checks an update by username of old to r: the spec
// is immutable but for spec.id and spec.os, which Octorun's controller sets
// once. The old spec is compared with its defaults applied, so that the
// defaults the mutating webhook adds to a Runner stored before it ran are
// no change.
func (a *Admitter) validateRunnerUpdate(r, old *octorunv1alpha1.Runner, username string) field.ErrorList {
	specPath := field.NewPath("spec")
	oldSpec := old.Spec.DeepCopy()
	defaultRunnerSpec(oldSpec, a.defaultImage)
	octorun := a.octorun.Has(username)

	errs := setOnce(r.Spec.ID, oldSpec.ID, octorun, specPath.Child(fieldID))
	if r.Spec.ID != oldSpec.ID {
		errs = append(errs, apivalidation.ValidateNonnegativeField(r.Spec.ID, specPath.Child(fieldID))...)
	}
	errs = append(errs, setOnce(r.Spec.OS, oldSpec.OS, octorun, specPath.Child(fieldOS))...)
	return append(errs, immutableFields(&r.Spec, oldSpec, specPath, fieldID, fieldOS)...)
}

// setOnce allows a field to change only from its zero value, and only by
// Octorun's controller.
func setOnce[T comparable](value, old T, octorun bool, fldPath *field.Path) field.ErrorList {
	var zero T
	switch {
	case value == old:
		return nil
	case old != zero:
		return apivalidation.ValidateImmutableField(value, old, fldPath)
	case !octorun:
		return field.ErrorList{field.Forbidden(fldPath, setByOctorun)}
	}
	return nil
}

// immutableFields refuses a change of any field of spec but those named
// skip, each error naming its field. It walks the fields by reflection so
// that a field added to RunnerSpec is immutable too.
func immutableFields(spec, old *octorunv1alpha1.RunnerSpec, fldPath *field.Path, skip ...string) field.ErrorList {
	var errs field.ErrorList
	nv, ov := reflect.ValueOf(spec).Elem(), reflect.ValueOf(old).Elem()
	t := nv.Type()
	for i := range t.NumField() {
		name := jsonName(t.Field(i))
		if name == "" || slices.Contains(skip, name) {
			continue
		}
		errs = append(errs, apivalidation.ValidateImmutableField(nv.Field(i).Interface(), ov.Field(i).Interface(), fldPath.Child(name))...)
	}
	return errs
}

// jsonName is the JSON name of a struct field, "" when it has none.
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		return f.Name
	}
	return name
}

// validateRunnerSpec checks the rules every Runner spec, a template's
// included, must pass.
func (a *Admitter) validateRunnerSpec(spec *octorunv1alpha1.RunnerSpec, fldPath *field.Path) field.ErrorList {
	errs := a.validateURL(spec.URL, fldPath.Child("url"))
	// Group, workdir, image name and pull policy are set by the mutating
	// webhook; empty, it did not run.
	if spec.Group == "" {
		errs = append(errs, field.Required(fldPath.Child("group"), ""))
	}
	if spec.Workdir == "" {
		errs = append(errs, field.Required(fldPath.Child("workdir"), ""))
	}
	imagePath := fldPath.Child("image")
	switch name := spec.Image.Name; {
	case strings.TrimSpace(name) == "":
		errs = append(errs, field.Required(imagePath.Child("name"), ""))
	case strings.TrimSpace(name) != name:
		errs = append(errs, field.Invalid(imagePath.Child("name"), name, "must not have leading or trailing whitespace"))
	}
	switch p := spec.Image.PullPolicy; {
	case p == "":
		errs = append(errs, field.Required(imagePath.Child("pullPolicy"), ""))
	case !slices.Contains(pullPolicies, p):
		errs = append(errs, field.NotSupported(imagePath.Child("pullPolicy"), p, pullPolicies))
	}
	errs = append(errs, validateVolumes(spec, fldPath)...)
	return append(errs, a.validatePodSettings(spec, fldPath)...)
}

// validateVolumes checks that volume names are unique and that every
// volumeMount names a volume of the spec.
func validateVolumes(spec *octorunv1alpha1.RunnerSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, v := range spec.Volumes {
		namePath := fldPath.Child("volumes").Index(i).Child("name")
		switch {
		case v.Name == "":
			errs = append(errs, field.Required(namePath, ""))
		case names.Has(v.Name):
			errs = append(errs, field.Duplicate(namePath, v.Name))
		}
		names.Insert(v.Name)
	}
	if spec.ContainerMode != nil {
		// The container modes add the work volume when the spec has none.
		names.Insert(octorunv1alpha1.WorkVolumeName)
	}
	for i, m := range spec.VolumeMounts {
		namePath := fldPath.Child("volumeMounts").Index(i).Child("name")
		switch {
		case m.Name == "":
			errs = append(errs, field.Required(namePath, ""))
		case !names.Has(m.Name):
			errs = append(errs, field.NotFound(namePath, m.Name))
		}
	}
	return errs
}
