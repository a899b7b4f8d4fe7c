package statemetrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

const (
	benchRunners    = 10000
	benchRunnerSets = 100
	benchNamespaces = 10
)

// benchCollector returns a Collector whose listers hold 10,000 Runners, in
// 100 RunnerSets over 10 namespaces, each Runner with a few labels, an
// owner, a phase and three conditions.
func benchCollector(b *testing.B) *Collector {
	phases := runnerPhases[:]
	var runners []*octorunv1alpha1.Runner
	var sets []*octorunv1alpha1.RunnerSet
	for i := range benchRunnerSets {
		ns := fmt.Sprintf("team-%d", i%benchNamespaces)
		setName := fmt.Sprintf("set-%d", i)
		sets = append(sets, testRunnerSet(setName, busySet, func(s *octorunv1alpha1.RunnerSet) {
			s.Namespace = ns
			s.Labels = map[string]string{"app.kubernetes.io/name": "runners", "team": ns}
			s.Status.Conditions = []metav1.Condition{
				condition(octorunv1alpha1.RunnerSetConditionRunnerFailure, metav1.ConditionFalse),
				condition(octorunv1alpha1.RunnerSetConditionScaleDownBlocked, metav1.ConditionFalse),
			}
		}))
		for j := range benchRunners / benchRunnerSets {
			runners = append(runners, testRunner(fmt.Sprintf("%s-%05d", setName, j),
				withOwner(runnerSetOwner(setName, true)),
				withPhase(phases[j%len(phases)]),
				withLabels(map[string]string{
					octorunv1alpha1.LabelRunnerSet: setName,
					"app.kubernetes.io/name":       "runner",
					"team":                         ns,
				}),
				withConditions(
					condition(octorunv1alpha1.RunnerConditionRegistered, metav1.ConditionTrue),
					condition(octorunv1alpha1.RunnerConditionPodReady, metav1.ConditionTrue),
					condition(octorunv1alpha1.RunnerConditionJobAssigned, metav1.ConditionFalse),
				),
				func(r *octorunv1alpha1.Runner) {
					r.Namespace = ns
					r.Spec.ID, r.Spec.OS = int64(i*1000+j+1), "Linux"
				}))
		}
	}
	return newCollector(b, runners, sets, Options{QueuedJobs: QueuedJobsFunc(func(*octorunv1alpha1.RunnerSet) (int, bool) { return 3, true })})
}

// BenchmarkScrape measures one scrape of the state metrics of 10,000
// Runners and 100 RunnerSets (some 170,000 series), as served:
//   - Handler: the endpoint cmd/octorun serves, text written straight from
//     the listers (plain, and gzip-compressed as Prometheus asks for);
//   - Registry: the Collector registered on a registry served by promhttp,
//     i.e. Collect, Gather's checks and sorting, and expfmt's encoding.
func BenchmarkScrape(b *testing.B) {
	c := benchCollector(b)
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	for _, bc := range []struct {
		name           string
		handler        http.Handler
		acceptEncoding string
	}{
		{name: "Handler", handler: Handler(prometheus.NewRegistry(), c)},
		{name: "Handler/gzip", handler: Handler(prometheus.NewRegistry(), c), acceptEncoding: "gzip"},
		{name: "Registry", handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{DisableCompression: true})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			if bc.acceptEncoding != "" {
				req.Header.Set("Accept-Encoding", bc.acceptEncoding)
			}
			var w *discardResponse
			b.ReportAllocs()
			for b.Loop() {
				w = &discardResponse{header: http.Header{}}
				bc.handler.ServeHTTP(w, req)
				if w.code != 0 && w.code != http.StatusOK {
					b.Fatalf("Scrape answered %d", w.code)
				}
			}
			b.ReportMetric(float64(w.bytes), "bytes/scrape")
		})
	}
}

// BenchmarkCollect measures Collect alone, the Collector's share of a
// Registry scrape.
func BenchmarkCollect(b *testing.B) {
	c := benchCollector(b)
	b.ReportAllocs()
	for b.Loop() {
		ch := make(chan prometheus.Metric, 1024)
		done := make(chan struct{})
		go func() {
			for range ch {
			}
			close(done)
		}()
		c.Collect(ch)
		close(ch)
		<-done
	}
}

// discardResponse is an http.ResponseWriter that counts and drops the body.
type discardResponse struct {
	header http.Header
	code   int
	bytes  int
}

func (w *discardResponse) Header() http.Header  { return w.header }
func (w *discardResponse) WriteHeader(code int) { w.code = code }
func (w *discardResponse) Write(p []byte) (int, error) {
	w.bytes += len(p)
	return len(p), nil
}
