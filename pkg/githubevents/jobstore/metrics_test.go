package jobstore

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetricsLint: the metrics follow Prometheus' conventions, and a
// commit is counted.
func TestMetricsLint(t *testing.T) {
	client, _ := newFakeClient()
	reg := prometheus.NewRegistry()
	s := startStore(t, client, func(o *Options) { o.Registerer = reg })
	if err := s.Finished(context.Background(), 1, testNow); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	// The ConfigMap is made by a failed patch and a create.
	if got := testutil.ToFloat64(s.metrics.writes.WithLabelValues(reasonCommit, "success")); got != 1 {
		t.Errorf("Successful commit writes = %v, want 1", got)
	}
	if _, err := New(client, Options{Namespace: testNamespace, Registerer: reg}); err == nil {
		t.Error("A second store registered its metrics on the same registry")
	}
}
