// Package statemetrics exports the state of Runners and RunnerSets as
// Prometheus metrics, in the manner of kube-state-metrics, read from the
// informers' listers at scrape time: a scrape never calls the API server.
//
// Runner metrics carry the labels namespace and runner first, RunnerSet
// metrics namespace and runnerset. Facts are "_info" series of value 1,
// phases and conditions are state sets (one series per possible value, 1 for
// the current one and 0 for the others), timestamps are Unix seconds, and a
// field that is not set has no series. No total or ratio is computed here:
// sums and ratios are PromQL's job, where a ratio can be defined at 0. The
// metrics are documented in docs/metrics.md.
//
// Collector (New) is a prometheus.Collector of these metrics. Handler
// serves the same metrics on Octorun's endpoint, written as text straight
// from the listers, after the process metrics of a registry (package
// processmetrics). The package is this collector over listers and nothing
// else.
package statemetrics
