// Package world starts the world Octorun lives in, for the benchmark and the
// reliability suite: a fresh control plane with kwok nodes, a GitHub
// simulator, Octorun built from this tree and run as a process (one replica
// or more), the runner agent playing the runner side of the pods, and a
// tracker of what the Runners went through.
package world

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned"
	"github.com/octorun/octorun/pkg/generated/informers/externalversions"
	"github.com/octorun/octorun/test/framework/controlplane"
	"github.com/octorun/octorun/test/framework/install"
	"github.com/octorun/octorun/test/framework/octorunproc"
	"github.com/octorun/octorun/test/framework/provisioner"
	"github.com/octorun/octorun/test/framework/runneragent"
	"github.com/octorun/octorun/test/githubsim"
)

const (
	// Org is the simulated GitHub organization the runners register to.
	Org = "octo"
	// Repo is the organization's repository jobs are queued in.
	Repo = "app"
	// Token is Octorun's GitHub token.
	Token = "ghp_world"
	// webhookSecret is as long as Octorun requires
	// (options.MinWebhookSecretBytes).
	webhookSecret = "world-webhook-secret-0123456789abcdef"
	// HarnessQPS and HarnessBurst are the client limits of the world's own
	// clients, kube-scheduler and kube-controller-manager (its garbage
	// collector deletes the pods of deleted Runners), as kwok has none, so
	// that nothing but Octorun, the API server and the machine bounds what
	// is measured.
	HarnessQPS, HarnessBurst = 1000, 2000
	// RunnerNamePrefix is Octorun's --runner-name-prefix.
	RunnerNamePrefix = "world-"
)

// Options configures Start.
type Options struct {
	// Dir receives the world's control plane, logs and profiles.
	Dir string
	// Namespace is where the Runners live. Empty means "world".
	Namespace string
	// OctorunBin is the built octorun (octorunproc.Build).
	OctorunBin string
	// OctorunArgs are added to the flags Start gives Octorun.
	OctorunArgs []string
	// OctorunV is Octorun's -v; 0 leaves the default.
	OctorunV int
	// Replicas is how many Octorun processes run side by side; 0 means 1.
	Replicas int
	// Nodes is how many kwok nodes run; 0 means 1.
	Nodes int
	// Sim configures the GitHub simulator.
	Sim githubsim.Options
	// Profiling turns on Octorun's pprof endpoints, and the API server's.
	Profiling bool
	// AgentEvery is the runner agent's interval; 0 means its default.
	AgentEvery time.Duration
	// WithWebhooks sends the simulator's workflow_job webhooks to the first
	// replica's receiver.
	WithWebhooks bool
	// StorageClass, when set, is made the cluster's default StorageClass,
	// served by a test provisioner (the test ground has no storage driver),
	// for Runners in Kubernetes container mode.
	StorageClass string
	// Logf reports progress; nil discards it.
	Logf func(format string, args ...any)
}

// World is one scenario's world. Stop it when done.
type World struct {
	Namespace string
	Dir       string
	CP        *controlplane.ControlPlane
	Kube      kubernetes.Interface
	Octo      versioned.Interface
	Sim       *githubsim.Server
	// SimURL is the simulator's API URL, Octorun's --github-api-url.
	SimURL  string
	Tracker *Tracker
	// Pods records the pods of the Runners.
	Pods *PodTracker

	opts    Options
	simSrv  *http.Server
	args    []string // every replica's flags but the addresses
	hookURL string   // the first replica's webhook receiver

	mu       sync.Mutex
	replicas []*Replica
	starts   int // Octorun processes started, for their log names
	stops    []func()
}

// Replica is one Octorun process.
type Replica struct {
	*octorunproc.Process
	// Metrics is its metrics address, host:port, served over plain HTTP
	// without authorisation (--metrics-secure=false), so that the
	// figures count no TokenReviews of the harness's scrapes.
	Metrics string
	// Health is its /healthz and /readyz address, host:port.
	Health string
	// Webhooks is its GitHub webhook receiver's address, "" when off.
	Webhooks string
}

