package processmetrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
)

// workqueueMetrics are client-go's workqueue metrics, named and shaped as
// kube-controller-manager's workqueue_* (k8s.io/component-base), under
// Octorun's prefix and with the queue's name as the label name.
type workqueueMetrics struct {
	depth                   *prometheus.GaugeVec
	adds                    *prometheus.CounterVec
	latency                 *prometheus.HistogramVec
	workDuration            *prometheus.HistogramVec
	unfinishedWork          *prometheus.GaugeVec
	longestRunningProcessor *prometheus.GaugeVec
	retries                 *prometheus.CounterVec
}

var (
	_ workqueue.MetricsProvider = (*workqueueMetrics)(nil)
	_ prometheus.Collector      = (*workqueueMetrics)(nil)
)

func newWorkqueueMetrics() *workqueueMetrics {
	const namespace, subsystem = "octorun", "workqueue"
	name := []string{"name"}
	// kube-controller-manager's buckets: 10ns to 10s.
	buckets := prometheus.ExponentialBuckets(10e-9, 10, 10)
	return &workqueueMetrics{
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "depth",
			Help: "Current depth of a workqueue: items waiting to be processed.",
		}, name),
		adds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "adds_total",
			Help: "Total number of adds handled by a workqueue.",
		}, name),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "queue_duration_seconds",
			Help:    "How long in seconds an item stays in a workqueue before being requested.",
			Buckets: buckets,
		}, name),
		workDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "work_duration_seconds",
			Help:    "How long in seconds processing an item from a workqueue takes.",
			Buckets: buckets,
		}, name),
		unfinishedWork: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "unfinished_work_seconds",
			Help: "Seconds of work in progress in a workqueue not yet observed by work_duration_seconds. " +
				"Large values indicate stuck workers; the rate at which it grows tells how many.",
		}, name),
		longestRunningProcessor: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "longest_running_processor_seconds",
			Help: "How many seconds the longest running worker of a workqueue has been processing its item.",
		}, name),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "retries_total",
			Help: "Total number of retries (rate-limited re-adds) handled by a workqueue.",
		}, name),
	}
}

func (m *workqueueMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		m.depth, m.adds, m.latency, m.workDuration, m.unfinishedWork, m.longestRunningProcessor, m.retries,
	}
}

// Describe implements prometheus.Collector.
func (m *workqueueMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *workqueueMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

// NewDepthMetric implements workqueue.MetricsProvider.
func (m *workqueueMetrics) NewDepthMetric(name string) workqueue.GaugeMetric {
	return m.depth.WithLabelValues(name)
}

// NewAddsMetric implements workqueue.MetricsProvider.
func (m *workqueueMetrics) NewAddsMetric(name string) workqueue.CounterMetric {
	return m.adds.WithLabelValues(name)
}

// NewLatencyMetric implements workqueue.MetricsProvider.
func (m *workqueueMetrics) NewLatencyMetric(name string) workqueue.HistogramMetric {
	return m.latency.WithLabelValues(name)
}

// NewWorkDurationMetric implements workqueue.MetricsProvider.
func (m *workqueueMetrics) NewWorkDurationMetric(name string) workqueue.HistogramMetric {
	return m.workDuration.WithLabelValues(name)
}

// NewUnfinishedWorkSecondsMetric implements workqueue.MetricsProvider.
func (m *workqueueMetrics) NewUnfinishedWorkSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return m.unfinishedWork.WithLabelValues(name)
}

// NewLongestRunningProcessorSecondsMetric implements
// workqueue.MetricsProvider.
func (m *workqueueMetrics) NewLongestRunningProcessorSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return m.longestRunningProcessor.WithLabelValues(name)
}

// NewRetriesMetric implements workqueue.MetricsProvider.
func (m *workqueueMetrics) NewRetriesMetric(name string) workqueue.CounterMetric {
	return m.retries.WithLabelValues(name)
}

var (
	processWorkqueueMetricsOnce sync.Once
	processWorkqueueMetrics     *workqueueMetrics
)

// RegisterWorkqueueMetrics registers the octorun_workqueue_* metrics on reg
// and makes them the metrics of every named workqueue created afterwards in
// the process (workqueue.SetProvider); unnamed queues have none. Call it
// before the controllers create their queues. The metrics are the process's:
// registering them on a second registry shows the same values. client-go
// takes the first provider set in a process only, so nothing else may call
// workqueue.SetProvider before (e.g. by importing
// k8s.io/component-base/metrics/prometheus/workqueue).
func RegisterWorkqueueMetrics(reg prometheus.Registerer) error {
	processWorkqueueMetricsOnce.Do(func() {
		processWorkqueueMetrics = newWorkqueueMetrics()
		workqueue.SetProvider(processWorkqueueMetrics)
	})
	return reg.Register(processWorkqueueMetrics)
}
