/*
Copyright The Octorun Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package controlplane

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

const (
	// BinDirEnv names the environment variable that overrides the directory
	// holding the binaries, both for hack/build-tools.sh and for Start.
	BinDirEnv = "OCTORUN_BIN_DIR"

	// modulePath is the main module, found by walking up to its go.mod.
	modulePath = "github.com/octorun/octorun"

	// buildScript builds the binaries, relative to the repository root.
	buildScript = "hack/build-tools.sh"

	// kwokStagesDir holds, inside the bin dir, the stages shipped in the kwok
	// module, copied there by hack/build-tools.sh.
	kwokStagesDir = "kwok-stages"
)

// ErrBinariesMissing is returned by Start when a binary it needs has not
// been built.
var ErrBinariesMissing = errors.New("control plane binaries missing")

// RepoRoot returns the root of the Octorun repository: the first directory
// at or above the working directory whose go.mod declares the main module.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return findRepoRoot(dir)
}

func findRepoRoot(dir string) (string, error) {
	for {
		if isMainModule(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of module %s at or above the working directory", modulePath)
		}
		dir = parent
	}
}

// isMainModule reports whether the go.mod at path declares modulePath.
func isMainModule(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == modulePath
		}
	}
	return false
}

// DefaultBinDir returns $OCTORUN_BIN_DIR when set, else <repo>/_output/bin.
func DefaultBinDir() (string, error) {
	if dir := os.Getenv(BinDirEnv); dir != "" {
		return filepath.Abs(dir)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", fmt.Errorf("finding the bin dir (set %s to override): %w", BinDirEnv, err)
	}
	return filepath.Join(root, "_output", "bin"), nil
}

// BuildTools runs hack/build-tools.sh, which builds the binaries into binDir
// (empty: DefaultBinDir) unless they are already built for the pinned
// versions, and copies kwok's stages next to them. The script's progress
// goes to out. Concurrent runs are serialized by the script. A cold build
// takes several minutes; cancelling ctx or StopAll kills it.
func BuildTools(ctx context.Context, binDir string, out io.Writer) error {
	root, err := RepoRoot()
	if err != nil {
		return fmt.Errorf("finding %s: %w", buildScript, err)
	}
	if binDir == "" {
		if binDir, err = DefaultBinDir(); err != nil {
			return err
		}
	}
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, buildScript))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), BinDirEnv+"="+binDir)
	cmd.Stdout = out
	cmd.Stderr = out
	// The script and the go commands it runs share a process group, killed
	// as one.
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running %s: %w", buildScript, err)
	}
	pgid := cmd.Process.Pid
	running.Lock()
	running.builds[pgid] = struct{}{}
	running.Unlock()
	err = cmd.Wait()
	running.Lock()
	delete(running.builds, pgid)
	running.Unlock()
	if err != nil {
		return fmt.Errorf("running %s: %w", buildScript, err)
	}
	return nil
}

// checkBinaries returns an ErrBinariesMissing error naming every binary of
// names missing from binDir, and what to run to build them.
func checkBinaries(binDir string, names []string) error {
	var missing []string
	for _, name := range names {
		info, err := os.Stat(filepath.Join(binDir, name))
		if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s not found in %s: run %s (it builds them from the Go module proxy; set %s to use another dir)",
		ErrBinariesMissing, strings.Join(missing, ", "), binDir, buildScript, BinDirEnv)
}
