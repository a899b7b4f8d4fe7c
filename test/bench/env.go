package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned"
	"github.com/octorun/octorun/pkg/generated/informers/externalversions"
	"github.com/octorun/octorun/test/framework/controlplane"
	"github.com/octorun/octorun/test/framework/octorunproc"
	"github.com/octorun/octorun/test/framework/runneragent"
	"github.com/octorun/octorun/test/githubsim"
)

const (
	namespace     = "bench"
	setName       = "bench"
	org           = "octo"
	token         = "ghp_bench"
	webhookSecret = "bench-webhook-secret"
	// The bench's own clients, kube-scheduler and kube-controller-manager
	// (its garbage collector deletes the pods of deleted Runners) get a high
	// client QPS, as kwok has, so nothing but Octorun, the API server and
	// the machine bounds the figures.
	harnessQPS, harnessBurst = 1000, 2000
)

// envOptions configures one scenario's world.
type envOptions struct {
	name         string
	nodes        int
	sim          githubsim.Options
	octorunArgs  []string
	profiling    bool
	agentEvery   time.Duration
	withWebhooks bool
}

// env is one scenario's world: a fresh control plane with kwok nodes, a
// GitHub simulator, Octorun as a process, the runner agent, and a tracker of
// what the Runners went through.
type env struct {
	cfg     config
	dir     string
	cp      *controlplane.ControlPlane
	kube    kubernetes.Interface
	octo    versioned.Interface
	sim     *githubsim.Server
	simSrv  *http.Server
	proc    *octorunproc.Process
	metrics string // Octorun's metrics address
	tracker *tracker

	stops []func()
}

func startEnv(ctx context.Context, cfg config, o envOptions) (_ *env, err error) {
	e := &env{cfg: cfg, dir: filepath.Join(cfg.workDir, o.name)}
	defer func() {
		if err != nil {
			e.stop()
		}
	}()
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		return nil, err
	}
	qps := fmt.Sprint(harnessQPS)
	burst := fmt.Sprint(harnessBurst)
	cp, err := controlplane.Start(ctx, controlplane.Options{
		Components: controlplane.AllComponents,
		Nodes:      max(o.nodes, 1),
		CRDs:       []string{filepath.Join(cfg.root, "manifests", "crd")},
		ExtraArgs: map[string][]string{
			controlplane.KubeScheduler:         {"--kube-api-qps=" + qps, "--kube-api-burst=" + burst},
			controlplane.KubeControllerManager: {"--kube-api-qps=" + qps, "--kube-api-burst=" + burst},
		},
		TempDir: e.dir,
		Logf:    func(string, ...any) {},
	})
	if err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	e.cp = cp
	e.stops = append(e.stops, func() { _ = cp.Stop() })
	config := rest.CopyConfig(cp.Config)
	config.QPS, config.Burst = harnessQPS, harnessBurst
	if e.kube, err = kubernetes.NewForConfig(config); err != nil {
		return nil, err
	}
	if e.octo, err = versioned.NewForConfig(config); err != nil {
		return nil, err
	}
	if _, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1Namespace, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating namespace %s: %w", namespace, err)
	}

	// GitHub.
	e.sim = githubsim.New(o.sim)
	e.stops = append(e.stops, e.sim.Close)
	e.sim.AddToken(token)
	e.sim.AddOrganization(org)
	e.sim.AddRepository(org, "app")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e.simSrv = &http.Server{Handler: e.sim, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.simSrv.Serve(ln) }()
	e.stops = append(e.stops, func() { _ = e.simSrv.Close() })
	simURL := "http://" + ln.Addr().String() + "/"

	// Octorun.
	if e.metrics, err = octorunproc.FreeAddr(); err != nil {
		return nil, err
	}
	args := []string{
		"--kubeconfig", cp.KubeconfigPath, "--github-api-url", simURL, "--namespace", namespace,
		"--leader-election-namespace", namespace, "--runner-name-prefix", "bench-", "--metrics-addr", e.metrics,
	}
	if o.profiling {
		args = append(args, "--profiling")
	}
	if o.withWebhooks {
		hookAddr, err := octorunproc.FreeAddr()
		if err != nil {
			return nil, err
		}
		secretFile := filepath.Join(e.dir, "webhook-secret")
		if err := os.WriteFile(secretFile, []byte(webhookSecret), 0o600); err != nil {
			return nil, err
		}
		e.sim.SetWebhook("http://"+hookAddr+"/github/webhooks", webhookSecret)
		args = append(args, "--github-webhook-addr", hookAddr, "--github-webhook-secret-file", secretFile)
	}
	if cfg.octorunV > 0 {
		args = append(args, fmt.Sprintf("-v=%d", cfg.octorunV))
	}
	args = append(args, o.octorunArgs...)
	e.proc, err = octorunproc.Start(octorunproc.Options{
		Binary: cfg.octorunBin, Args: args, Env: []string{"GITHUB_TOKEN=" + token},
		LogPath: filepath.Join(e.dir, "octorun.log"),
	})
	if err != nil {
		return nil, err
	}
	e.stops = append(e.stops, func() { _ = e.proc.Stop(15 * time.Second) })
	if err := e.waitReady(ctx); err != nil {
		return nil, err
	}

	// The runner side of the pods, and what the bench watches.
	agentCtx, stopAgent := context.WithCancel(context.Background())
	agent := &runneragent.Agent{Client: e.kube, Sim: e.sim, Namespace: namespace, Interval: o.agentEvery}
	var agentDone sync.WaitGroup
	agentDone.Add(1)
	go func() { defer agentDone.Done(); agent.Run(agentCtx) }()
	e.stops = append(e.stops, func() { stopAgent(); agentDone.Wait() })

	trackCtx, stopTracking := context.WithCancel(context.Background())
	e.stops = append(e.stops, stopTracking)
	e.tracker = newTracker()
	factory := externalversions.NewSharedInformerFactoryWithOptions(e.octo, 0, externalversions.WithNamespace(namespace))
	informer := factory.Octorun().V1alpha1().Runners().Informer()
	if _, err := informer.AddEventHandler(e.tracker.handler()); err != nil {
		return nil, err
	}
	factory.Start(trackCtx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return nil, errors.New("the bench's Runner informer did not sync")
	}
	return e, nil
}

