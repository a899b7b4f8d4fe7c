// Package processmetrics holds Octorun's process metrics, as
// k8s.io/component-base keeps kube-controller-manager's: the registry with
// the Go runtime and process collectors, client-go's workqueue metrics and
// its REST client metrics. The state of Runners and RunnerSets is package
// statemetrics'; the GitHub client and the webhook receiver register their
// own metrics on the registry.
package processmetrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewRegistry returns a registry holding the Go runtime and process
// collectors (go_*, process_*). cmd/octorun registers the other process
// metrics on it: the client-go workqueue metrics (RegisterWorkqueueMetrics),
// the Kubernetes client's (RegisterClientMetrics), the GitHub client's
// (github.NewMetrics) and the webhook deliveries', and serves it with the
// state metrics through statemetrics.Handler.
//
// The state Collector is a prometheus.Collector too and may be registered
// on a registry served by promhttp instead (reg.MustRegister(c)); that is
// simpler but some thirty times slower per scrape at 10,000 Runners.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}
