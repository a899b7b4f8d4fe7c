// Command playground runs Octorun locally with no cluster and no GitHub: it
// builds (once) and starts a real control plane with kwok nodes, a GitHub
// simulator and Octorun as a process, applies the CRDs and a sample
// RunnerSet, feeds simulated jobs, and shows live what happens. Ctrl-C
// tears everything down. With --scale-set the sample RunnerSet is a runner
// scale set, whose jobs name it in runs-on, and Octorun runs without the
// GitHub webhook receiver.
//
//	go run ./test/playground [flags]
package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned"
	"github.com/octorun/octorun/test/framework/controlplane"
	"github.com/octorun/octorun/test/framework/install"
	"github.com/octorun/octorun/test/framework/octorunproc"
	"github.com/octorun/octorun/test/framework/runneragent"
	"github.com/octorun/octorun/test/githubsim"
)

const token = "ghp_playground"

type options struct {
	kubeconfig string
	runners    int
	jobEvery   time.Duration
	jobLength  time.Duration
	duration   time.Duration
	plain      bool
	scaleSet   bool
}

func main() {
	var o options
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "Use this cluster instead of starting a local control plane; its nodes must be kwok's, as the simulated GitHub's runner configs work with no real runner")
	flag.IntVar(&o.runners, "runners", 3, "Runners of the sample RunnerSet (with --scale-set, its maxRunners)")
	flag.DurationVar(&o.jobEvery, "job-every", 2*time.Second, "How often a simulated job is queued (0: none)")
	flag.DurationVar(&o.jobLength, "job-length", 5*time.Second, "Longest duration of a simulated job")
	flag.DurationVar(&o.duration, "duration", 0, "Stop after this long (0: run until Ctrl-C)")
	flag.BoolVar(&o.plain, "plain", false, "Print status lines instead of refreshing one line")
	flag.BoolVar(&o.scaleSet, "scale-set", false, "Make the sample RunnerSet a runner scale set (minRunners 0, maxRunners --runners) fed by jobs with runs-on: its name, and run Octorun without the GitHub webhook receiver")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "playground:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "playground: "+format+"\n", args...)
}

