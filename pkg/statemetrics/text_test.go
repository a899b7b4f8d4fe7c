package statemetrics

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	listers "github.com/octorun/octorun/pkg/generated/listers/octorun/v1alpha1"
)

// scrape serves one request through Handler and returns the response.
func scrape(t *testing.T, g prometheus.Gatherer, c *Collector, acceptEncoding string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	rec := httptest.NewRecorder()
	Handler(g, c).ServeHTTP(rec, req)
	return rec.Result()
}

// TestHandlerMatchesCollector checks that the text Handler writes has the
// same families and series as Collect, on worlds exercising every family.
func TestHandlerMatchesCollector(t *testing.T) {
	for _, tc := range []struct {
		name      string
		collector func(t *testing.T) *Collector
	}{
		{name: "every field set", collector: func(t *testing.T) *Collector { return everything(t) }},
		{name: "empty", collector: func(t *testing.T) *Collector { return newCollector(t, nil, nil, Options{}) }},
		{
			name: "odd values and label collisions",
			collector: func(t *testing.T) *Collector {
				r := testRunner("odd", withPhase("Sleeping"), withLabels(map[string]string{"a.b": "x", "a_b": "y", "a-b": ""}),
					withConditions(condition("Registered", "Maybe"), condition("Registered", metav1.ConditionTrue)),
					func(r *octorunv1alpha1.Runner) {
						r.Spec.OS, r.Spec.Group, r.Spec.URL = "Linux\xff", "a \"quoted\\group\"\n", "https://ghe.example.com:8443/o/r"
						r.CreationTimestamp = metav1.Time{}
					})
				set := testRunnerSet("new", func(s *octorunv1alpha1.RunnerSet) { s.Generation = 0 })
				scaleSet := testRunnerSet("scale", func(s *octorunv1alpha1.RunnerSet) {
					s.Spec.ScaleSet = &octorunv1alpha1.RunnerScaleSetSpec{Name: "big\\runners", RunnerGroup: "a \"quoted\\group\"\n\xff"}
				})
				return newCollector(t, []*octorunv1alpha1.Runner{r, testRunner("plain")}, []*octorunv1alpha1.RunnerSet{set, scaleSet},
					Options{QueuedJobs: queuedJobs{}})
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.collector(t)
			resp := scrape(t, prometheus.NewRegistry(), c, "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("Handler answered %s", resp.Status)
			}
			text, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if err := testutil.CollectAndCompare(c, bytes.NewReader(sortLabels(t, text))); err != nil {
				t.Errorf("Collect and Handler differ (- Collect, + Handler):\n%v", err)
			}
		})
	}
}

