package runnerset

import (
	"encoding/json"
	"hash/fnv"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// newRunner returns a Runner of the set's template.
func newRunner(set *octorunv1alpha1.RunnerSet, hash string) *octorunv1alpha1.Runner {
	t := set.Spec.Template.DeepCopy()
	lbls := map[string]string{}
	for k, v := range t.Labels {
		lbls[k] = v
	}
	lbls[octorunv1alpha1.LabelTemplateHash] = hash
	return &octorunv1alpha1.Runner{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    set.Name + "-",
			Namespace:       set.Namespace,
			Labels:          lbls,
			Annotations:     t.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, octorunv1alpha1.SchemeGroupVersion.WithKind("RunnerSet"))},
			// With the Runner controller's finalizer from the start: it
			// spares that controller a write before the registration.
			Finalizers: []string{octorunv1alpha1.RunnerFinalizer},
		},
		Spec: t.Spec,
	}
}

// templateHash hashes a template, as pod-template-hash does.
func templateHash(t *octorunv1alpha1.RunnerTemplateSpec) string {
	data, _ := json.Marshal(struct {
		Labels      map[string]string
		Annotations map[string]string
		Spec        octorunv1alpha1.RunnerSpec
	}{t.Labels, t.Annotations, t.Spec})
	h := fnv.New32a()
	_, _ = h.Write(data)
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}
