package processmetrics

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/tools/metrics"
)

// clientMetrics are client-go's REST client metrics, named, labelled and
// bucketed as k8s.io/component-base's rest_client_* (those of
// kube-controller-manager and most controllers), so that their dashboards
// and alerts work on Octorun unchanged. Only the request count, the request
// duration and the client-side throttling are kept.
type clientMetrics struct {
	requests            *prometheus.CounterVec
	requestDuration     *prometheus.HistogramVec
	rateLimiterDuration *prometheus.HistogramVec
}

var _ prometheus.Collector = (*clientMetrics)(nil)

func newClientMetrics() *clientMetrics {
	verbHost := []string{"verb", "host"}
	// component-base's buckets: 5 ms to 60 s.
	buckets := []float64{0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60}
	return &clientMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rest_client_requests_total",
			Help: "Number of HTTP requests, partitioned by status code, method, and host.",
		}, []string{"code", "method", "host"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rest_client_request_duration_seconds",
			Help:    "Request latency in seconds. Broken down by verb, and host.",
			Buckets: buckets,
		}, verbHost),
		rateLimiterDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rest_client_rate_limiter_duration_seconds",
			Help:    "Client side rate limiter latency in seconds. Broken down by verb, and host.",
			Buckets: buckets,
		}, verbHost),
	}
}

func (m *clientMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.requestDuration, m.rateLimiterDuration}
}

// Describe implements prometheus.Collector.
func (m *clientMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *clientMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

// registerOpts returns the adapters that feed m from client-go.
func (m *clientMetrics) registerOpts() metrics.RegisterOpts {
	return metrics.RegisterOpts{
		RequestResult:      resultAdapter{m.requests},
		RequestLatency:     latencyAdapter{m.requestDuration},
		RateLimiterLatency: latencyAdapter{m.rateLimiterDuration},
	}
}

// resultAdapter counts requests by response code (or "<error>" when no
// response came), method and host.
type resultAdapter struct{ m *prometheus.CounterVec }

var _ metrics.ResultMetric = resultAdapter{}

// Increment implements metrics.ResultMetric.
func (a resultAdapter) Increment(_ context.Context, code, method, host string) {
	a.m.WithLabelValues(code, method, host).Inc()
}

// latencyAdapter observes a duration by verb and host. client-go passes the
// URL with its names and namespaces templated away; only its host is kept, as
// component-base does, so the series do not grow with the objects.
type latencyAdapter struct{ m *prometheus.HistogramVec }

var _ metrics.LatencyMetric = latencyAdapter{}

// Observe implements metrics.LatencyMetric.
func (a latencyAdapter) Observe(_ context.Context, verb string, u url.URL, latency time.Duration) {
	a.m.WithLabelValues(verb, u.Host).Observe(latency.Seconds())
}

var (
	processClientMetricsOnce sync.Once
	processClientMetrics     *clientMetrics
	processClientMetricsErr  error
)

// RegisterClientMetrics registers client-go's REST client metrics on reg:
// rest_client_requests_total{code,method,host},
// rest_client_request_duration_seconds{verb,host} and
// rest_client_rate_limiter_duration_seconds{verb,host}, the time requests
// waited for client-side throttling (the QPS and Burst of the rest.Config).
// They have the names and labels of k8s.io/component-base's, without
// Octorun's prefix. The metrics are the process's: registering them on a
// second registry shows the same values.
//
// client-go takes its metrics once per process (metrics.Register), like the
// workqueue provider: if anything registered them before (e.g. by importing
// k8s.io/component-base/metrics/prometheus/restclient), client-go keeps
// those and RegisterClientMetrics returns an error, every time.
func RegisterClientMetrics(reg prometheus.Registerer) error {
	processClientMetricsOnce.Do(func() {
		processClientMetrics = newClientMetrics()
		opts := processClientMetrics.registerOpts()
		metrics.Register(opts)
		if metrics.RequestResult != opts.RequestResult {
			processClientMetricsErr = errors.New("client-go's REST client metrics were registered before, by another package")
		}
	})
	if processClientMetricsErr != nil {
		return processClientMetricsErr
	}
	return reg.Register(processClientMetrics)
}