// Start starts a world.
func Start(ctx context.Context, o Options) (_ *World, err error) {
	if o.Namespace == "" {
		o.Namespace = "world"
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	w := &World{Namespace: o.Namespace, Dir: o.Dir, opts: o}
	defer func() {
		if err != nil {
			w.Stop()
		}
	}()
	if err := os.MkdirAll(w.Dir, 0o755); err != nil {
		return nil, err
	}
	root, err := controlplane.RepoRoot()
	if err != nil {
		return nil, err
	}
	qps := fmt.Sprint(HarnessQPS)
	burst := fmt.Sprint(HarnessBurst)
	cp, err := controlplane.Start(ctx, controlplane.Options{
		Components: controlplane.AllComponents,
		Nodes:      max(o.Nodes, 1),
		CRDs:       []string{filepath.Join(root, "manifests", "crd")},
		ExtraArgs: map[string][]string{
			controlplane.KubeScheduler:         {"--kube-api-qps=" + qps, "--kube-api-burst=" + burst},
			controlplane.KubeControllerManager: {"--kube-api-qps=" + qps, "--kube-api-burst=" + burst},
			// The API server's pprof, for SaveAPIServerProfile.
			controlplane.KubeAPIServer: {"--profiling=" + fmt.Sprint(o.Profiling)},
		},
		TempDir: w.Dir,
		Logf:    func(string, ...any) {},
	})
	if err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	w.CP = cp
	w.stops = append(w.stops, func() { _ = cp.Stop() })
	config := rest.CopyConfig(cp.Config)
	config.QPS, config.Burst = HarnessQPS, HarnessBurst
	if w.Kube, err = kubernetes.NewForConfig(config); err != nil {
		return nil, err
	}
	if w.Octo, err = versioned.NewForConfig(config); err != nil {
		return nil, err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: w.Namespace}}
	if _, err := w.Kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating namespace %s: %w", w.Namespace, err)
	}
	if err := install.Grant(ctx, config, "world-"+w.Namespace, w.Namespace); err != nil {
		return nil, err
	}
	if o.StorageClass != "" {
		if err := provisioner.EnsureStorageClass(ctx, w.Kube, o.StorageClass, true); err != nil {
			return nil, err
		}
		provisionCtx, stopProvisioner := context.WithCancel(context.Background())
		provisioned := make(chan struct{})
		go func() {
			defer close(provisioned)
			provisioner.Run(provisionCtx, w.Kube, o.StorageClass)
		}()
		w.stops = append(w.stops, func() { stopProvisioner(); <-provisioned })
	}

	// GitHub.
	w.Sim = githubsim.New(o.Sim)
	w.stops = append(w.stops, w.Sim.Close)
	w.Sim.AddToken(Token)
	w.Sim.AddOrganization(Org)
	w.Sim.AddRepository(Org, Repo)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w.simSrv = &http.Server{Handler: w.Sim, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = w.simSrv.Serve(ln) }()
	w.stops = append(w.stops, func() { _ = w.simSrv.Close() })
	w.SimURL = "http://" + ln.Addr().String() + "/"

	// Octorun.
	w.args = []string{
		"--kubeconfig", cp.KubeconfigPath, "--github-api-url", w.SimURL, "--namespace", w.Namespace,
		"--pod-namespace", w.Namespace, "--runner-name-prefix", RunnerNamePrefix,
	}
	if o.Profiling {
		w.args = append(w.args, "--profiling")
	}
	if o.WithWebhooks {
		secretFile := filepath.Join(w.Dir, "webhook-secret")
		if err := os.WriteFile(secretFile, []byte(webhookSecret), 0o600); err != nil {
			return nil, err
		}
		w.args = append(w.args, "--github-webhook-secret-file", secretFile)
	}
	if o.OctorunV > 0 {
		w.args = append(w.args, fmt.Sprintf("-v=%d", o.OctorunV))
	}
	w.args = append(w.args, o.OctorunArgs...)
	w.stops = append(w.stops, w.stopReplicas)
	for range max(o.Replicas, 1) {
		if _, err := w.StartReplica(ctx); err != nil {
			return nil, err
		}
	}
	if o.WithWebhooks {
		w.hookURL = "http://" + w.replicas[0].Webhooks + "/github/webhooks"
		w.Sim.SetWebhook(w.hookURL, webhookSecret)
	}

	// The runner side of the pods, and what the tests watch.
	agentCtx, stopAgent := context.WithCancel(context.Background())
	agent := &runneragent.Agent{Client: w.Kube, Sim: w.Sim, Namespace: w.Namespace, Interval: o.AgentEvery}
	var agentDone sync.WaitGroup
	agentDone.Add(1)
	go func() { defer agentDone.Done(); agent.Run(agentCtx) }()
	w.stops = append(w.stops, func() { stopAgent(); agentDone.Wait() })

	trackCtx, stopTracking := context.WithCancel(context.Background())
	w.stops = append(w.stops, stopTracking)
	w.Tracker = newTracker()
	factory := externalversions.NewSharedInformerFactoryWithOptions(w.Octo, 0, externalversions.WithNamespace(w.Namespace))
	informer := factory.Octorun().V1alpha1().Runners().Informer()
	if _, err := informer.AddEventHandler(w.Tracker.handler()); err != nil {
		return nil, err
	}
	w.Pods = &PodTracker{pods: map[string]map[string]bool{}}
	podFactory := kubeinformers.NewSharedInformerFactoryWithOptions(w.Kube, 0, kubeinformers.WithNamespace(w.Namespace))
	podInformer := podFactory.Core().V1().Pods().Informer()
	if _, err := podInformer.AddEventHandler(w.Pods.handler()); err != nil {
		return nil, err
	}
	factory.Start(trackCtx.Done())
	podFactory.Start(trackCtx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced, podInformer.HasSynced) {
		return nil, errors.New("the world's Runner informer did not sync")
	}
	return w, nil
}

