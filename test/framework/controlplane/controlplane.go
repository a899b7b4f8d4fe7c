/*
Copyright The Octorun Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package controlplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Components says which components run besides etcd and kube-apiserver. The
// zero value runs those two only, which is cheap and enough for API tests.
type Components struct {
	// ControllerManager runs kube-controller-manager: garbage collection,
	// namespace deletion, service accounts and their tokens, node
	// lifecycle, HPA, Deployments, Jobs and the rest.
	ControllerManager bool
	// Scheduler runs kube-scheduler.
	Scheduler bool
	// Kwok runs kwok, which plays the fake nodes and their pods.
	Kwok bool
}

// AllComponents runs the whole control plane.
var AllComponents = Components{ControllerManager: true, Scheduler: true, Kwok: true}

// Options configures Start. The zero value is valid.
type Options struct {
	// BinDir holds the binaries built by hack/build-tools.sh. Empty means
	// DefaultBinDir: $OCTORUN_BIN_DIR, else <repo>/_output/bin.
	BinDir string
	// Components to run besides etcd and kube-apiserver.
	Components Components
	// Nodes is how many fake nodes to create when kwok runs; 0 means 1.
	Nodes int
	// Controllers is kube-controller-manager's --controllers; empty means
	// all that are on by default ("*").
	Controllers []string
	// CRDs are files or dirs of CustomResourceDefinitions to apply with
	// kubectl, and wait for, once the API server is ready and before
	// kube-controller-manager starts. Its REST mapper then knows them from
	// the start: of a CRD created later it learns only at its next refresh,
	// every 30s, which delays the HPA controller and the garbage collector
	// for those resources as long.
	CRDs []string
	// ExtraArgs adds "--name=value" flags to a component, keyed by its name
	// (e.g. KubeControllerManager). A flag that Start sets is replaced.
	ExtraArgs map[string][]string
	// TempDir is where the control plane's dir is made. Empty means
	// os.TempDir().
	TempDir string
	// StartTimeout bounds Start's wait for each component to be ready.
	// Zero means two minutes.
	StartTimeout time.Duration
	// StopGracePeriod is how long Stop waits for a component after SIGTERM
	// before it sends SIGKILL. Zero means five seconds.
	StopGracePeriod time.Duration
	// Logf reports progress. Nil means standard error.
	Logf func(format string, args ...any)
}

// ControlPlane is a running control plane. Stop it when done.
type ControlPlane struct {
	// Dir holds the control plane's data, credentials and logs (logs/).
	Dir string
	// Config is the admin's client config.
	Config *rest.Config
	// Client is the admin's clientset.
	Client kubernetes.Interface
	// KubeconfigPath is the admin's kubeconfig, valid until Stop.
	KubeconfigPath string
	// KubectlPath is the built kubectl.
	KubectlPath string
	// Nodes are the names of the fake nodes Start created.
	Nodes []string

	opts   Options
	layout layout
	token  string // the admin's bearer token

	mu        sync.Mutex
	processes []*process // in start order
	// restarting holds the components Restart has killed and not started
	// again: their exit is no failure.
	restarting map[string]bool
	keepDir    bool
	stopped    bool
	stopErr    error
}

func (o *Options) complete() error {
	if o.BinDir == "" {
		dir, err := DefaultBinDir()
		if err != nil {
			return err
		}
		o.BinDir = dir
	}
	if o.Nodes <= 0 {
		o.Nodes = 1
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 2 * time.Minute
	}
	if o.StopGracePeriod <= 0 {
		o.StopGracePeriod = 5 * time.Second
	}
	if o.Logf == nil {
		o.Logf = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "controlplane: "+format+"\n", args...)
		}
	}
	return nil
}

// binaries returns the binaries Start needs for c.
func (c Components) binaries() []string {
	names := []string{Etcd, KubeAPIServer, Kubectl}
	if c.ControllerManager {
		names = append(names, KubeControllerManager)
	}
	if c.Scheduler {
		names = append(names, KubeScheduler)
	}
	if c.Kwok {
		names = append(names, Kwok)
	}
	return names
}

// Start runs a control plane and returns once it is ready: the API server
// answers /readyz, the other components are healthy, every fake node is
// Ready and schedulable, and the default service account exists. On error
// everything started is stopped and the dir is kept for its logs.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	if err := opts.complete(); err != nil {
		return nil, err
	}
	if err := checkBinaries(opts.BinDir, opts.Components.binaries()); err != nil {
		return nil, err
	}
	// A port picked free may be taken before its component binds it (by an
	// outgoing connection, or another test process): start anew then.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		cp, err := start(ctx, opts)
		if err == nil {
			return cp, nil
		}
		if cp == nil || attempt == attempts || !strings.Contains(err.Error(), "address already in use") {
			return nil, err
		}
		opts.Logf("A port was taken, starting anew: %v", err)
		_ = os.RemoveAll(cp.Dir)
	}
}

// start makes one attempt at Start. On error, the control plane it returns
// (if any) is stopped and its dir kept.
func start(ctx context.Context, opts Options) (*ControlPlane, error) {
	ports, err := freePorts(5)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(opts.TempDir, "octorun-controlplane-")
	if err != nil {
		return nil, err
	}
	cp := &ControlPlane{
		Dir:            dir,
		KubectlPath:    filepath.Join(opts.BinDir, Kubectl),
		KubeconfigPath: filepath.Join(dir, "kubeconfig"),
		opts:           opts,
		layout: layout{
			dir:                   dir,
			etcdClientPort:        ports[0],
			etcdPeerPort:          ports[1],
			apiServerPort:         ports[2],
			controllerManagerPort: ports[3],
			schedulerPort:         ports[4],
		},
	}
	register(cp)
	began := time.Now()
	if err := cp.start(ctx); err != nil {
		cp.KeepDir()
		_ = cp.Stop()
		return cp, fmt.Errorf("starting the control plane (logs in %s): %w", dir, err)
	}
	opts.Logf("Control plane ready in %s: %s, kubeconfig %s", time.Since(began).Round(time.Millisecond), cp.Config.Host, cp.KubeconfigPath)
	return cp, nil
}

// StartForTest starts a control plane for the test t, and stops it when t
// ends, keeping its dir when t failed.
func StartForTest(t testing.TB, opts Options) *ControlPlane {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	cp, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			cp.KeepDir()
		}
		if err := cp.Stop(); err != nil {
			t.Error(err)
		}
	})
	return cp
}

func (cp *ControlPlane) start(ctx context.Context) error {
	l := cp.layout
	for _, d := range []string{l.etcdDataDir(), l.certDir(), l.logDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if err := writeServiceAccountKey(l.serviceAccountKey()); err != nil {
		return err
	}
	token, err := newToken()
	if err != nil {
		return err
	}
	if err := os.WriteFile(l.tokenFile(), []byte(tokenFileContent(token)), 0o600); err != nil {
		return err
	}
	cp.token = token

	etcd, err := cp.run(Etcd, etcdFlags(l), nil)
	if err != nil {
		return err
	}
	if err := cp.waitReady(ctx, etcd); err != nil {
		return err
	}

	apiServer, err := cp.run(KubeAPIServer, apiServerFlags(l, cp.opts.Components), nil)
	if err != nil {
		return err
	}
	if err := cp.waitReady(ctx, apiServer); err != nil {
		return err
	}
	// The API server wrote its self-signed certificate before it served.
	// It reuses it from the cert dir when restarted.
	cp.Config = restConfig(l.apiServerURL(), l.servingCert(), token)
	if cp.Client, err = kubernetes.NewForConfig(cp.Config); err != nil {
		return err
	}
	if _, err := cp.Client.Discovery().ServerVersion(); err != nil {
		return fmt.Errorf("reaching the API server with the kubeconfig's CA: %w", err)
	}
	if err := writeKubeconfig(cp.Config, cp.KubeconfigPath); err != nil {
		return err
	}
	if err := writeCABundle(l.servingCert(), l.caBundle()); err != nil {
		return err
	}

	if err := cp.applyCRDs(ctx); err != nil {
		return err
	}

	c := cp.opts.Components
	var checks []*process
	if c.ControllerManager {
		p, err := cp.run(KubeControllerManager, controllerManagerFlags(l, cp.opts.Controllers), nil)
		if err != nil {
			return err
		}
		checks = append(checks, p)
	}
	if c.Scheduler {
		p, err := cp.run(KubeScheduler, schedulerFlags(l), nil)
		if err != nil {
			return err
		}
		checks = append(checks, p)
	}
	var kwok *process
	if c.Kwok {
		stages, err := writeStages(cp.opts.BinDir, filepath.Join(l.kwokDir(), "stages"))
		if err != nil {
			return err
		}
		if kwok, err = cp.run(Kwok, kwokFlags(l, stages), kwokEnv(l)); err != nil {
			return err
		}
		for i := range cp.opts.Nodes {
			node, err := cp.Client.CoreV1().Nodes().Create(ctx, NewNode(NodeName(i)), metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("creating node: %w", err)
			}
			cp.Nodes = append(cp.Nodes, node.Name)
		}
	}
	for _, p := range checks {
		if err := cp.waitReady(ctx, p); err != nil {
			return err
		}
	}
	if c.Kwok {
		if err := cp.waitReady(ctx, kwok); err != nil {
			return err
		}
	}
	if c.ControllerManager {
		if err := cp.WaitForServiceAccount(ctx, metav1.NamespaceDefault); err != nil {
			return err
		}
	}
	return nil
}

// applyCRDs applies Options.CRDs and waits until they are Established.
func (cp *ControlPlane) applyCRDs(ctx context.Context) error {
	if len(cp.opts.CRDs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, cp.opts.StartTimeout)
	defer cancel()
	var files []string
	for _, path := range cp.opts.CRDs {
		files = append(files, "--filename="+path)
	}
	for _, args := range [][]string{
		// Server-side: the CRDs are too large for the annotation of a
		// client-side apply (256 KiB).
		append([]string{"apply", "--server-side"}, files...),
		append([]string{"wait", "--for=condition=Established", "--timeout=" + cp.opts.StartTimeout.String()}, files...),
	} {
		out, err := cp.KubectlCommand(ctx, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	cp.opts.Logf("Applied CRDs %v", cp.opts.CRDs)
	return nil
}

// run starts a component from the bin dir with flags and the component's
// ExtraArgs, and records it for Stop.
func (cp *ControlPlane) run(name string, flags []flag, env []string) (*process, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.stopped {
		return nil, errors.New("control plane stopped")
	}
	args := renderFlags(flags, cp.opts.ExtraArgs[name])
	p, err := startProcess(name, filepath.Join(cp.opts.BinDir, name), args, env, cp.layout.logFile(name))
	if err != nil {
		return nil, err
	}
	cp.processes = append(cp.processes, p)
	cp.opts.Logf("Started %s (pid %d), log %s", name, p.pid(), p.logFile)
	return p, nil
}

// healthClient polls the components' health endpoints. They serve
// self-signed certificates, and only answer "ok": trust is not at stake.
var healthClient = &http.Client{
	Timeout: 2 * time.Second,
	Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // health checks of local test components
		DisableKeepAlives: true,
	},
}

// waitReady waits until the component p is ready: its health endpoint
// answers 200 or, for kwok, which serves none, every fake node is Ready and
// schedulable.
func (cp *ControlPlane) waitReady(ctx context.Context, p *process) error {
	l := cp.layout
	switch p.name {
	case Etcd:
		return cp.waitHealthy(ctx, p, l.etcdURL()+"/health", "")
	case KubeAPIServer:
		return cp.waitHealthy(ctx, p, l.apiServerURL()+"/readyz", cp.token)
	case KubeControllerManager:
		return cp.waitHealthy(ctx, p, "https://127.0.0.1:"+strconv.Itoa(l.controllerManagerPort)+"/healthz", "")
	case KubeScheduler:
		return cp.waitHealthy(ctx, p, "https://127.0.0.1:"+strconv.Itoa(l.schedulerPort)+"/readyz", "")
	case Kwok:
		return cp.waitNodes(ctx, p)
	}
	return fmt.Errorf("no readiness check for %s", p.name)
}

// waitHealthy polls url until it answers 200, p exits or the start timeout
// passes.
func (cp *ControlPlane) waitHealthy(ctx context.Context, p *process, url, token string) error {
	var last string
	err := cp.poll(ctx, p, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := healthClient.Do(req)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
		last = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %s at %s (last answer: %s): %w", p.name, url, last, err)
	}
	return nil
}

// waitNodes waits until every fake node is Ready and schedulable.
func (cp *ControlPlane) waitNodes(ctx context.Context, kwok *process) error {
	var pending []string
	err := cp.poll(ctx, kwok, func(ctx context.Context) (bool, error) {
		pending = pending[:0]
		for _, name := range cp.Nodes {
			node, err := cp.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if !nodeSchedulable(node) {
				pending = append(pending, name)
			}
		}
		return len(pending) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for nodes %v to be Ready and schedulable: %w", pending, err)
	}
	return nil
}

// WaitForServiceAccount waits until the default service account of
// namespace exists: before that, the API server refuses pods there.
func (cp *ControlPlane) WaitForServiceAccount(ctx context.Context, namespace string) error {
	err := cp.poll(ctx, nil, func(ctx context.Context) (bool, error) {
		_, err := cp.Client.CoreV1().ServiceAccounts(namespace).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return fmt.Errorf("waiting for service account %s/default: %w", namespace, err)
	}
	return nil
}

// poll runs cond every 50ms until it is done, fails, p (if not nil) or any
// other component exits, or the start timeout passes.
func (cp *ControlPlane) poll(ctx context.Context, p *process, cond wait.ConditionWithContextFunc) error {
	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, cp.opts.StartTimeout, true, func(ctx context.Context) (bool, error) {
		if p != nil {
			if err := p.exitErr(); err != nil {
				return false, err
			}
		}
		if err := cp.exited(); err != nil {
			return false, err
		}
		return cond(ctx)
	})
}

// exited returns the exit error of the first component that exited.
func (cp *ControlPlane) exited() error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	for _, p := range cp.processes {
		if cp.restarting[p.name] {
			continue
		}
		if err := p.exitErr(); err != nil {
			return err
		}
	}
	return nil
}

// Healthy returns an error when a component has exited since Start, other
// than by Restart.
func (cp *ControlPlane) Healthy() error {
	return cp.exited()
}

// PIDs returns the process IDs of the components, by name.
func (cp *ControlPlane) PIDs() map[string]int {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	pids := make(map[string]int, len(cp.processes))
	for _, p := range cp.processes {
		pids[p.name] = p.pid()
	}
	return pids
}

// LogFile returns the path of a component's log.
func (cp *ControlPlane) LogFile(component string) string {
	return cp.layout.logFile(component)
}

// KubectlCommand returns a command running the built kubectl with args
// against the control plane.
func (cp *ControlPlane) KubectlCommand(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, cp.KubectlPath, append([]string{"--kubeconfig=" + cp.KubeconfigPath}, args...)...)
	// Keep the user's kubectl config and cache out of it.
	cmd.Env = append(os.Environ(), "KUBECONFIG="+cp.KubeconfigPath, "KUBECACHEDIR="+filepath.Join(cp.Dir, "kubectl-cache"))
	return cmd
}

// KeepDir makes Stop keep Dir, with the components' logs, and print its
// path. Call it when the run failed.
func (cp *ControlPlane) KeepDir() {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.keepDir = true
}

// Stop kills every component, clients first, and removes Dir unless KeepDir
// was called. It is safe to call more than once and from any goroutine, e.g.
// a signal handler; later calls return the first call's result.
func (cp *ControlPlane) Stop() error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.stopped {
		return cp.stopErr
	}
	cp.stopped = true
	defer unregister(cp)

	// Stop the API server's clients together, then the API server, then
	// etcd, so that none of them dwells on a lost connection.
	var clients, servers []*process
	for _, p := range cp.processes {
		if p.name == Etcd || p.name == KubeAPIServer {
			servers = append(servers, p)
		} else {
			clients = append(clients, p)
		}
	}
	var wg sync.WaitGroup
	for _, p := range clients {
		wg.Go(func() { p.stop(cp.opts.StopGracePeriod) })
	}
	wg.Wait()
	for i := len(servers) - 1; i >= 0; i-- {
		servers[i].stop(cp.opts.StopGracePeriod)
	}

	if cp.keepDir {
		cp.opts.Logf("Kept the control plane's dir with its logs: %s", cp.Dir)
		return nil
	}
	if err := os.RemoveAll(cp.Dir); err != nil {
		cp.stopErr = fmt.Errorf("removing %s: %w", cp.Dir, err)
	}
	return cp.stopErr
}

// running holds the control planes not stopped yet and the process groups
// of the builds in progress, for StopAll.
var running = struct {
	sync.Mutex
	set    map[*ControlPlane]struct{}
	builds map[int]struct{}
}{set: map[*ControlPlane]struct{}{}, builds: map[int]struct{}{}}

func register(cp *ControlPlane) {
	running.Lock()
	defer running.Unlock()
	running.set[cp] = struct{}{}
}

func unregister(cp *ControlPlane) {
	running.Lock()
	defer running.Unlock()
	delete(running.set, cp)
}

// StopAll kills the builds BuildTools runs and stops every control plane of
// this process that is not stopped yet, keeping their dirs: it is meant for
// a signal handler, when the run did not end well.
func StopAll() {
	running.Lock()
	for pgid := range running.builds {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	cps := make([]*ControlPlane, 0, len(running.set))
	for cp := range running.set {
		cps = append(cps, cp)
	}
	running.Unlock()
	for _, cp := range cps {
		cp.KeepDir()
		_ = cp.Stop()
	}
}
