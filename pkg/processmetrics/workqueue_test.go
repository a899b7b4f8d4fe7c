package processmetrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/client-go/util/workqueue"
)

// noDelay is a rate limiter that re-adds at once, so retries show without
// waiting.
type noDelay struct{}

func (noDelay) When(string) time.Duration { return 0 }
func (noDelay) Forget(string)             {}
func (noDelay) NumRequeues(string) int    { return 0 }

func TestWorkqueueMetrics(t *testing.T) {
	m := newWorkqueueMetrics()
	q := workqueue.NewTypedRateLimitingQueueWithConfig[string](noDelay{},
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "runner", MetricsProvider: m})
	defer q.ShutDown()

	q.Add("a")
	q.Add("b")
	item, _ := q.Get()
	q.Done(item)
	q.AddRateLimited("c")

	const want = `
# HELP octorun_workqueue_adds_total Total number of adds handled by a workqueue.
# TYPE octorun_workqueue_adds_total counter
octorun_workqueue_adds_total{name="runner"} 3
# HELP octorun_workqueue_depth Current depth of a workqueue: items waiting to be processed.
# TYPE octorun_workqueue_depth gauge
octorun_workqueue_depth{name="runner"} 2
# HELP octorun_workqueue_retries_total Total number of retries (rate-limited re-adds) handled by a workqueue.
# TYPE octorun_workqueue_retries_total counter
octorun_workqueue_retries_total{name="runner"} 1
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(want),
		"octorun_workqueue_adds_total", "octorun_workqueue_depth", "octorun_workqueue_retries_total"); err != nil {
		t.Error(err)
	}
	for _, name := range []string{
		"octorun_workqueue_queue_duration_seconds", "octorun_workqueue_work_duration_seconds",
		"octorun_workqueue_unfinished_work_seconds", "octorun_workqueue_longest_running_processor_seconds",
	} {
		if n := testutil.CollectAndCount(m, name); n != 1 {
			t.Errorf("%s has %d series, want 1 (the queue's)", name, n)
		}
	}
	problems, err := testutil.CollectAndLint(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// TestRegisterWorkqueueMetrics sets the process's workqueue metrics
// provider, which client-go allows once: no other test may.
func TestRegisterWorkqueueMetrics(t *testing.T) {
	reg := NewRegistry()
	if err := RegisterWorkqueueMetrics(reg); err != nil {
		t.Fatalf("RegisterWorkqueueMetrics: %v", err)
	}
	if err := RegisterWorkqueueMetrics(reg); err == nil {
		t.Error("Registering the workqueue metrics twice on one registry did not fail")
	}
	other := prometheus.NewRegistry()
	if err := RegisterWorkqueueMetrics(other); err != nil {
		t.Fatalf("RegisterWorkqueueMetrics on a second registry: %v", err)
	}

	named := workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[string]{Name: "registered"})
	defer named.ShutDown()
	named.Add("x")
	unnamed := workqueue.NewTyped[string]()
	defer unnamed.ShutDown()
	unnamed.Add("y")

	const want = `
# HELP octorun_workqueue_adds_total Total number of adds handled by a workqueue.
# TYPE octorun_workqueue_adds_total counter
octorun_workqueue_adds_total{name="registered"} 1
`
	for name, g := range map[string]prometheus.Gatherer{"the registry": reg, "the second registry": other} {
		if err := testutil.GatherAndCompare(g, strings.NewReader(want), "octorun_workqueue_adds_total"); err != nil {
			t.Errorf("On %s: %v", name, err)
		}
	}
}
