package runnerscaleset

import (
	"context"
	"errors"
	"fmt"

	"github.com/actions/scaleset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	octorunlisters "github.com/octorun/octorun/pkg/generated/listers/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/github"
)

// ErrNotReady says a Runner's scale set has no id on GitHub yet: the
// Runner waits for it.
var ErrNotReady = errors.New("the runner scale set is not created on GitHub yet")

// Runners registers the Runners of scale-set RunnerSets with their scale
// set (the Runner controller's ScaleSets).
type Runners struct {
	sets    octorunlisters.RunnerSetLister
	clients *Clients
}

// NewRunners returns Runners finding RunnerSets in sets' cache.
func NewRunners(sets octorunlisters.RunnerSetLister, clients *Clients) *Runners {
	return &Runners{sets: sets, clients: clients}
}

// ScaleSetOf returns the id of the runner scale set the Runner registers
// with: its controlling RunnerSet's (checked by UID), when that is a scale
// set; 0 for a Runner of no scale set. A Runner of a scale set whose id is
// not known yet gets ErrNotReady, and one whose URL is not its set's a
// permanent error: the set's scale set serves the set's URL only.
func (r *Runners) ScaleSetOf(runner *octorunv1alpha1.Runner) (int64, error) {
	ref := metav1.GetControllerOf(runner)
	if ref == nil || ref.Kind != "RunnerSet" || ref.APIVersion != octorunv1alpha1.SchemeGroupVersion.String() {
		return 0, nil
	}
	set, err := r.sets.RunnerSets(runner.Namespace).Get(ref.Name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if set.UID != ref.UID || set.Spec.ScaleSet == nil {
		return 0, nil
	}
	if set.Spec.Template.Spec.URL != runner.Spec.URL {
		return 0, &MismatchError{Set: set.Name, SetURL: set.Spec.Template.Spec.URL, URL: runner.Spec.URL}
	}
	if set.Status.ScaleSet == nil || set.Status.ScaleSet.ID == 0 {
		return 0, fmt.Errorf("RunnerSet %s: %w", set.Name, ErrNotReady)
	}
	return set.Status.ScaleSet.ID, nil
}

// MismatchError says a Runner controlled by a scale-set RunnerSet has
// another URL than the set's template.
type MismatchError struct {
	Set, SetURL, URL string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("the Runner's URL %s is not the URL %s of its scale-set RunnerSet %s", e.URL, e.SetURL, e.Set)
}

// GenerateJITConfig registers a just-in-time runner named name with the
// scale set scaleSetID of scope (POST …/runnerscalesets/{id}/generatejitconfig,
// actions/scaleset client.go GenerateJitRunnerConfig). A name taken is
// github.ErrRunnerNameTaken, as from GitHub's REST API.
func (r *Runners) GenerateJITConfig(ctx context.Context, scope github.Scope, scaleSetID int64, name, workFolder string) (*github.JITConfig, error) {
	client, err := r.clients.For(ctx, scope)
	if err != nil {
		return nil, err
	}
	jit, err := client.GenerateJitRunnerConfig(ctx, &scaleset.RunnerScaleSetJitRunnerSetting{Name: name, WorkFolder: workFolder}, int(scaleSetID))
	if errors.Is(err, scaleset.RunnerExistsError) {
		return nil, fmt.Errorf("%w: %w", github.ErrRunnerNameTaken, err)
	}
	if err != nil {
		return nil, fmt.Errorf("generating a JIT config in runner scale set %d: %w", scaleSetID, err)
	}
	if jit == nil || jit.Runner == nil || jit.Runner.ID == 0 || jit.EncodedJITConfig == "" {
		return nil, fmt.Errorf("generating a JIT config in runner scale set %d: GitHub's answer has no runner or config", scaleSetID)
	}
	return &github.JITConfig{
		Runner:           github.Runner{ID: int64(jit.Runner.ID), Name: jit.Runner.Name},
		EncodedJITConfig: jit.EncodedJITConfig,
	}, nil
}
