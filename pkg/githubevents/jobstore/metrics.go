package jobstore

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons of a write, the reason label of octorun_jobstore_writes_total.
const (
	reasonCommit = "commit"
	reasonPrune  = "prune"
)

// metrics are the Store's Prometheus metrics.
type metrics struct {
	writes    *prometheus.CounterVec
	batchKeys prometheus.Histogram
}

func newMetrics() *metrics {
	return &metrics{
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "octorun_jobstore_writes_total",
			Help: "Writes (patches and creates) of the job store's ConfigMaps, by reason (commit or prune) and result (success or error).",
		}, []string{"reason", "result"}),
		batchKeys: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "octorun_jobstore_batch_keys",
			Help:    "Keys written by one group commit of the job store (one per webhook delivery, duplicates merged).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
	}
}

func (m *metrics) observePatch(reason string, err error) {
	result := "success"
	if err != nil {
		result = "error"
	}
	m.writes.WithLabelValues(reason, result).Inc()
}

func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.writes, m.batchKeys} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("registering the job store metrics: %w", err)
	}
	return nil
}
