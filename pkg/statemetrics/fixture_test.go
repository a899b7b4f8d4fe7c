package statemetrics

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	listers "github.com/octorun/octorun/pkg/generated/listers/octorun/v1alpha1"
)

// created is the creation timestamp of the test objects.
var created = metav1.NewTime(time.Unix(1700000000, 0))

func newIndexer() cache.Indexer {
	return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
}

// newCollector returns a Collector whose listers hold runners and sets,
// seeded directly into their indexers.
func newCollector(t testing.TB, runners []*octorunv1alpha1.Runner, sets []*octorunv1alpha1.RunnerSet, opts Options) *Collector {
	t.Helper()
	runnerIndexer, setIndexer := newIndexer(), newIndexer()
	for _, r := range runners {
		if err := runnerIndexer.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range sets {
		if err := setIndexer.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	return New(listers.NewRunnerLister(runnerIndexer), listers.NewRunnerSetLister(setIndexer), opts)
}

// help holds the expected help of every state metric: the golden files'
// "# HELP" lines.
var help = map[string]string{
	"octorun_runner_info": "Information about a Runner: its GitHub organization or repository URL, runner group, OS, " +
		"GitHub runner ID (empty until registered) and controlling RunnerSet (empty if none). Always 1.",
	"octorun_runner_created": "Unix creation timestamp of a Runner, in seconds.",
	"octorun_runner_status_phase": "The phase of a Runner: 1 for the current one of Pending, Idle, Active, Complete, Failed, 0 for the others. " +
		"No series while the Runner has no phase yet.",
	"octorun_runner_status_condition":              "The status of each condition of a Runner: 1 for the current one of true, false, unknown, 0 for the others.",
	"octorun_runner_labels":                        "The Kubernetes labels of a Runner, as Prometheus labels label_<sanitized key>. Always 1.",
	"octorun_runnerset_spec_runners":               "Number of Runners a RunnerSet wants (spec.runners). No series while spec.runners is not set.",
	"octorun_runnerset_status_runners":             "Number of Runners of a RunnerSet, as last observed by its controller (status.runners).",
	"octorun_runnerset_status_condition":           "The status of each condition of a RunnerSet: 1 for the current one of true, false, unknown, 0 for the others.",
	"octorun_runnerset_status_idle_runners":        "Number of Runners of a RunnerSet that are registered and wait for a job (status.idleRunners).",
	"octorun_runnerset_status_active_runners":      "Number of Runners of a RunnerSet that run a job (status.activeRunners).",
	"octorun_runnerset_created":                    "Unix creation timestamp of a RunnerSet, in seconds.",
	"octorun_runnerset_metadata_generation":        "Sequence number of the desired state of a RunnerSet (metadata.generation).",
	"octorun_runnerset_status_observed_generation": "The generation of a RunnerSet that its controller last acted on (status.observedGeneration).",
	"octorun_runnerset_queued_jobs": "Number of GitHub jobs waiting for a runner of a RunnerSet, as known from GitHub's webhook events. " +
		"No series while that number is not known.",
	"octorun_runnerset_labels": "The Kubernetes labels of a RunnerSet, as Prometheus labels label_<sanitized key>. Always 1.",
	"octorun_runnerset_scaleset_info": "Information about the GitHub runner scale set of a scale-set RunnerSet: its name, " +
		"GitHub scale set ID (empty until created) and runner group. Always 1. No series for other RunnerSets.",
	"octorun_runnerset_scaleset_assigned_jobs": "Number of jobs GitHub has assigned to the runner scale set of a RunnerSet, waiting or running, " +
		"as its last message said (status.scaleSet.assignedJobs). No series while status.scaleSet is not set.",
	"octorun_runnerset_scaleset_running_jobs": "Number of jobs of the runner scale set of a RunnerSet that run, " +
		"as its last message said (status.scaleSet.runningJobs). No series while status.scaleSet is not set.",
}

// golden returns the text exposition of the gauge metric with the given
// series lines; no lines means no series, and then no family either.
func golden(t testing.TB, metric string, series ...string) string {
	t.Helper()
	if len(series) == 0 {
		return ""
	}
	h, ok := help[metric]
	if !ok {
		t.Fatalf("No help for %s in the test", metric)
	}
	return fmt.Sprintf("# HELP %s %s\n# TYPE %s gauge\n%s\n", metric, h, metric, strings.Join(series, "\n"))
}

// compare checks the metric's family collected from c against series.
func compare(t *testing.T, c *Collector, metric string, series ...string) {
	t.Helper()
	if err := testutil.CollectAndCompare(c, strings.NewReader(golden(t, metric, series...)), metric); err != nil {
		t.Error(err)
	}
}

func condition(conditionType string, status metav1.ConditionStatus) metav1.Condition {
	return metav1.Condition{Type: conditionType, Status: status, Reason: "Test", LastTransitionTime: created}
}

// runnerSetOwner is the controller reference a RunnerSet puts on its Runners.
func runnerSetOwner(name string, controller bool) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion: octorunv1alpha1.SchemeGroupVersion.String(), Kind: "RunnerSet", Name: name,
		UID: types.UID("uid-" + name), Controller: &controller,
	}
}
