package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/klog/v2"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/github"
)

// ownership is what GitHub says of a runner id a Runner carries.
type ownership int

const (
	// owned: GitHub's runner of that id carries the name Octorun gives
	// the Runner.
	owned ownership = iota
	// gone: GitHub has no runner of that id.
	gone
	// notOwned: GitHub's runner of that id carries another name. spec.id
	// and the Runner's Secret are written in the tenant's namespace; a
	// tenant who forged either must not make Octorun adopt or remove
	// another's runner.
	notOwned
)

// ownedMemoryTTL is how long the controller remembers the runner id it
// registered for a Runner: GitHub removes a runner that never connects
// after about a day, and a JIT runner runs one job.
const ownedMemoryTTL = 24 * time.Hour

// remember records that id is the Runner's own registration.
func (c *Controller) remember(runner *octorunv1alpha1.Runner, id int64) {
	c.owned.Set(runner.UID, id, ownedMemoryTTL)
}

// ownership says whether runner id belongs to the Runner: one this process
// registered for it, or one GitHub names as Octorun names the Runner's. It
// asks GitHub unless the process remembers the id as the Runner's.
func (c *Controller) ownership(ctx context.Context, runner *octorunv1alpha1.Runner, scope github.Scope, id int64) (ownership, error) {
	if known, ok := c.owned.Get(runner.UID); ok && known.(int64) == id {
		return owned, nil
	}
	gr, err := c.github.GetRunner(ctx, scope, id)
	switch {
	case errors.Is(err, github.ErrNotFound):
		return gone, nil
	case err != nil:
		return 0, fmt.Errorf("asking GitHub for runner %d: %w", id, err)
	}
	want := octorunv1alpha1.GitHubRunnerName(c.opts.RunnerNamePrefix, runner)
	if gr.Name != want {
		klog.FromContext(ctx).Info("GitHub runner of the Runner's id carries another name", "id", id, "githubName", gr.Name, "want", want)
		return notOwned, nil
	}
	c.remember(runner, id)
	return owned, nil
}
