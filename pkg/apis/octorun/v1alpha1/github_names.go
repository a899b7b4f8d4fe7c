package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"

	"github.com/octorun/octorun/pkg/runnerurl"
)

// GitHubRunnerName is the name of a Runner's GitHub runner: the prefix
// (identifying the cluster), the namespace, a '.' and the name. It is stable
// for a Runner and unique across namespaces: a namespace has no '.', so the
// first '.' after the prefix ends it, and no two Runners share a name ("a-b"
// of namespace "c" and "a" of namespace "b-c" once did). GitHub runner names
// may hold dots: the runner's default name is the machine's host name
// (actions/runner, src/Runner.Listener/Configuration/ConfigurationManager.cs).
//
// Names too long for GitHub's 64 characters are cut and made unique again by
// 64 bits of a SHA-256 of the full name, too many for a tenant to forge a
// match of another's name by trial.
func GitHubRunnerName(prefix string, runner *Runner) string {
	full := prefix + runner.Namespace + "." + runner.Name
	if len(full) <= runnerurl.MaxRunnerNameLength {
		return full
	}
	sum := sha256.Sum256([]byte(full))
	hash := hex.EncodeToString(sum[:])[:16]
	return strings.TrimRight(full[:runnerurl.MaxRunnerNameLength-len(hash)-1], "-.") + "-" + hash
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
		key, ok := strings.CutPrefix(k, LabelPrefix)
		if !ok || k == LabelRunner || k == LabelRunnerSet || k == LabelTemplateHash || k == LabelBusy || key == "" {
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
