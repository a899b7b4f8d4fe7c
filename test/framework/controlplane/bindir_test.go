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
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func TestFindRepoRoot(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "go.mod"), "module github.com/octorun/octorun\n\ngo 1.26.0\n", 0o644)
	// A tools module inside the repository is not the repository.
	writeFile(t, filepath.Join(root, "hack/tools/kube/go.mod"), "module github.com/octorun/octorun/hack/tools/kube\n", 0o644)
	nested := filepath.Join(root, "hack/tools/kube/deeper")
	if err := os.MkdirAll(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{root, nested, filepath.Join(root, "hack")} {
		got, err := findRepoRoot(dir)
		if err != nil {
			t.Fatalf("findRepoRoot(%s): %v", dir, err)
		}
		if got != root {
			t.Errorf("findRepoRoot(%s) = %s, want %s", dir, got, root)
		}
	}
}

func TestFindRepoRootNone(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/other\n", 0o644)
	if got, err := findRepoRoot(dir); err == nil {
		t.Errorf("findRepoRoot() = %s, want an error", got)
	}
}

func TestDefaultBinDirFromEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(BinDirEnv, dir)
	got, err := DefaultBinDir()
	if err != nil {
		t.Fatal(err)
	}
	if got != dir {
		t.Errorf("DefaultBinDir() = %s, want %s", got, dir)
	}
}

func TestDefaultBinDirInRepo(t *testing.T) {
	t.Setenv(BinDirEnv, "")
	got, err := DefaultBinDir()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(got, filepath.Join("_output", "bin")) {
		t.Errorf("DefaultBinDir() = %s, want <repo>/_output/bin", got)
	}
}

func TestCheckBinaries(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "etcd"), "", 0o755)
	writeFile(t, filepath.Join(dir, "kubectl"), "", 0o644) // not executable

	if err := checkBinaries(dir, []string{"etcd"}); err != nil {
		t.Errorf("checkBinaries(etcd) = %v, want nil", err)
	}
	err := checkBinaries(dir, []string{"etcd", "kubectl", "kwok"})
	if !errors.Is(err, ErrBinariesMissing) {
		t.Fatalf("checkBinaries() = %v, want ErrBinariesMissing", err)
	}
	for _, want := range []string{"kubectl, kwok", "hack/build-tools.sh", BinDirEnv} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestComponentsBinaries(t *testing.T) {
	if got := len(Components{}.binaries()); got != 3 {
		t.Errorf("API server alone needs %d binaries, want 3 (etcd, kube-apiserver, kubectl)", got)
	}
	if got := len(AllComponents.binaries()); got != 6 {
		t.Errorf("all components need %d binaries, want 6", got)
	}
}
