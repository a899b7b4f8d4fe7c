package statemetrics

import (
	"fmt"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// The Runner families; their labels start with namespace and runner.
var (
	runnerInfo = newFamily("octorun_runner_info",
		"Information about a Runner: its GitHub organization or repository URL, runner group, OS, "+
			"GitHub runner ID (empty until registered) and controlling RunnerSet (empty if none). Always 1.",
		"namespace", "runner", "url", "group", "os", "id", "runnerset")
	runnerCreated = newFamily("octorun_runner_created",
		"Unix creation timestamp of a Runner, in seconds.",
		"namespace", "runner")
	runnerStatusPhase = newFamily("octorun_runner_status_phase",
		"The phase of a Runner: 1 for the current one of Pending, Idle, Active, Complete, Failed, 0 for the others. "+
			"No series while the Runner has no phase yet.",
		"namespace", "runner", "phase")
	runnerStatusCondition = newFamily("octorun_runner_status_condition",
		"The status of each condition of a Runner: 1 for the current one of true, false, unknown, 0 for the others.",
		"namespace", "runner", "condition", "status")
	runnerLabels = newFamily("octorun_runner_labels",
		"The Kubernetes labels of a Runner, as Prometheus labels label_<sanitized key>. Always 1.",
		"namespace", "runner")
)

// runnerPhases are the values of the phase label, in the order of the API.
var runnerPhases = [...]octorunv1alpha1.RunnerPhase{
	octorunv1alpha1.RunnerPhasePending,
	octorunv1alpha1.RunnerPhaseIdle,
	octorunv1alpha1.RunnerPhaseActive,
	octorunv1alpha1.RunnerPhaseComplete,
	octorunv1alpha1.RunnerPhaseFailed,
}

func (c *Collector) generateRunners(g *generator) error {
	runners, err := c.runners.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing Runners: %w", err)
	}
	for _, r := range runners {
		generateRunner(g, r)
	}
	return nil
}

func generateRunner(g *generator, r *octorunv1alpha1.Runner) {
	ns, name := r.Namespace, r.Name
	var id string
	if r.Spec.ID != 0 {
		id = strconv.FormatInt(r.Spec.ID, 10)
	}
	g.gauge(runnerInfo, 1, nil, ns, name, r.Spec.URL, r.Spec.Group, r.Spec.OS, id, controllingRunnerSet(r))
	emitCreated(g, runnerCreated, &r.ObjectMeta)
	// As kube-state-metrics does for pods: no series without a phase, and
	// all five at 0 for a phase this version does not know.
	if phase := r.Status.Phase; phase != "" {
		for _, p := range runnerPhases {
			g.gauge(runnerStatusPhase, boolFloat64(phase == p), nil, ns, name, string(p))
		}
	}
	emitConditions(g, runnerStatusCondition, ns, name, r.Status.Conditions)
	emitLabels(g, runnerLabels, &r.ObjectMeta)
}

// controllingRunnerSet returns the name of the RunnerSet that controls r
// (its ownerReference with controller=true), or "" if none does.
func controllingRunnerSet(r *octorunv1alpha1.Runner) string {
	ref := metav1.GetControllerOfNoCopy(r)
	if !octorunv1alpha1.Refers(ref, "RunnerSet") {
		return ""
	}
	return ref.Name
}
