package world

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"

	"github.com/octorun/octorun/test/framework/octorunproc"
)

// Counters is what is counted around a measurement.
type Counters struct {
	At time.Time
	// Usage is the first replica's CPU and memory.
	Usage       octorunproc.Usage
	OctorunKube float64 // the first replica's Kubernetes API requests
	Throttled   float64 // seconds they waited for the client-side QPS
	ScopeSyncs  float64 // syncs of a GitHub scope by its sync loop
	APIServer   float64 // requests the API server served, from everyone
	// GitHubCalls counts the simulator's API calls, also by status and by
	// endpoint.
	GitHubCalls    int
	GitHubByStatus map[int]int
	GitHubByCall   map[string]int
	// CPU is the CPU time of each other process: the control plane's
	// components and this one (GitHub simulator, runner agent).
	CPU map[string]time.Duration
}

// Count counts, reading the first replica's metrics.
func (w *World) Count(ctx context.Context) (Counters, error) {
	o := w.Octorun()
	c := Counters{At: time.Now(), CPU: map[string]time.Duration{}}
	var err error
	if c.Usage, err = o.Usage(); err != nil {
		return c, err
	}
	pids := w.CP.PIDs()
	pids["harness (GitHub simulator, runner agent)"] = os.Getpid()
	for name, pid := range pids {
		if u, err := octorunproc.ReadUsage(pid); err == nil {
			c.CPU[name] = u.CPU
		}
	}
	families, err := o.Scrape(ctx)
	if err != nil {
		return c, fmt.Errorf("scraping Octorun: %w", err)
	}
	c.OctorunKube = Sum(families, "rest_client_requests_total")
	c.ScopeSyncs = Sum(families, "octorun_githubsync_scope_syncs_total")
	if f, ok := families["rest_client_rate_limiter_duration_seconds"]; ok {
		for _, m := range f.GetMetric() {
			c.Throttled += m.GetHistogram().GetSampleSum()
		}
	}
	families, err = scrape(ctx, func(ctx context.Context) (io.ReadCloser, error) {
		return w.Kube.CoreV1().RESTClient().Get().AbsPath("/metrics").Stream(ctx)
	})
	if err != nil {
		return c, fmt.Errorf("scraping the API server: %w", err)
	}
	c.APIServer = Sum(families, "apiserver_request_total")
	c.GitHubByCall = w.Sim.Calls()
	c.GitHubByStatus = w.Sim.CallsByStatus()
	for _, n := range c.GitHubByCall {
		c.GitHubCalls += n
	}
	return c, nil
}

// Scrape reads the replica's metrics.
func (r *Replica) Scrape(ctx context.Context) (map[string]*dto.MetricFamily, error) {
	return scrape(ctx, func(ctx context.Context) (io.ReadCloser, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.Metrics+"/metrics", nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		return resp.Body, nil
	})
}

// ThrottledPerRequest is how long, on average, Octorun's Kubernetes
// requests waited for its client-side QPS limit between two counts.
func ThrottledPerRequest(before, after Counters) float64 {
	if n := after.OctorunKube - before.OctorunKube; n > 0 {
		return (after.Throttled - before.Throttled) / n
	}
	return 0
}

// CPUShares says how much CPU each process used between two counts, as
// seconds, Octorun included.
func CPUShares(before, after Counters) map[string]float64 {
	out := map[string]float64{"octorun": (after.Usage.CPU - before.Usage.CPU).Seconds()}
	for name, t := range after.CPU {
		out[name] = (t - before.CPU[name]).Seconds()
	}
	return out
}

func scrape(ctx context.Context, open func(context.Context) (io.ReadCloser, error)) (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	body, err := open(ctx)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(body)
}

// Sum adds up every sample of a counter family.
func Sum(families map[string]*dto.MetricFamily, name string) float64 {
	f, ok := families[name]
	if !ok {
		return 0
	}
	total := 0.0
	for _, m := range f.GetMetric() {
		total += m.GetCounter().GetValue()
	}
	return total
}

// SaveProfile fetches one of the first replica's pprof profiles into the
// world's dir and returns its path; a failure returns "" and is logged.
func (w *World) SaveProfile(ctx context.Context, name, query string) string {
	path := filepath.Join(w.Dir, name+".pprof")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+w.Octorun().Metrics+"/debug/pprof/"+name+query, nil)
	if err != nil {
		return ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.opts.Logf("profile %s: %v", name, err)
		return ""
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		w.opts.Logf("profile %s: %s: %s", name, resp.Status, strings.TrimSpace(string(b)))
		return ""
	}
	f, err := os.Create(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		return ""
	}
	return path
}

// SaveAPIServerProfile saves the API server's pprof profile name (with
// query, e.g. "?seconds=20") under the world's directory, and returns its
// path; "" when it could not (logged). It needs Options.Profiling.
func (w *World) SaveAPIServerProfile(ctx context.Context, name, query string) string {
	req := w.Kube.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/" + name)
	if q, err := url.ParseQuery(strings.TrimPrefix(query, "?")); err == nil {
		for k, vs := range q {
			for _, v := range vs {
				req = req.Param(k, v)
			}
		}
	}
	b, err := req.DoRaw(ctx)
	if err != nil {
		w.opts.Logf("API server profile %s: %v", name, err)
		return ""
	}
	path := filepath.Join(w.Dir, "apiserver-"+name+".pprof")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		w.opts.Logf("API server profile %s: %v", name, err)
		return ""
	}
	return path
}