// sortLabels parses a text exposition and writes it again with the labels
// of each series sorted by name, as Gather sorts them (the text format
// does not).
func sortLabels(t *testing.T, text []byte) []byte {
	t.Helper()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("Parsing the Handler's text: %v", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, name := range slices.Sorted(maps.Keys(mfs)) {
		for _, m := range mfs[name].Metric {
			slices.SortFunc(m.Label, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
		}
		if err := enc.Encode(mfs[name]); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestHandler(t *testing.T) {
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounter(prometheus.CounterOpts{Name: "octorun_test_requests_total", Help: "Requests."})
	requests.Add(3)
	reg.MustRegister(requests)
	c := newCollector(t, []*octorunv1alpha1.Runner{testRunner("r")}, nil, Options{})
	const want = `# HELP octorun_test_requests_total Requests.
# TYPE octorun_test_requests_total counter
octorun_test_requests_total 3
# HELP octorun_runner_info Information about a Runner: its GitHub organization or repository URL, runner group, OS, GitHub runner ID (empty until registered) and controlling RunnerSet (empty if none). Always 1.
# TYPE octorun_runner_info gauge
octorun_runner_info{namespace="ns",runner="r",url="https://github.com/octo",group="Default",os="",id="",runnerset=""} 1
# HELP octorun_runner_created Unix creation timestamp of a Runner, in seconds.
# TYPE octorun_runner_created gauge
octorun_runner_created{namespace="ns",runner="r"} 1.7e+09
# HELP octorun_runner_labels The Kubernetes labels of a Runner, as Prometheus labels label_<sanitized key>. Always 1.
# TYPE octorun_runner_labels gauge
octorun_runner_labels{namespace="ns",runner="r"} 1
`
	for _, tc := range []struct {
		name           string
		acceptEncoding string
		wantGzip       bool
	}{
		{name: "plain"},
		{name: "gzip", acceptEncoding: "gzip", wantGzip: true},
		{name: "gzip among others", acceptEncoding: "br;q=1.0, gzip;q=0.8, *;q=0.1", wantGzip: true},
		{name: "gzip refused", acceptEncoding: "gzip;q=0, identity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Twice, so the second scrape reuses the first one's buffers.
			for range 2 {
				resp := scrape(t, reg, c, tc.acceptEncoding)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("Handler answered %s", resp.Status)
				}
				if got, want := resp.Header.Get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8"; !strings.HasPrefix(got, want) {
					t.Errorf("Content-Type = %q, want %q", got, want)
				}
				body := resp.Body
				if gotGzip := resp.Header.Get("Content-Encoding") == "gzip"; gotGzip != tc.wantGzip {
					t.Fatalf("Content-Encoding = %q, want gzip %v", resp.Header.Get("Content-Encoding"), tc.wantGzip)
				}
				if tc.wantGzip {
					gz, err := gzip.NewReader(body)
					if err != nil {
						t.Fatal(err)
					}
					body = gz
				}
				text, err := io.ReadAll(body)
				if err != nil {
					t.Fatal(err)
				}
				if string(text) != want {
					t.Errorf("Body:\n%s\nwant:\n%s", text, want)
				}
			}
		})
	}
}

// failingGatherer fails every Gather.
type failingGatherer struct{}

func (failingGatherer) Gather() ([]*dto.MetricFamily, error) { return nil, errors.New("gone") }

func TestHandlerErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		gatherer prometheus.Gatherer
		c        func(t *testing.T) *Collector
		wantBody string
	}{
		{
			name:     "gatherer fails",
			gatherer: failingGatherer{},
			c:        func(t *testing.T) *Collector { return newCollector(t, nil, nil, Options{}) },
			wantBody: "Gathering the process metrics failed: gone",
		},
		{
			name:     "lister fails",
			gatherer: prometheus.NewRegistry(),
			c: func(t *testing.T) *Collector {
				return New(failingLister{}, newCollector(t, nil, nil, Options{}).runnerSets, Options{})
			},
			wantBody: "Collecting the state metrics failed: listing Runners: cache gone",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := scrape(t, tc.gatherer, tc.c(t), "gzip")
			if resp.StatusCode != http.StatusInternalServerError {
				t.Errorf("Status = %s, want 500", resp.Status)
			}
			body, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(body), tc.wantBody) {
				t.Errorf("Body = %q, want it to contain %q", body, tc.wantBody)
			}
		})
	}
}

// TestConcurrentScrapes scrapes through Handler and Collect at once while
// the cache changes, for the race detector.
func TestConcurrentScrapes(t *testing.T) {
	runnerIndexer, setIndexer := newIndexer(), newIndexer()
	c := New(listers.NewRunnerLister(runnerIndexer), listers.NewRunnerSetLister(setIndexer), Options{})
	h := Handler(prometheus.NewRegistry(), c)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r := testRunner(fmt.Sprintf("r-%d", i%50), withPhase(runnerPhases[i%len(runnerPhases)]),
				withLabels(map[string]string{"n": strconv.Itoa(i)}))
			if err := runnerIndexer.Update(r); err != nil {
				t.Error(err)
			}
			if err := setIndexer.Update(testRunnerSet(fmt.Sprintf("s-%d", i%5), busySet)); err != nil {
				t.Error(err)
			}
		}
	})
	var scrapers sync.WaitGroup
	for i := range 4 {
		scrapers.Go(func() {
			for range 10 {
				if i == 0 {
					if _, err := testutil.CollectAndLint(c); err != nil {
						t.Error(err)
					}
					continue
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
				if rec.Code != http.StatusOK {
					t.Errorf("Handler answered %d", rec.Code)
				}
			}
		})
	}
	scrapers.Wait()
	close(stop)
	wg.Wait()
}
