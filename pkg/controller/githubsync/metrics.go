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

func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.syncs, m.actions, m.duration} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("registering the GitHub sync metrics: %w", err)
	}
	return nil
}