// Stop tears the world down, newest first.
func (w *World) Stop() {
	w.mu.Lock()
	stops := w.stops
	w.stops = nil
	w.mu.Unlock()
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
}

// KeepLogs keeps the control plane's dir when the world stops.
func (w *World) KeepLogs() {
	if w.CP != nil {
		w.CP.KeepDir()
	}
}

// StartReplica starts one more Octorun process with the world's flags, its
// own metrics and probe addresses and, with webhooks, its own receiver, and
// waits until it is ready.
func (w *World) StartReplica(ctx context.Context) (*Replica, error) {
	return w.startReplica(ctx, "", "", "")
}

func (w *World) startReplica(ctx context.Context, metrics, health, hooks string) (*Replica, error) {
	// The addresses not given, all different: two picked one after the
	// other may be the same port.
	free, err := octorunproc.FreeAddrs(3)
	if err != nil {
		return nil, err
	}
	for i, addr := range []*string{&metrics, &health, &hooks} {
		if *addr == "" {
			*addr = free[i]
		}
	}
	args := append([]string{"--metrics-addr", metrics, "--metrics-secure=false", "--health-probe-addr", health}, w.args...)
	if w.opts.WithWebhooks {
		args = append(args, "--github-webhook-addr", hooks)
	} else {
		hooks = ""
	}
	w.mu.Lock()
	w.starts++
	logPath := filepath.Join(w.Dir, fmt.Sprintf("octorun-%d.log", w.starts))
	w.mu.Unlock()
	p, err := octorunproc.Start(octorunproc.Options{
		Binary: w.opts.OctorunBin, Args: args, Env: []string{"GITHUB_TOKEN=" + Token}, LogPath: logPath,
	})
	if err != nil {
		return nil, err
	}
	r := &Replica{Process: p, Metrics: metrics, Health: health, Webhooks: hooks}
	w.mu.Lock()
	w.replicas = append(w.replicas, r)
	w.mu.Unlock()
	if err := r.WaitReady(ctx, time.Minute); err != nil {
		return nil, err
	}
	w.opts.Logf("Started Octorun (pid %d), log %s", p.Pid, logPath)
	return r, nil
}

// Replicas returns the Octorun processes started and not stopped, oldest
// first.
func (w *World) Replicas() []*Replica {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*Replica(nil), w.replicas...)
}

// Octorun returns the oldest running replica, the only one of a world of one.
func (w *World) Octorun() *Replica {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.replicas[0]
}

// KillReplica SIGKILLs a replica, as a crash or an OOM kill would.
func (w *World) KillReplica(r *Replica) {
	r.Kill()
	<-r.Done()
	w.forget(r)
}

// RestartReplica stops a replica and starts it again on the same
// addresses, as the kubelet restarts a container, and waits until the new
// process is ready. A grace of 0 kills it (SIGKILL), as a crash would;
// otherwise it gets SIGTERM and that long to exit, as in a rollout.
func (w *World) RestartReplica(ctx context.Context, r *Replica, grace time.Duration) (*Replica, error) {
	if grace == 0 {
		w.KillReplica(r)
	} else {
		_ = r.Stop(grace)
		w.forget(r)
	}
	return w.startReplica(ctx, r.Metrics, r.Health, r.Webhooks)
}

