package admission

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// StorageClasses say whether the cluster has a default StorageClass, for a
// Kubernetes-mode work volume that names none.
type StorageClasses interface {
	// HasDefault says whether a StorageClass is marked the default.
	HasDefault() (bool, error)
}

// setByOctorunPod is the refusal of a name Octorun gives in the pod.
const setByOctorunPod = "is set by Octorun in the runner pod"

// validatePodSettings checks the runner pod's settings of a Runner's spec:
// the container mode and what the Runner adds to the pod (variables,
// containers, annotations), which may not take the names Octorun uses.
// What the API server checks of a pod (images, probes, resources) it checks
// when Octorun creates the pod, and the Runner shows its refusal.
func (a *Admitter) validatePodSettings(spec *octorunv1alpha1.RunnerSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	mode := spec.ContainerMode

	reservedEnv := octorunv1alpha1.ReservedEnv(mode)
	for i, e := range spec.Env {
		p := fldPath.Child("env").Index(i).Child("name")
		switch {
		case e.Name == "":
			errs = append(errs, field.Required(p, ""))
		case slices.Contains(reservedEnv, e.Name):
			errs = append(errs, field.Forbidden(p, fmt.Sprintf("%s %s", e.Name, setByOctorunPod)))
		default:
			for _, msg := range validation.IsEnvVarName(e.Name) {
				errs = append(errs, field.Invalid(p, e.Name, msg))
			}
		}
	}

	reservedContainers := octorunv1alpha1.ReservedContainerNames(mode)
	names := sets.New[string]()
	for _, list := range []struct {
		name       string
		containers []corev1.Container
	}{{"initContainers", spec.InitContainers}, {"containers", spec.Containers}} {
		for i, c := range list.containers {
			p := fldPath.Child(list.name).Index(i).Child("name")
			switch {
			case c.Name == "":
				errs = append(errs, field.Required(p, ""))
			case slices.Contains(reservedContainers, c.Name):
				errs = append(errs, field.Forbidden(p, fmt.Sprintf("container name %q %s", c.Name, setByOctorunPod)))
			case names.Has(c.Name):
				errs = append(errs, field.Duplicate(p, c.Name))
			default:
				for _, msg := range validation.IsDNS1123Label(c.Name) {
					errs = append(errs, field.Invalid(p, c.Name, msg))
				}
			}
			names.Insert(c.Name)
		}
	}

	reservedVolumes := octorunv1alpha1.ReservedVolumeNames(mode)
	for i, v := range spec.Volumes {
		if slices.Contains(reservedVolumes, v.Name) {
			errs = append(errs, field.Forbidden(fldPath.Child("volumes").Index(i).Child("name"), fmt.Sprintf("volume name %q %s", v.Name, setByOctorunPod)))
		}
	}

	annotationsPath := fldPath.Child("podAnnotations")
	errs = append(errs, apivalidation.ValidateAnnotations(spec.PodAnnotations, annotationsPath)...)
	for k := range spec.PodAnnotations {
		if k == octorunv1alpha1.AnnotationSafeToEvict || k == octorunv1alpha1.AnnotationDoNotDisrupt {
			errs = append(errs, field.Forbidden(annotationsPath.Key(k), setByOctorunPod))
		}
	}

	if spec.TerminationGracePeriodSeconds != nil && *spec.TerminationGracePeriodSeconds < 0 {
		errs = append(errs, field.Invalid(fldPath.Child("terminationGracePeriodSeconds"), *spec.TerminationGracePeriodSeconds, "must not be negative"))
	}
	return append(errs, a.validateContainerMode(spec, fldPath)...)
}

// validateContainerMode checks the container mode: its settings belong to
// its type, a DinD image is a name, and Kubernetes mode has a
// ServiceAccount for the hooks and a StorageClass for its work volume.
func (a *Admitter) validateContainerMode(spec *octorunv1alpha1.RunnerSpec, specPath *field.Path) field.ErrorList {
	fldPath := specPath.Child("containerMode")
	mode := spec.ContainerMode
	if mode == nil {
		return nil
	}
	var errs field.ErrorList
	types := []octorunv1alpha1.ContainerModeType{octorunv1alpha1.ContainerModeDinD, octorunv1alpha1.ContainerModeKubernetes}
	if !slices.Contains(types, mode.Type) {
		return field.ErrorList{field.NotSupported(fldPath.Child("type"), mode.Type, types)}
	}
	if mode.DinD != nil && mode.Type != octorunv1alpha1.ContainerModeDinD {
		errs = append(errs, field.Forbidden(fldPath.Child("dind"), "only for type DinD"))
	}
	if mode.Kubernetes != nil && mode.Type != octorunv1alpha1.ContainerModeKubernetes {
		errs = append(errs, field.Forbidden(fldPath.Child("kubernetes"), "only for type Kubernetes"))
	}
	if mode.DinD != nil && mode.DinD.Image != strings.TrimSpace(mode.DinD.Image) {
		errs = append(errs, field.Invalid(fldPath.Child("dind", "image"), mode.DinD.Image, "must not have leading or trailing whitespace"))
	}
	if mode.Type != octorunv1alpha1.ContainerModeKubernetes {
		return errs
	}
	if spec.ServiceAccountName == "" {
		errs = append(errs, field.Required(specPath.Child("serviceAccountName"),
			"Kubernetes mode needs the ServiceAccount the container hooks create job pods with (see manifests/samples/kubernetes-mode-runnerset.yaml)"))
	}
	km := mode.Kubernetes
	if km != nil && km.WorkVolumeSize != nil && km.WorkVolumeSize.Sign() <= 0 {
		errs = append(errs, field.Invalid(fldPath.Child("kubernetes", "workVolumeSize"), km.WorkVolumeSize.String(), "must be above 0"))
	}
	ownWork := slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == octorunv1alpha1.WorkVolumeName })
	noClass := km == nil || km.WorkVolumeStorageClassName == nil || *km.WorkVolumeStorageClassName == ""
	if noClass && !ownWork && a.storageClasses != nil {
		switch ok, err := a.storageClasses.HasDefault(); {
		case err != nil:
			errs = append(errs, field.InternalError(fldPath.Child("kubernetes", "workVolumeStorageClassName"), err))
		case !ok:
			errs = append(errs, field.Required(fldPath.Child("kubernetes", "workVolumeStorageClassName"),
				"the cluster has no default StorageClass: name the StorageClass of the work volume"))
		}
	}
	return errs
}
