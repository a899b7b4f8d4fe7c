package githubsync

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of a scope's sync, the result label of
// octorun_githubsync_scope_syncs_total.
const (
	resultSynced      = "synced"
	resultError       = "error"
	resultRateLimited = "rate_limited"
	resultDeferred    = "deferred"
)

// Actions of the sync, the action label of octorun_githubsync_actions_total.
const (
	actionMarkBusy       = "mark_busy"
	actionDeleteVanished = "delete_vanished"
	actionDeleteOrphan   = "delete_orphan"
)

type metrics struct {
	syncs    *prometheus.CounterVec
	actions  *prometheus.CounterVec
	duration prometheus.Histogram
}

func newMetrics() *metrics {
	return &metrics{
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "octorun_githubsync_scope_syncs_total",
			Help: "Syncs of a scope's runners with GitHub, by result: synced, error, rate_limited (GitHub said wait), deferred (skipped while waiting).",
		}, []string{"result"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "octorun_githubsync_actions_total",
			Help: "Corrections made by the GitHub sync, by action: mark_busy (a job hint written), delete_vanished (a Runner whose registration is gone deleted), delete_orphan (a GitHub runner without a Runner removed).",
		}, []string{"action"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "octorun_githubsync_scope_sync_duration_seconds",
			Help:    "Duration of the sync of one scope's runners with GitHub.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}),
	}
}

// register registers the metrics on reg. A sync made for a later term of
// leadership finds them registered by an earlier one, and counts on.
func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	err := errors.Join(reuse(reg, &m.syncs), reuse(reg, &m.actions), reuse(reg, &m.duration))
	if err != nil {
		return fmt.Errorf("registering the GitHub sync metrics: %w", err)
	}
	return nil
}

// reuse registers *c on reg, or, when reg has an equal collector already,
// makes *c that collector.
func reuse[T prometheus.Collector](reg prometheus.Registerer, c *T) error {
	err := reg.Register(*c)
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(T); ok {
			*c = existing
			return nil
		}
	}
	return err
}
