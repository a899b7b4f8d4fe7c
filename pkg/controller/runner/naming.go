package runner

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// maxRunnerNameLength is the longest runner name GitHub accepts.
const maxRunnerNameLength = 64

// githubRunnerName is the name of the Runner's GitHub runner: the prefix
// (identifying the cluster), the namespace and the name. It is stable for a
// Runner and unique across namespaces; names too long for GitHub are cut and
// made unique again by a hash of the full name.
func githubRunnerName(prefix string, runner *octorunv1alpha1.Runner) string {
	full := prefix + runner.Namespace + "-" + runner.Name
	if len(full) <= maxRunnerNameLength {
		return full
	}
	sum := sha256.Sum256([]byte(full))
	hash := hex.EncodeToString(sum[:])[:10]
	return strings.TrimRight(full[:maxRunnerNameLength-len(hash)-1], "-.") + "-" + hash
}

// githubLabels returns the GitHub runner labels of a Runner.
func githubLabels(runner *octorunv1alpha1.Runner) []string {
	return GitHubLabels(runner.Labels)
}

// GitHubLabels returns the GitHub runner labels of a Runner with the given
// Kubernetes labels: "self-hosted" and, for each label
// "octorun.github.io/<key>: <value>", the label "<key>=<value>" ("<key>"
// alone for an empty value). Octorun's own labels (runner, runnerset,
// template-hash) are not passed on.
func GitHubLabels(kubeLabels map[string]string) []string {
	labels := []string{"self-hosted"}
	var extra []string
	for k, v := range kubeLabels {
		key, ok := strings.CutPrefix(k, octorunv1alpha1.LabelPrefix)
		if !ok || k == octorunv1alpha1.LabelRunner || k == octorunv1alpha1.LabelRunnerSet || k == octorunv1alpha1.LabelTemplateHash || key == "" {
			continue
		}
		if v != "" {
			key += "=" + v
		}
		extra = append(extra, key)
	}
	sort.Strings(extra)
	return append(labels, extra...)
}
