package v1alpha1

import (
	"strings"
)

// Node labels a Runner's placement may pin, and the GitHub runner labels
// they stand for.
const (
	// NodeLabelArch is the well-known node label of the CPU architecture.
	NodeLabelArch = "kubernetes.io/arch"
	// NodeLabelOS is the well-known node label of the operating system.
	NodeLabelOS = "kubernetes.io/os"

	// DefaultRunnerArch is the architecture label of a runner whose
	// placement does not pin one.
	DefaultRunnerArch = "X64"
	// DefaultRunnerOS is the operating system label of a runner whose
	// placement does not pin one: the official runner image is Linux only.
	DefaultRunnerOS = "Linux"
)

// runnerArchLabels maps GOARCH values of kubernetes.io/arch to the
// architecture labels config.sh registers a runner with: its built-in
// labels are the OS and the architecture (actions/runner
// docs/adrs/0397-runner-registration-labels.md), "X64", "ARM64", "ARM",
// "X86", as workflows name them (github/docs
// data/reusables/actions/self-hosted-runner-labels-runs-on.md).
var runnerArchLabels = map[string]string{
	"amd64": "X64",
	"arm64": "ARM64",
	"arm":   "ARM",
	"386":   "X86",
}

// runnerOSLabels maps GOOS values of kubernetes.io/os to the operating
// system labels config.sh gives a runner.
var runnerOSLabels = map[string]string{
	"linux":   "Linux",
	"windows": "Windows",
	"darwin":  "macOS",
}

// ArchLabel returns the GitHub architecture label ("X64", "ARM64", ...)
// for a kubernetes.io/arch value, or "" for an unknown one.
func ArchLabel(goarch string) string { return runnerArchLabels[strings.ToLower(goarch)] }

// SystemLabels returns the labels config.sh would give the runner of spec:
// "self-hosted", its operating system and its architecture. The OS and the
// architecture come from the placement when it pins kubernetes.io/os or
// kubernetes.io/arch to one value (by nodeSelector, or by a required node
// affinity term that all terms agree on); else the OS is Linux and the
// architecture defaultArch (DefaultRunnerArch when empty).
//
// Just-in-time registration adds no labels of its own (GitHub REST docs,
// "Create configuration for a just-in-time runner": the runner gets the
// labels sent), so Octorun sends these, and workflows that say
// runs-on: [self-hosted, linux, x64] reach its runners.
func SystemLabels(spec *RunnerSpec, defaultArch string) []string {
	osLabel := DefaultRunnerOS
	if v := pinnedNodeLabel(&spec.Placement, NodeLabelOS); v != "" {
		if l, ok := runnerOSLabels[strings.ToLower(v)]; ok {
			osLabel = l
		}
	}
	arch := defaultArch
	if arch == "" {
		arch = DefaultRunnerArch
	}
	if v := pinnedNodeLabel(&spec.Placement, NodeLabelArch); v != "" {
		if l := ArchLabel(v); l != "" {
			arch = l
		}
	}
	return []string{"self-hosted", osLabel, arch}
}

// RunnerLabels returns the GitHub labels of a runner with the Kubernetes
// labels kubeLabels and spec: SystemLabels, then GitHubLabels' own, each
// once (without regard to case, as GitHub matches labels).
func RunnerLabels(kubeLabels map[string]string, spec *RunnerSpec, defaultArch string) []string {
	out := SystemLabels(spec, defaultArch)
	seen := map[string]bool{}
	for _, l := range out {
		seen[strings.ToLower(l)] = true
	}
	for _, l := range GitHubLabels(kubeLabels) {
		if k := strings.ToLower(l); !seen[k] {
			seen[k] = true
			out = append(out, l)
		}
	}
	return out
}

// pinnedNodeLabel returns the one value the placement allows for a node
// label, or "" when it allows any or several.
func pinnedNodeLabel(p *RunnerPlacement, key string) string {
	if v, ok := p.NodeSelector[key]; ok {
		return v
	}
	if p.Affinity == nil || p.Affinity.NodeAffinity == nil || p.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	// Terms are ORed: the value is pinned only when every term pins the
	// same one.
	pinned := ""
	for _, term := range p.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		v := ""
		for _, req := range term.MatchExpressions {
			if req.Key == key && req.Operator == "In" && len(req.Values) == 1 {
				v = req.Values[0]
			}
		}
		if v == "" || pinned != "" && pinned != v {
			return ""
		}
		pinned = v
	}
	return pinned
}