func (w *World) forget(r *Replica) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, x := range w.replicas {
		if x == r {
			w.replicas = append(w.replicas[:i], w.replicas[i+1:]...)
			return
		}
	}
}

func (w *World) stopReplicas() {
	var wg sync.WaitGroup
	for _, r := range w.Replicas() {
		wg.Go(func() { _ = r.Stop(15 * time.Second) })
	}
	wg.Wait()
}

// Leader returns the replica holding the leader Lease, nil when none does
// (or its holder is not one of the world's running replicas).
func (w *World) Leader(ctx context.Context) (*Replica, error) {
	lease, err := w.Kube.CoordinationV1().Leases(w.Namespace).Get(ctx, "octorun", metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading the leader Lease: %w", err)
	}
	holder := ptr.Deref(lease.Spec.HolderIdentity, "")
	if holder == "" {
		return nil, nil
	}
	for _, r := range w.Replicas() {
		if r.Identity() == holder {
			return r, nil
		}
	}
	return nil, nil
}

// Identity is the replica's leader election identity, from its log; "" until
// it logged it.
func (r *Replica) Identity() string {
	b, err := os.ReadFile(r.LogPath)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, `"Waiting to lead"`) {
			continue
		}
		if _, id, ok := strings.Cut(line, ` identity="`); ok {
			id, _, _ = strings.Cut(id, `"`)
			return id
		}
	}
	return ""
}

// WaitReady waits for the replica's /readyz: its caches synced.
func (r *Replica) WaitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-r.Done():
			return fmt.Errorf("octorun exited: %v\n%s", r.Err(), r.LogTail(20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get("http://" + r.Health + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("octorun was not ready within %s:\n%s", timeout, r.LogTail(20))
}

// CheckAlive fails when a replica the world did not stop exited.
func (w *World) CheckAlive() error {
	for _, r := range w.Replicas() {
		select {
		case <-r.Done():
			return fmt.Errorf("octorun (pid %d) exited: %v\n%s", r.Pid, r.Err(), r.LogTail(20))
		default:
		}
	}
	return nil
}

// RunnerSet returns a RunnerSet of organization runners.
func (w *World) RunnerSet(name string, runners int) *octorunv1alpha1.RunnerSet {
	labels := map[string]string{octorunv1alpha1.LabelRunnerSet: name}
	return &octorunv1alpha1.RunnerSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.Namespace},
		Spec: octorunv1alpha1.RunnerSetSpec{
			Runners:  ptr.To(int32(runners)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: octorunv1alpha1.RunnerTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/" + Org},
			},
		},
	}
}

// CreateRunnerSet creates a RunnerSet of organization runners; each
// mutate changes it first.
func (w *World) CreateRunnerSet(ctx context.Context, name string, runners int, mutate ...func(*octorunv1alpha1.RunnerSet)) error {
	set := w.RunnerSet(name, runners)
	for _, m := range mutate {
		m(set)
	}
	_, err := w.Octo.OctorunV1alpha1().RunnerSets(w.Namespace).Create(ctx, set, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating RunnerSet %s: %w", name, err)
	}
	return nil
}

// Scale sets a RunnerSet's runners through its scale subresource, as
// kubectl scale and the HorizontalPodAutoscaler do.
func (w *World) Scale(ctx context.Context, name string, runners int) error {
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, runners)
	err := w.Octo.OctorunV1alpha1().RESTClient().Patch("application/merge-patch+json").
		Namespace(w.Namespace).Resource("runnersets").Name(name).SubResource("scale").
		Body([]byte(patch)).Do(ctx).Error()
	if err != nil {
		return fmt.Errorf("scaling RunnerSet %s to %d: %w", name, runners, err)
	}
	return nil
}

// WaitFor polls cond every 100ms until it holds, a replica exits or timeout.
func (w *World) WaitFor(ctx context.Context, what string, timeout time.Duration, cond func() (bool, error)) error {
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
		if err := w.CheckAlive(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitIdle waits until n Runners are Idle, allowing 200ms a runner plus two
// minutes.
func (w *World) WaitIdle(ctx context.Context, n int) error {
	return w.WaitFor(ctx, fmt.Sprintf("%d Idle runners", n), time.Duration(n)*200*time.Millisecond+2*time.Minute, func() (bool, error) {
		return w.Tracker.CountPhase(octorunv1alpha1.RunnerPhaseIdle) >= n, nil
	})
}