func run(ctx context.Context, o options) error {
	root, err := controlplane.RepoRoot()
	if err != nil {
		return err
	}

	// The cluster: ours, or the one given.
	kubeconfig := o.kubeconfig
	kubectl := "kubectl"
	if kubeconfig == "" {
		logf("Building the control plane (minutes the first time, cached afterwards)")
		if err := controlplane.BuildTools(ctx, "", os.Stderr); err != nil {
			return fmt.Errorf("building the control plane: %w", err)
		}
		cp, err := controlplane.Start(ctx, controlplane.Options{
			Components: controlplane.AllComponents,
			Nodes:      2,
			CRDs:       []string{filepath.Join(root, "manifests", "crd")},
			Logf:       logf,
		})
		if err != nil {
			return err
		}
		defer func() {
			logf("Stopping the control plane")
			if err := cp.Stop(); err != nil {
				logf("Stopping the control plane: %v", err)
			}
		}()
		kubeconfig, kubectl = cp.KubeconfigPath, cp.KubectlPath
	}
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	config.QPS, config.Burst = 50, 100
	kube, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	octorun, err := versioned.NewForConfig(config)
	if err != nil {
		return err
	}
	if o.kubeconfig != "" {
		out, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", kubeconfig, "apply", "--server-side", "-f", filepath.Join(root, "manifests", "crd")).CombinedOutput()
		if err != nil {
			return fmt.Errorf("applying the CRDs: %v: %s", err, out)
		}
	}

	// GitHub.
	sim := githubsim.New(githubsim.Options{})
	defer sim.Close()
	sim.AddToken(token)
	sim.AddOrganization("octo")
	sim.AddRepository("octo", "hello")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	simURL := "http://" + ln.Addr().String() + "/"
	logf("GitHub simulator on %s", simURL)

	// Octorun, as a process, installed as manifests/ installs it: its
	// namespace, ServiceAccount and RBAC, and its admission webhook, which
	// the API server calls on the loopback address. A cluster given with
	// --kubeconfig cannot call back here: there Octorun runs with that
	// kubeconfig and no webhook.
	octorunBin := filepath.Join(root, "_output", "bin", "octorun")
	logf("Building Octorun")
	if err := octorunproc.Build(ctx, root, octorunBin); err != nil {
		return err
	}
	logDir, err := os.MkdirTemp("", "octorun-playground-")
	if err != nil {
		return err
	}
	args := []string{"--kubeconfig", kubeconfig, "--pod-namespace", "default"}
	if o.kubeconfig == "" {
		admissionAddr, err := octorunproc.FreeAddr()
		if err != nil {
			return err
		}
		inst, err := install.Local(ctx, install.Options{
			Root: root, Config: config, Client: kube, Kubectl: kubectl, Kubeconfig: kubeconfig, Dir: logDir,
			RunnerNamespaces: []string{"default"}, AdmissionAddr: admissionAddr,
		})
		if err != nil {
			return fmt.Errorf("installing Octorun: %w", err)
		}
		args = inst.Args
		logf("Installed Octorun's namespace, RBAC, admission webhook (%s) and a ScopeGrant of every scope to namespace default", admissionAddr)
	} else {
		// The sample RunnerSet's namespace may register runners only
		// where a ScopeGrant lets it.
		if err := install.Grant(ctx, config, "octorun-playground", "default"); err != nil {
			return err
		}
		logf("Created ScopeGrant octorun-playground: namespace default may register runners anywhere on GitHub")
	}
	logPath := filepath.Join(logDir, "octorun.log")
	args = append(args, "--github-api-url", simURL, "--runner-name-prefix", "playground-", "--namespace", "default",
		"--metrics-addr", "127.0.0.1:0", "--metrics-secure=false", "--health-probe-addr", "127.0.0.1:0",
		"--sync-period", "30s", "-v", "2")
	if !o.scaleSet {
		// GitHub's webhooks go to Octorun's receiver on a free loopback
		// port. A scale set needs none: its demand and its jobs' events
		// come over the message session Octorun opens.
		hookArgs, err := wireWebhooks(sim, logDir)
		if err != nil {
			return err
		}
		args = append(args, hookArgs...)
	}
	proc, err := octorunproc.Start(octorunproc.Options{
		Binary:  octorunBin,
		Args:    args,
		Env:     []string{"GITHUB_TOKEN=" + token},
		LogPath: logPath,
	})
	if err != nil {
		return err
	}
	defer func() {
		logf("Stopping Octorun")
		if err := proc.Stop(10 * time.Second); err != nil {
			logf("Stopping Octorun: %v", err)
		}
	}()
	if o.kubeconfig == "" {
		if err := waitForAdmission(ctx, octorun, proc); err != nil {
			return err
		}
	}
	logf("Octorun runs (pid %d), log %s", proc.Pid, logPath)

	// The runner side of the pods, and the sample RunnerSet.
	// The agent outlives ctx: runners finishing their jobs at shutdown need
	// their pods to exit.
	agentCtx, stopAgent := context.WithCancel(context.Background())
	defer stopAgent()
	agent := &runneragent.Agent{Client: kube, Sim: sim, Namespace: "default", Interval: 200 * time.Millisecond}
	go agent.Run(agentCtx)
	set := sampleRunnerSet(o)
	if _, err := octorun.OctorunV1alpha1().RunnerSets("default").Create(ctx, set, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the sample RunnerSet: %w", err)
	}
	if o.scaleSet {
		logf("Created RunnerSet default/%s, the runner scale set %q of organization octo: 0 to %d runners, one per job GitHub assigns to it", sampleName, set.ScaleSetName(), o.runners)
		fmt.Fprintf(os.Stderr, "\n  Use kubectl alongside:  export KUBECONFIG=%s\n  e.g. kubectl get runnersets,runners -o wide; kubectl get runnerset/%s -o jsonpath='{.status.scaleSet}'\n"+
			"  Queue a job yourself:   curl -d '{\"owner\":\"octo\",\"repo\":\"hello\",\"labels\":[\"%s\"]}' %s_sim/jobs\n  Ctrl-C stops everything.\n\n",
			kubeconfig, sampleName, set.ScaleSetName(), simURL)
	} else {
		logf("Created RunnerSet default/%s with %d runners", sampleName, o.runners)
		fmt.Fprintf(os.Stderr, "\n  Use kubectl alongside:  export KUBECONFIG=%s\n  e.g. kubectl get runnersets,runners -o wide; kubectl scale runnerset/%s --replicas=5\n  Ctrl-C stops everything.\n\n", kubeconfig, sampleName)
	}

	// Jobs, and what happens.
	feed := time.NewTicker(max(o.jobEvery, time.Second))
	defer feed.Stop()
	show := time.NewTicker(time.Second)
	defer show.Stop()
	for {
		select {
		case <-ctx.Done():
			if !o.plain {
				fmt.Println()
			}
			logf("Shutting down")
			return cleanUp(octorun, sim)
		case <-proc.Done():
			return fmt.Errorf("Octorun exited: %v; see %s:\n%s", proc.Err(), logPath, proc.LogTail(15))
		case <-feed.C:
			if o.jobEvery > 0 {
				d := time.Duration(rand.Int64N(int64(max(o.jobLength, time.Second))))
				if o.scaleSet {
					sim.QueueScaleSetJob("octo", "hello", set.ScaleSetName(), d)
				} else {
					sim.QueueJob(githubsim.JobRequest{Owner: "octo", Repo: "hello", Duration: d})
				}
			}
		case <-show.C:
			line := statusLine(ctx, octorun, sim)
			if o.plain {
				fmt.Println(line)
			} else {
				fmt.Printf("\r\033[K%s", line)
			}
		}
	}
}

