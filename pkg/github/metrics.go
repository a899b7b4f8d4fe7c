package github

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus metrics of the GitHub client. Create them once
// per process and share them between clients.
type Metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	deferred      *prometheus.CounterVec
	rateLimit     *prometheus.GaugeVec
	rateRemaining *prometheus.GaugeVec
	budgetWait    prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg, unless reg is
// nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "octorun_github_requests_total",
			Help: "GitHub API requests sent, by client operation and HTTP status code (\"error\" when no response came).",
		}, []string{"operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "octorun_github_request_duration_seconds",
			Help:    "Duration of GitHub API requests, by client operation.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}, []string{"operation"}),
		deferred: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "octorun_github_requests_deferred_total",
			Help: "Operations not sent to GitHub because the request budget said wait, by operation and reason.",
		}, []string{"operation", "reason"}),
		rateLimit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "octorun_github_rate_limit_limit",
			Help: "GitHub's primary rate limit (requests per window), by rate-limit resource, as last reported by GitHub.",
		}, []string{"resource"}),
		rateRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "octorun_github_rate_limit_remaining",
			Help: "Requests left in GitHub's primary rate limit window, by rate-limit resource, as last reported by GitHub.",
		}, []string{"resource"}),
		budgetWait: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "octorun_github_budget_wait_seconds_total",
			Help: "Time operations spent waiting for the request budget's pacing.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.deferred, m.rateLimit, m.rateRemaining, m.budgetWait)
	}
	return m
}