var corev1Namespace = namespaceObject(namespace)

// stop tears the world down, newest first.
func (e *env) stop() {
	for i := len(e.stops) - 1; i >= 0; i-- {
		e.stops[i]()
	}
	e.stops = nil
}

// waitReady waits for Octorun's /readyz: its caches synced.
func (e *env) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-e.proc.Done():
			return fmt.Errorf("octorun exited: %v\n%s", e.proc.Err(), e.proc.LogTail(20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get("http://" + e.metrics + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("octorun was not ready within 60s:\n%s", e.proc.LogTail(20))
}

// checkAlive fails when Octorun exited.
func (e *env) checkAlive() error {
	select {
	case <-e.proc.Done():
		return fmt.Errorf("octorun exited: %v\n%s", e.proc.Err(), e.proc.LogTail(20))
	default:
		return nil
	}
}

// createRunnerSet creates the scenario's RunnerSet for organization runners.
func (e *env) createRunnerSet(ctx context.Context, runners int) error {
	labels := map[string]string{octorunv1alpha1.LabelRunnerSet: setName}
	set := &octorunv1alpha1.RunnerSet{
		ObjectMeta: metav1.ObjectMeta{Name: setName, Namespace: namespace},
		Spec: octorunv1alpha1.RunnerSetSpec{
			Runners:  ptr.To(int32(runners)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: octorunv1alpha1.RunnerTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/" + org},
			},
		},
	}
	_, err := e.octo.OctorunV1alpha1().RunnerSets(namespace).Create(ctx, set, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating RunnerSet %s: %w", setName, err)
	}
	return nil
}

// scale sets the RunnerSet's runners through its scale subresource, as
// kubectl scale and the HorizontalPodAutoscaler do.
func (e *env) scale(ctx context.Context, runners int) error {
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, runners)
	err := e.octo.OctorunV1alpha1().RESTClient().Patch("application/merge-patch+json").
		Namespace(namespace).Resource("runnersets").Name(setName).SubResource("scale").
		Body([]byte(patch)).Do(ctx).Error()
	if err != nil {
		return fmt.Errorf("scaling RunnerSet %s to %d: %w", setName, runners, err)
	}
	return nil
}

// waitFor polls cond every 100ms until it holds, Octorun exits or timeout.
func (e *env) waitFor(ctx context.Context, what string, timeout time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if err := e.checkAlive(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitIdle waits until n Runners are Idle, allowing 200ms a runner plus two
// minutes.
func (e *env) waitIdle(ctx context.Context, n int) error {
	return e.waitFor(ctx, fmt.Sprintf("%d Idle runners", n), time.Duration(n)*200*time.Millisecond+2*time.Minute, func() (bool, error) {
		return e.tracker.countPhase(octorunv1alpha1.RunnerPhaseIdle) >= n, nil
	})
}

// counters is what is counted around a measurement.
type counters struct {
	at             time.Time
	usage          octorunproc.Usage
	octorunKube    float64 // Octorun's Kubernetes API requests
	throttled      float64 // seconds they waited for the client-side QPS
	scopeSyncs     float64 // syncs of a GitHub scope by Octorun's sync loop
	apiserver      float64 // requests the API server served, from everyone
	githubCalls    int
	githubByStatus map[int]int
	githubByCall   map[string]int
	// cpu is the CPU time of each other process: the control plane's
	// components and the bench itself (GitHub simulator, runner agent).
	cpu map[string]time.Duration
}

func (e *env) count(ctx context.Context) (counters, error) {
	c := counters{at: time.Now(), cpu: map[string]time.Duration{}}
	var err error
	if c.usage, err = e.proc.Usage(); err != nil {
		return c, err
	}
	pids := e.cp.PIDs()
	pids["bench (GitHub simulator, runner agent)"] = os.Getpid()
	for name, pid := range pids {
		if u, err := octorunproc.ReadUsage(pid); err == nil {
			c.cpu[name] = u.CPU
		}
	}
	families, err := scrape(ctx, func(ctx context.Context) (io.ReadCloser, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.metrics+"/metrics", nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		return resp.Body, nil
	})
	if err != nil {
		return c, fmt.Errorf("scraping Octorun: %w", err)
	}
	c.octorunKube = sum(families, "rest_client_requests_total")
	c.scopeSyncs = sum(families, "octorun_githubsync_scope_syncs_total")
	if f, ok := families["rest_client_rate_limiter_duration_seconds"]; ok {
		for _, m := range f.GetMetric() {
			c.throttled += m.GetHistogram().GetSampleSum()
		}
	}
	families, err = scrape(ctx, func(ctx context.Context) (io.ReadCloser, error) {
		return e.kube.CoreV1().RESTClient().Get().AbsPath("/metrics").Stream(ctx)
	})
	if err != nil {
		return c, fmt.Errorf("scraping the API server: %w", err)
	}
	c.apiserver = sum(families, "apiserver_request_total")
	c.githubByCall = e.sim.Calls()
	c.githubByStatus = e.sim.CallsByStatus()
	for _, n := range c.githubByCall {
		c.githubCalls += n
	}
	return c, nil
}

// throttledPerRequest is how long, on average, Octorun's Kubernetes
// requests waited for its client-side QPS limit between two counts.
func throttledPerRequest(before, after counters) float64 {
	if n := after.octorunKube - before.octorunKube; n > 0 {
		return (after.throttled - before.throttled) / n
	}
	return 0
}

// cpuShares says how much CPU each process used between two counts, as
// seconds, Octorun included.
func cpuShares(before, after counters) map[string]float64 {
	out := map[string]float64{"octorun": (after.usage.CPU - before.usage.CPU).Seconds()}
	for name, t := range after.cpu {
		out[name] = (t - before.cpu[name]).Seconds()
	}
	return out
}

func scrape(ctx context.Context, open func(context.Context) (io.ReadCloser, error)) (map[string]*dtoFamily, error) {
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

// sum adds up every sample of a counter family.
func sum(families map[string]*dtoFamily, name string) float64 {
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

// saveProfile fetches one of Octorun's pprof profiles into the scenario's
// directory; a failure is only reported.
func (e *env) saveProfile(ctx context.Context, name, query string) string {
	path := filepath.Join(e.dir, name+".pprof")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.metrics+"/debug/pprof/"+name+query, nil)
	if err != nil {
		return ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		logf("profile %s: %v", name, err)
		return ""
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		logf("profile %s: %s: %s", name, resp.Status, strings.TrimSpace(string(b)))
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