// waitForAdmission waits until the API server calls Octorun's admission
// webhook, which it does once Octorun has injected its CA bundle: a dry-run
// Runner comes back defaulted.
func waitForAdmission(ctx context.Context, octorun versioned.Interface, proc *octorunproc.Process) error {
	logf("Waiting for the admission webhook")
	probe := &octorunv1alpha1.Runner{
		ObjectMeta: metav1.ObjectMeta{Name: "webhook-probe"},
		Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octo"},
	}
	deadline := time.Now().Add(time.Minute)
	for {
		r, err := octorun.OctorunV1alpha1().Runners("default").Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil && r.Spec.Workdir == octorunv1alpha1.DefaultWorkdir {
			return nil
		}
		select {
		case <-proc.Done():
			return fmt.Errorf("Octorun exited: %v:\n%s", proc.Err(), proc.LogTail(15))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the API server did not call Octorun's admission webhook within a minute (last: %v); see %s", err, proc.LogPath)
		}
	}
}

// sampleName is the name of the sample RunnerSet, and of its scale set.
const sampleName = "playground"

// sampleRunnerSet returns the sample RunnerSet: o.runners runners of
// organization octo, or with o.scaleSet the runner scale set of that
// organization that keeps 0 to o.runners runners, one for each job GitHub
// assigns to it. A scale set's spec.runners is Octorun's to set.
func sampleRunnerSet(o options) *octorunv1alpha1.RunnerSet {
	labels := map[string]string{octorunv1alpha1.LabelRunnerSet: sampleName}
	set := &octorunv1alpha1.RunnerSet{
		ObjectMeta: metav1.ObjectMeta{Name: sampleName},
		Spec: octorunv1alpha1.RunnerSetSpec{
			Runners:  ptr.To(int32(o.runners)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: octorunv1alpha1.RunnerTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octo"},
			},
		},
	}
	if o.scaleSet {
		set.Spec.Runners = nil
		set.Spec.ScaleSet = &octorunv1alpha1.RunnerScaleSetSpec{
			Name:       sampleName,
			MinRunners: ptr.To[int32](0),
			MaxRunners: ptr.To(int32(o.runners)),
		}
	}
	return set
}

// wireWebhooks points the simulator's webhooks at a receiver on a free
// loopback port, with a random secret of 32 bytes (as GitHub recommends and
// Octorun requires) in a file of dir, and returns Octorun's flags for that
// receiver.
func wireWebhooks(sim *githubsim.Server, dir string) ([]string, error) {
	hookAddr, err := octorunproc.FreeAddr()
	if err != nil {
		return nil, err
	}
	secretBytes := make([]byte, 32)
	_, _ = crand.Read(secretBytes)
	secret := hex.EncodeToString(secretBytes)
	secretFile := filepath.Join(dir, "webhook-secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		return nil, err
	}
	sim.SetWebhook("http://"+hookAddr+"/github/webhooks", secret)
	return []string{"--github-webhook-addr", hookAddr, "--github-webhook-secret-file", secretFile}, nil
}

