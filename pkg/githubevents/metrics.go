package githubevents

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of a delivery, the result label of
// octorun_githubevents_deliveries_total.
const (
	// ResultAccepted: a workflow_job delivery was validated and queued (202).
	ResultAccepted = "accepted"
	// ResultPing: GitHub's ping was answered (200).
	ResultPing = "ping"
	// ResultIgnored: an event or action the receiver has no use for was
	// acknowledged (200).
	ResultIgnored = "ignored"
	// ResultDuplicate: a delivery seen before was acknowledged again (200).
	ResultDuplicate = "duplicate"
	// ResultReplayed: a delivery whose body came before under another
	// X-GitHub-Delivery, a replay, was acknowledged and dropped (200).
	ResultReplayed = "replayed"
	// ResultUnauthorized: the signature was missing, not SHA-256, or wrong
	// (401).
	ResultUnauthorized = "unauthorized"
	// ResultUnsupportedMediaType: the body was not application/json (415).
	ResultUnsupportedMediaType = "unsupported_media_type"
	// ResultTooLarge: the body exceeded the size limit (413).
	ResultTooLarge = "too_large"
	// ResultBadRequest: a header was missing, the body unreadable or the
	// payload malformed (400).
	ResultBadRequest = "bad_request"
	// ResultMethodNotAllowed: not a POST (405).
	ResultMethodNotAllowed = "method_not_allowed"
	// ResultQueueFull: the work queue was full; GitHub records a failed
	// delivery (503).
	ResultQueueFull = "queue_full"
	// ResultStoreFailed: the job's state could not be stored; GitHub
	// records a failed delivery (503).
	ResultStoreFailed = "store_failed"
)

// Results of the processing of a workflow_job, the result label of
// octorun_githubevents_jobs_total.
const (
	// JobRecorded: the Sink recorded the start or completion on a runner of
	// Octorun.
	JobRecorded = "recorded"
	// JobUnknownRunner: the job ran on a runner that is not Octorun's.
	JobUnknownRunner = "unknown_runner"
	// JobNoRunner: the job completed without a runner (cancelled while
	// queued).
	JobNoRunner = "no_runner"
	// JobFailed: the Sink failed, even after retries.
	JobFailed = "failed"
	// JobCounted: a queued job is counted as demand.
	JobCounted = "counted"
	// JobNotCounted: a queued job is not counted: it started or completed
	// already, is too old, has no labels, or the store is full; or a job
	// waits for an environment's approval.
	JobNotCounted = "not_counted"
)

// metrics are the Receiver's Prometheus metrics. None has an object name as
// a label; event and action values are GitHub's, bounded.
type metrics struct {
	deliveries *prometheus.CounterVec
	jobs       *prometheus.CounterVec
	processing *prometheus.HistogramVec
	queueDepth prometheus.GaugeFunc
	queuedJobs prometheus.GaugeFunc
}

func newMetrics(queueDepth, queuedJobs func() float64) *metrics {
	return &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "octorun_githubevents_deliveries_total",
			Help: "GitHub webhook deliveries received, by event, action and result. Event and action are empty for deliveries rejected before their signature was verified.",
		}, []string{"event", "action", "result"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "octorun_githubevents_jobs_total",
			Help: "workflow_job events processed, by action and result.",
		}, []string{"action", "result"}),
		processing: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "octorun_githubevents_processing_seconds",
			Help:    "Time from the acceptance of a workflow_job delivery to the end of its processing (queueing included), by action.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"action"}),
		queueDepth: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "octorun_githubevents_queue_depth",
			Help: "workflow_job deliveries accepted and waiting to be processed.",
		}, queueDepth),
		queuedJobs: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "octorun_githubevents_queued_jobs",
			Help: "Jobs GitHub reported queued, and not yet started, completed or 24 hours old.",
		}, queuedJobs),
	}
}

func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.deliveries, m.jobs, m.processing, m.queueDepth, m.queuedJobs} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("registering the GitHub webhook metrics: %w", err)
	}
	return nil
}
