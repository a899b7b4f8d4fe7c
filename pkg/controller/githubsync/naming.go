package githubsync

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// maxRunnerNameLength is the longest runner name GitHub accepts.
const maxRunnerNameLength = 64

// githubRunnerName is the name the Runner controller gives a Runner's GitHub
// runner: the prefix, the namespace and the name, cut and made unique by a
// hash when too long. It is a copy of pkg/controller/runner's (this package
// may not import it); both are tested with the same table.
func githubRunnerName(prefix string, runner *octorunv1alpha1.Runner) string {
	full := prefix + runner.Namespace + "-" + runner.Name
	if len(full) <= maxRunnerNameLength {
		return full
	}
	sum := sha256.Sum256([]byte(full))
	hash := hex.EncodeToString(sum[:])[:10]
	return strings.TrimRight(full[:maxRunnerNameLength-len(hash)-1], "-.") + "-" + hash
}