// status is what a status line shows.
type status struct {
	now    time.Time
	phases map[octorunv1alpha1.RunnerPhase]int
	jobs   map[string]int // by the simulator's job status
	calls  int
	// set is the sample RunnerSet; nil when it could not be read.
	set *octorunv1alpha1.RunnerSet
}

// statusLine summarises the runners, the jobs and GitHub's load.
func statusLine(ctx context.Context, octorun versioned.Interface, sim *githubsim.Server) string {
	st := status{now: time.Now(), phases: map[octorunv1alpha1.RunnerPhase]int{}, jobs: map[string]int{}}
	list, err := octorun.OctorunV1alpha1().Runners("default").List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, r := range list.Items {
			p := r.Status.Phase
			if p == "" {
				p = octorunv1alpha1.RunnerPhasePending
			}
			st.phases[p]++
		}
	}
	for _, j := range sim.Jobs() {
		st.jobs[j.Status]++
	}
	for _, n := range sim.Calls() {
		st.calls += n
	}
	if set, err := octorun.OctorunV1alpha1().RunnerSets("default").Get(ctx, sampleName, metav1.GetOptions{}); err == nil {
		st.set = set
	}
	return st.String()
}

// String formats the status as one line; a scale set's part says its id
// on GitHub, the jobs its last message counted and the runners it wants.
func (st status) String() string {
	line := fmt.Sprintf("%s runners: %d Pending, %d Idle, %d Active, %d Complete, %d Failed | jobs: %d queued, %d running, %d done | GitHub API calls: %d",
		st.now.Format("15:04:05"), st.phases[octorunv1alpha1.RunnerPhasePending], st.phases[octorunv1alpha1.RunnerPhaseIdle],
		st.phases[octorunv1alpha1.RunnerPhaseActive], st.phases[octorunv1alpha1.RunnerPhaseComplete], st.phases[octorunv1alpha1.RunnerPhaseFailed],
		st.jobs[githubsim.JobQueued], st.jobs[githubsim.JobInProgress], st.jobs[githubsim.JobCompleted], st.calls)
	if st.set == nil || st.set.Spec.ScaleSet == nil {
		return line
	}
	ss := st.set.Status.ScaleSet
	if ss == nil || ss.ID == 0 {
		return line + " | scale set: not created yet"
	}
	desired := "-"
	if r := st.set.Spec.Runners; r != nil {
		desired = fmt.Sprint(*r)
	}
	return line + fmt.Sprintf(" | scale set %d: %d assigned, %d running, %s desired", ss.ID, ss.AssignedJobs, ss.RunningJobs, desired)
}

// cleanUp deletes the sample RunnerSet, so the runners (and a scale set) are
// removed from the (simulated) GitHub while Octorun still runs. Jobs still
// running are finished, as their runners would only go after them; a scale
// set's RunnerSet goes once its runners are gone and its scale set is
// deleted on GitHub.
func cleanUp(octorun versioned.Interface, sim *githubsim.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := octorun.OctorunV1alpha1().RunnerSets("default").Delete(ctx, sampleName, metav1.DeleteOptions{}); err != nil {
		return nil // the cluster is going anyway
	}
	for ctx.Err() == nil {
		for _, j := range sim.Jobs() {
			if j.Status == githubsim.JobInProgress {
				_ = sim.CompleteJob(j.ID)
			}
		}
		list, err := octorun.OctorunV1alpha1().Runners("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil
		}
		_, err = octorun.OctorunV1alpha1().RunnerSets("default").Get(ctx, sampleName, metav1.GetOptions{})
		if len(list.Items) == 0 && apierrors.IsNotFound(err) && len(sim.ScaleSets()) == 0 {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	logf("Some runners, or the scale set, were still being removed when the playground stopped")
	return nil
}
