package v1alpha1

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestRunnerLabels(t *testing.T) {
	affinity := func(terms ...[]string) *corev1.Affinity {
		a := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{}}}
		for _, values := range terms {
			a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = append(
				a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms,
				corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: NodeLabelArch, Operator: corev1.NodeSelectorOpIn, Values: values}}})
		}
		return a
	}
	tests := []struct {
		name        string
		kubeLabels  map[string]string
		placement   RunnerPlacement
		defaultArch string
		want        []string
	}{
		{name: "nothing pinned", want: []string{"self-hosted", "Linux", "X64"}},
		{name: "default arch from the operator", defaultArch: "ARM64", want: []string{"self-hosted", "Linux", "ARM64"}},
		{name: "node selector pins arm64", placement: RunnerPlacement{NodeSelector: map[string]string{NodeLabelArch: "arm64"}}, want: []string{"self-hosted", "Linux", "ARM64"}},
		{name: "node selector pins amd64 over the default", defaultArch: "ARM64", placement: RunnerPlacement{NodeSelector: map[string]string{NodeLabelArch: "amd64"}}, want: []string{"self-hosted", "Linux", "X64"}},
		{name: "unknown arch keeps the default", placement: RunnerPlacement{NodeSelector: map[string]string{NodeLabelArch: "riscv64"}}, want: []string{"self-hosted", "Linux", "X64"}},
		{name: "windows node", placement: RunnerPlacement{NodeSelector: map[string]string{NodeLabelOS: "windows"}}, want: []string{"self-hosted", "Windows", "X64"}},
		{name: "affinity pins one arch", placement: RunnerPlacement{Affinity: affinity([]string{"arm64"})}, want: []string{"self-hosted", "Linux", "ARM64"}},
		{name: "affinity allows two", placement: RunnerPlacement{Affinity: affinity([]string{"arm64", "amd64"})}, want: []string{"self-hosted", "Linux", "X64"}},
		{name: "affinity terms disagree", placement: RunnerPlacement{Affinity: affinity([]string{"arm64"}, []string{"amd64"})}, want: []string{"self-hosted", "Linux", "X64"}},
		{
			name:       "user labels after, duplicates dropped without regard to case",
			kubeLabels: map[string]string{LabelPrefix + "gpu": "", LabelPrefix + "linux": "", LabelRunner: "r"},
			want:       []string{"self-hosted", "Linux", "X64", "gpu"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &RunnerSpec{Placement: tt.placement}
			if got := RunnerLabels(tt.kubeLabels, spec, tt.defaultArch); !slices.Equal(got, tt.want) {
				t.Errorf("RunnerLabels() = %q, want %q", got, tt.want)
			}
		})
	}
}
