package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/octorun/octorun/test/framework/octorunproc"
)

// octorunBin is Octorun built from the tree, once for the package's tests.
var octorunBin struct {
	once sync.Once
	path string
	err  error
}

// startOctorun runs Octorun as its own process, as in production, with
// GITHUB_TOKEN set to the simulator's token. It stops when t ends, and its
// log is printed if t failed.
func startOctorun(t *testing.T, args ...string) *octorunproc.Process {
	t.Helper()
	octorunBin.once.Do(func() {
		octorunBin.path = filepath.Join(ControlPlane.Dir, "octorun")
		octorunBin.err = octorunproc.Build(context.Background(), RepoPath(t), octorunBin.path)
	})
	if octorunBin.err != nil {
		t.Fatal(octorunBin.err)
	}
	p, err := octorunproc.Start(octorunproc.Options{
		Binary:  octorunBin.path,
		Args:    args,
		Env:     []string{"GITHUB_TOKEN=" + simToken},
		LogPath: filepath.Join(t.TempDir(), fmt.Sprintf("octorun-%d.log", time.Now().UnixNano())),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(15 * time.Second); err != nil {
			select {
			case <-p.Done():
				// Killed by the test, as TestLeaderFailover does.
			default:
				t.Errorf("Stopping octorun: %v", err)
			}
		}
		if t.Failed() {
			t.Logf("Log of octorun (pid %d):\n%s", p.Pid, p.LogTail(200))
		}
	})
	return p
}
