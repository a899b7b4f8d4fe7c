package statemetrics

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	listers "github.com/octorun/octorun/pkg/generated/listers/octorun/v1alpha1"
)

// everything is a world with every field of every state metric set.
func everything(t testing.TB) *Collector {
	runners := []*octorunv1alpha1.Runner{
		testRunner("set-a", withOwner(runnerSetOwner("set", true)), withPhase(octorunv1alpha1.RunnerPhaseActive),
			withLabels(map[string]string{octorunv1alpha1.LabelRunnerSet: "set", "a.b": "1", "a_b": "2"}),
			withConditions(
				condition(octorunv1alpha1.RunnerConditionRegistered, metav1.ConditionTrue),
				condition(octorunv1alpha1.RunnerConditionPodReady, metav1.ConditionTrue),
				condition(octorunv1alpha1.RunnerConditionJobAssigned, metav1.ConditionTrue),
			),
			func(r *octorunv1alpha1.Runner) { r.Spec.ID, r.Spec.OS = 7, "Linux" }),
		testRunner("new"),
	}
	sets := []*octorunv1alpha1.RunnerSet{
		testRunnerSet("set", busySet, func(s *octorunv1alpha1.RunnerSet) {
			s.Labels = map[string]string{"team": "ci"}
			s.Status.Conditions = []metav1.Condition{condition(octorunv1alpha1.RunnerSetConditionRunnerFailure, metav1.ConditionFalse)}
		}),
		testRunnerSet("scale", busySet, listeningScaleSet),
	}
	return newCollector(t, runners, sets, Options{QueuedJobs: queuedJobs{"ns/set": 3, "ns/scale": 0}})
}

func TestLint(t *testing.T) {
	problems, err := testutil.CollectAndLint(everything(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// TestEveryFamily checks that a full world exports exactly the families of
// the issue, each described.
func TestEveryFamily(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	c := everything(t)
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range families {
		got = append(got, f.GetName())
	}
	want := []string{
		"octorun_runner_created", "octorun_runner_info", "octorun_runner_labels",
		"octorun_runner_status_condition", "octorun_runner_status_phase",
		"octorun_runnerset_created", "octorun_runnerset_labels", "octorun_runnerset_metadata_generation",
		"octorun_runnerset_queued_jobs", "octorun_runnerset_scaleset_assigned_jobs", "octorun_runnerset_scaleset_info",
		"octorun_runnerset_scaleset_running_jobs", "octorun_runnerset_spec_runners", "octorun_runnerset_status_active_runners",
		"octorun_runnerset_status_condition", "octorun_runnerset_status_idle_runners",
		"octorun_runnerset_status_observed_generation", "octorun_runnerset_status_runners",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Families:\n got %v\nwant %v", got, want)
	}

	ch := make(chan *prometheus.Desc, 100)
	c.Describe(ch)
	close(ch)
	if len(ch) != len(want) {
		t.Errorf("Describe sent %d descriptors, want %d", len(ch), len(want))
	}
}

// failingLister fails every List.
type failingLister struct {
	listers.RunnerLister
	listers.RunnerSetLister
}

func (failingLister) List(labels.Selector) ([]*octorunv1alpha1.Runner, error) {
	return nil, errors.New("cache gone")
}

type failingSetLister struct{ listers.RunnerSetLister }

func (failingSetLister) List(labels.Selector) ([]*octorunv1alpha1.RunnerSet, error) {
	return nil, errors.New("cache gone")
}

// TestScrapeErrors checks that a lister error fails the scrape with an
// error.
func TestScrapeErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		collector func(t *testing.T) *Collector
		wantErr   string
	}{
		{
			name: "Runner lister fails",
			collector: func(t *testing.T) *Collector {
				return New(failingLister{}, newCollector(t, nil, nil, Options{}).runnerSets, Options{})
			},
			wantErr: "listing Runners: cache gone",
		},
		{
			name: "RunnerSet lister fails",
			collector: func(t *testing.T) *Collector {
				return New(newCollector(t, nil, nil, Options{}).runners, failingSetLister{}, Options{})
			},
			wantErr: "listing RunnerSets: cache gone",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(tc.collector(t))
			_, err := reg.Gather()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Gather error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
