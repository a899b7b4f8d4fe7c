package statemetrics

import (
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/labels"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// The RunnerSet families; their labels start with namespace and runnerset.
var (
	runnerSetSpecRunners = newFamily("octorun_runnerset_spec_runners",
		"Number of Runners a RunnerSet wants (spec.runners). No series while spec.runners is not set.",
		"namespace", "runnerset")
	runnerSetStatusRunners = newFamily("octorun_runnerset_status_runners",
		"Number of Runners of a RunnerSet, as last observed by its controller (status.runners).",
		"namespace", "runnerset")
	runnerSetStatusIdleRunners = newFamily("octorun_runnerset_status_idle_runners",
		"Number of Runners of a RunnerSet that are registered and wait for a job (status.idleRunners).",
		"namespace", "runnerset")
	runnerSetStatusActiveRunners = newFamily("octorun_runnerset_status_active_runners",
		"Number of Runners of a RunnerSet that run a job (status.activeRunners).",
		"namespace", "runnerset")
	runnerSetStatusCondition = newFamily("octorun_runnerset_status_condition",
		"The status of each condition of a RunnerSet: 1 for the current one of true, false, unknown, 0 for the others.",
		"namespace", "runnerset", "condition", "status")
	runnerSetCreated = newFamily("octorun_runnerset_created",
		"Unix creation timestamp of a RunnerSet, in seconds.",
		"namespace", "runnerset")
	runnerSetMetadataGeneration = newFamily("octorun_runnerset_metadata_generation",
		"Sequence number of the desired state of a RunnerSet (metadata.generation).",
		"namespace", "runnerset")
	runnerSetStatusObservedGeneration = newFamily("octorun_runnerset_status_observed_generation",
		"The generation of a RunnerSet that its controller last acted on (status.observedGeneration).",
		"namespace", "runnerset")
	runnerSetQueuedJobs = newFamily("octorun_runnerset_queued_jobs",
		"Number of GitHub jobs waiting for a runner of a RunnerSet, as known from GitHub's webhook events. "+
			"No series while that number is not known.",
		"namespace", "runnerset")
	runnerSetLabels = newFamily("octorun_runnerset_labels",
		"The Kubernetes labels of a RunnerSet, as Prometheus labels label_<sanitized key>. Always 1.",
		"namespace", "runnerset")
	runnerSetScaleSetInfo = newFamily("octorun_runnerset_scaleset_info",
		"Information about the GitHub runner scale set of a scale-set RunnerSet: its name, "+
			"GitHub scale set ID (empty until created) and runner group. Always 1. No series for other RunnerSets.",
		"namespace", "runnerset", "scale_set_name", "scale_set_id", "runner_group")
	runnerSetScaleSetAssignedJobs = newFamily("octorun_runnerset_scaleset_assigned_jobs",
		"Number of jobs GitHub has assigned to the runner scale set of a RunnerSet, waiting or running, "+
			"as its last message said (status.scaleSet.assignedJobs). No series while status.scaleSet is not set.",
		"namespace", "runnerset")
	runnerSetScaleSetRunningJobs = newFamily("octorun_runnerset_scaleset_running_jobs",
		"Number of jobs of the runner scale set of a RunnerSet that run, "+
			"as its last message said (status.scaleSet.runningJobs). No series while status.scaleSet is not set.",
		"namespace", "runnerset")
)

func (c *Collector) generateRunnerSets(g *generator) error {
	sets, err := c.runnerSets.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing RunnerSets: %w", err)
	}
	for _, s := range sets {
		c.generateRunnerSet(g, s)
	}
	return nil
}

func (c *Collector) generateRunnerSet(g *generator, s *octorunv1alpha1.RunnerSet) {
	ns, name := s.Namespace, s.Name
	if s.Spec.Runners != nil {
		g.gauge(runnerSetSpecRunners, float64(*s.Spec.Runners), nil, ns, name)
	}
	g.gauge(runnerSetStatusRunners, float64(s.Status.Runners), nil, ns, name)
	g.gauge(runnerSetStatusIdleRunners, float64(s.Status.IdleRunners), nil, ns, name)
	g.gauge(runnerSetStatusActiveRunners, float64(s.Status.ActiveRunners), nil, ns, name)
	emitConditions(g, runnerSetStatusCondition, ns, name, s.Status.Conditions)
	emitCreated(g, runnerSetCreated, &s.ObjectMeta)
	g.gauge(runnerSetMetadataGeneration, float64(s.Generation), nil, ns, name)
	g.gauge(runnerSetStatusObservedGeneration, float64(s.Status.ObservedGeneration), nil, ns, name)
	if c.queuedJobs != nil {
		if jobs, known := c.queuedJobs.QueuedJobs(s); known {
			g.gauge(runnerSetQueuedJobs, float64(jobs), nil, ns, name)
		}
	}
	emitLabels(g, runnerSetLabels, &s.ObjectMeta)
	generateScaleSet(g, s)
}

// generateScaleSet emits the series of the scale set of a scale-set
// RunnerSet, and none for another.
func generateScaleSet(g *generator, s *octorunv1alpha1.RunnerSet) {
	if s.Spec.ScaleSet == nil {
		return
	}
	ns, name := s.Namespace, s.Name
	var id string
	if s.Status.ScaleSet != nil && s.Status.ScaleSet.ID != 0 {
		id = strconv.FormatInt(s.Status.ScaleSet.ID, 10)
	}
	g.gauge(runnerSetScaleSetInfo, 1, nil, ns, name, s.ScaleSetName(), id, s.ScaleSetRunnerGroup())
	if st := s.Status.ScaleSet; st != nil {
		g.gauge(runnerSetScaleSetAssignedJobs, float64(st.AssignedJobs), nil, ns, name)
		g.gauge(runnerSetScaleSetRunningJobs, float64(st.RunningJobs), nil, ns, name)
	}
}
