package statemetrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	listers "github.com/octorun/octorun/pkg/generated/listers/octorun/v1alpha1"
)

// QueuedJobs tells how many GitHub jobs wait for a runner of a RunnerSet.
// cmd/octorun implements it with the GitHub events receiver, from the
// RunnerSet's template (its URL and runner labels). It is called at every
// scrape, once per RunnerSet, possibly from several scrapes at once: it must
// be cheap and safe for concurrent use.
type QueuedJobs interface {
	// QueuedJobs returns the number of jobs queued on GitHub that the
	// runners of set could run, and false when it does not know (e.g.
	// before the receiver caught up), in which case no series is
	// exported: an autoscaler then holds instead of scaling to zero. set
	// comes from the lister and must not be changed.
	QueuedJobs(set *octorunv1alpha1.RunnerSet) (jobs int, known bool)
}

// QueuedJobsFunc adapts a function to QueuedJobs.
type QueuedJobsFunc func(set *octorunv1alpha1.RunnerSet) (jobs int, known bool)

// QueuedJobs calls f.
func (f QueuedJobsFunc) QueuedJobs(set *octorunv1alpha1.RunnerSet) (int, bool) {
	return f(set)
}

// Options are the optional parts of a Collector.
type Options struct {
	// QueuedJobs is the source of octorun_runnerset_queued_jobs; nil means
	// the metric is not exported.
	QueuedJobs QueuedJobs
}

// Collector exports the state of Runners and RunnerSets, read from listers
// at scrape time. It is a prometheus.Collector; Handler serves the same
// metrics faster, as text written straight from the listers.
type Collector struct {
	runners    listers.RunnerLister
	runnerSets listers.RunnerSetLister
	queuedJobs QueuedJobs
}

var _ prometheus.Collector = (*Collector)(nil)

// New returns a Collector reading Runners and RunnerSets from the given
// listers, which the caller's informers keep in sync.
func New(runners listers.RunnerLister, runnerSets listers.RunnerSetLister, opts Options) *Collector {
	return &Collector{runners: runners, runnerSets: runnerSets, queuedJobs: opts.QueuedJobs}
}

// Describe sends the descriptors of every metric the Collector exports. The
// _labels families are described with their fixed labels only: their
// label_* labels depend on the objects.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range families {
		if f == runnerSetQueuedJobs && c.queuedJobs == nil {
			continue
		}
		ch <- f.desc
	}
}

// Collect sends the metrics of every Runner and RunnerSet in the listers.
// A lister error is sent as an invalid metric, which fails the scrape.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	e := &metricEmitter{ch: ch, descs: make(map[string]*prometheus.Desc)}
	if err := c.generate(e); err != nil {
		ch <- prometheus.NewInvalidMetric(runnerInfo.desc, err)
	}
}

// generate emits the series of every object in the listers.
func (c *Collector) generate(e emitter) error {
	g := &generator{e: e}
	if err := c.generateRunners(g); err != nil {
		return err
	}
	return c.generateRunnerSets(g)
}

// metricEmitter turns series into client_golang const metrics.
type metricEmitter struct {
	ch chan<- prometheus.Metric
	// descs holds, for one scrape, the descriptors of the _labels
	// families by name and label names, so objects with the same label
	// keys share one.
	descs map[string]*prometheus.Desc
}

func (e *metricEmitter) gauge(f *family, value float64, extraLabels []string, labelValues []string) {
	desc := f.desc
	if len(extraLabels) > 0 {
		desc = e.labelsDesc(f, extraLabels)
	}
	for i, v := range labelValues {
		labelValues[i] = validUTF8(v)
	}
	m, err := prometheus.NewConstMetric(desc, prometheus.GaugeValue, value, labelValues...)
	if err != nil {
		// Cannot happen with valid label names and values; fail the
		// scrape, not the process.
		m = prometheus.NewInvalidMetric(desc, err)
	}
	e.ch <- m
}

func (e *metricEmitter) labelsDesc(f *family, extraLabels []string) *prometheus.Desc {
	key := f.name + "{" + strings.Join(extraLabels, ",")
	if desc, ok := e.descs[key]; ok {
		return desc
	}
	names := make([]string, 0, len(f.labels)+len(extraLabels))
	names = append(append(names, f.labels...), extraLabels...)
	desc := prometheus.NewDesc(f.name, f.help, names, nil)
	e.descs[key] = desc
	return desc
}

// conditionStatuses are the values of the status label of the
// _status_condition state sets, as kube-state-metrics spells them.
var conditionStatuses = [...]struct {
	status metav1.ConditionStatus
	label  string
}{
	{metav1.ConditionTrue, "true"},
	{metav1.ConditionFalse, "false"},
	{metav1.ConditionUnknown, "unknown"},
}

// emitConditions emits the state set of every condition type in
// conditions: three series (true, false, unknown), the one of the current
// status 1. A status outside the three gives three 0s. A repeated type
// (which the API server's list-map validation forbids) is emitted once,
// its first entry winning, so a scrape never has duplicate series.
func emitConditions(g *generator, f *family, namespace, name string, conditions []metav1.Condition) {
	for i, cond := range conditions {
		if seenConditionType(conditions[:i], cond.Type) {
			continue
		}
		for _, s := range conditionStatuses {
			g.gauge(f, boolFloat64(cond.Status == s.status), nil, namespace, name, cond.Type, s.label)
		}
	}
}

func seenConditionType(conditions []metav1.Condition, conditionType string) bool {
	for _, c := range conditions {
		if c.Type == conditionType {
			return true
		}
	}
	return false
}

// emitCreated emits the creation timestamp in Unix seconds, unless it is
// not set.
func emitCreated(g *generator, f *family, meta *metav1.ObjectMeta) {
	if meta.CreationTimestamp.IsZero() {
		return
	}
	g.gauge(f, float64(meta.CreationTimestamp.Unix()), nil, meta.Namespace, meta.Name)
}

// emitLabels emits the _labels series of an object: value 1, its Kubernetes
// labels as label_* labels after the fixed ones.
func emitLabels(g *generator, f *family, meta *metav1.ObjectMeta) {
	names, values := promLabels(meta.Labels)
	g.values = append(append(g.values[:0], meta.Namespace, meta.Name), values...)
	g.e.gauge(f, 1, names, g.values)
}
