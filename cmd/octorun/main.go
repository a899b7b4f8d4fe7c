// Command octorun runs Octorun's controllers against a Kubernetes cluster.
//
// Every flag can also be set through the environment variable named in its
// help (OCTORUN_<FLAG>); GitHub credentials come only from files or the
// environment, never from flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/controller/githubsync"
	"github.com/octorun/octorun/pkg/controller/runner"
	"github.com/octorun/octorun/pkg/controller/runnerset"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned"
	informers "github.com/octorun/octorun/pkg/generated/informers/externalversions"
	"github.com/octorun/octorun/pkg/github"
	"github.com/octorun/octorun/pkg/githubevents"
	"github.com/octorun/octorun/pkg/processmetrics"
	"github.com/octorun/octorun/pkg/statemetrics"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		klog.ErrorS(err, "Octorun stopped")
		klog.Flush()
		os.Exit(1)
	}
}

// options are Octorun's settings.
type options struct {
	kubeconfig       string
	namespace        string
	kubeQPS          float64
	kubeBurst        int
	githubURL        string
	githubAPIURL     string
	credentialsDir   string
	runnerNamePrefix string
	runnerWorkers    int
	runnerSetWorkers int
	webhookWorkers   int
	resync           time.Duration
	leaderElect      bool
	leaseName        string
	leaseNamespace   string
	metricsAddr      string
	profiling        bool
	serviceAccount   string
	secondaryLimit   int

	webhookAddr       string
	webhookPath       string
	webhookSecretFile string
	syncPeriod        time.Duration

	admissionAddr       string
	admissionService    string
	admissionSecret     string
	admissionConfig     string
	admissionCertFile   string
	admissionKeyFile    string
	admissionExtraNames string
}

func (o *options) register(fs *flag.FlagSet) {
	str := func(p *string, name, def, usage string) {
		fs.StringVar(p, name, envOr(name, def), usage+" ("+envName(name)+")")
	}
	str(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "Path to a kubeconfig; empty means the in-cluster config")
	str(&o.namespace, "namespace", "", "Namespace whose Runners Octorun manages; empty means all namespaces")
	str(&o.githubURL, "github-url", "https://github.com", "GitHub's URL: https://github.com or a GitHub Enterprise Server URL")
	str(&o.githubAPIURL, "github-api-url", "", "GitHub REST API URL, if not the one derived from --github-url (e.g. a GitHub simulator)")
	str(&o.credentialsDir, "github-credentials-dir", "", "Directory with the GitHub credentials as files (a mounted Secret): token, or app-id, installation-id and private-key; "+
		"if unset or missing a file, the environment variables "+github.TokenEnv+", "+github.AppIDEnv+", "+github.InstallationIDEnv+", "+github.PrivateKeyEnv+" are read")
	str(&o.runnerNamePrefix, "runner-name-prefix", "", "Prefix of every GitHub runner name, unique per cluster when clusters share an organization")
	fs.Float64Var(&o.kubeQPS, "kube-api-qps", envFloat("kube-api-qps", 50), "Kubernetes client queries per second ("+envName("kube-api-qps")+")")
	fs.IntVar(&o.kubeBurst, "kube-api-burst", envInt("kube-api-burst", 100), "Kubernetes client burst ("+envName("kube-api-burst")+")")
	fs.IntVar(&o.runnerWorkers, "runner-workers", envInt("runner-workers", 8), "Runners synced concurrently ("+envName("runner-workers")+")")
	fs.IntVar(&o.runnerSetWorkers, "runnerset-workers", envInt("runnerset-workers", 4), "RunnerSets synced concurrently ("+envName("runnerset-workers")+")")
	fs.BoolVar(&o.leaderElect, "leader-elect", envOr("leader-elect", "true") == "true", "Run the control loops only while holding the leader Lease, so replicas can run side by side ("+envName("leader-elect")+")")
	str(&o.leaseName, "leader-election-lease", "octorun", "Name of the leader Lease")
	str(&o.leaseNamespace, "leader-election-namespace", envOr("pod-namespace", os.Getenv("POD_NAMESPACE")), "Namespace of the leader Lease; empty means the namespace Octorun runs in, or default")
	str(&o.metricsAddr, "metrics-addr", ":8080", "Address of the metrics, /healthz and /readyz server; 0 turns it off")
	fs.BoolVar(&o.profiling, "profiling", envOr("profiling", "false") == "true", "Serve Go's profiles (net/http/pprof) under /debug/pprof/ on the metrics server ("+envName("profiling")+")")
	fs.IntVar(&o.secondaryLimit, "github-secondary-limit", envInt("github-secondary-limit", 900), "GitHub's secondary rate limit in points per minute (a GET costs 1, a POST or DELETE 5), which Octorun paces its requests under; "+
		"0 turns pacing off, for a GitHub Enterprise Server with rate limiting disabled ("+envName("github-secondary-limit")+")")
	str(&o.webhookAddr, "github-webhook-addr", "", "Address of the server receiving GitHub's workflow_job webhooks, e.g. :8082; empty turns it off")
	str(&o.webhookPath, "github-webhook-path", "/github/webhooks", "Path of GitHub's webhooks")
	fs.IntVar(&o.webhookWorkers, "github-webhook-workers", envInt("github-webhook-workers", 4), "Webhook deliveries processed concurrently; each may write a job hint on a Runner ("+envName("github-webhook-workers")+")")
	str(&o.webhookSecretFile, "github-webhook-secret-file", "", "File with the GitHub webhook secret (or OCTORUN_GITHUB_WEBHOOK_SECRET); required with --github-webhook-addr")
	fs.DurationVar(&o.syncPeriod, "sync-period", envDuration("sync-period", 5*time.Minute), "How often each GitHub organization or repository in use is synced with GitHub ("+envName("sync-period")+")")
	str(&o.serviceAccount, "service-account", "octorun", "Octorun's ServiceAccount (in its namespace): the only user the admission webhook lets set spec.id and spec.os")
	str(&o.admissionAddr, "admission-addr", "", "Address of the admission webhook server (HTTPS), e.g. :9443; empty turns it off")
	str(&o.admissionService, "admission-service", "octorun-webhook", "Service of the admission webhook, named in its certificate")
	str(&o.admissionSecret, "admission-cert-secret", "octorun-webhook-tls", "Secret (in Octorun's namespace) where Octorun keeps the webhook's CA and certificate")
	str(&o.admissionConfig, "admission-webhook-configuration", "octorun", "Mutating and validating webhook configurations that get the CA bundle")
	str(&o.admissionCertFile, "admission-cert-file", "", "Serve this certificate (e.g. from cert-manager) instead of a self-managed one; reloaded when it changes")
	str(&o.admissionKeyFile, "admission-key-file", "", "Key of --admission-cert-file")
	str(&o.admissionExtraNames, "admission-extra-names", "", "Comma-separated extra DNS names and IPs of the self-managed certificate")
	fs.DurationVar(&o.resync, "resync-period", envDuration("resync-period", 10*time.Minute), "How often every object is looked at again even without a change ("+envName("resync-period")+")")
}

// secondaryPointsPerMinute turns --github-secondary-limit into the budget's
// option, where 0 means GitHub's default and a negative number no pacing.
func secondaryPointsPerMinute(flagValue int) int {
	if flagValue == 0 {
		return -1
	}
	return flagValue
}

func envName(flagName string) string {
	return "OCTORUN_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func envOr(flagName, def string) string {
	if v, ok := os.LookupEnv(envName(flagName)); ok {
		return v
	}
	return def
}

func envInt(flagName string, def int) int {
	if v, err := strconv.Atoi(envOr(flagName, "")); err == nil {
		return v
	}
	return def
}

func envFloat(flagName string, def float64) float64 {
	if v, err := strconv.ParseFloat(envOr(flagName, ""), 64); err == nil {
		return v
	}
	return def
}

func envDuration(flagName string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(envOr(flagName, "")); err == nil {
		return v
	}
	return def
}

// run parses args and runs Octorun until ctx is done.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("octorun", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	o.register(fs)
	klog.InitFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Octorun runs GitHub Actions self-hosted runners as Kubernetes pods.\n\nUsage: octorun [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.secondaryLimit < 0 {
		return fmt.Errorf("--github-secondary-limit is %d: it must be 0 (no pacing) or a number of points per minute", o.secondaryLimit)
	}
	if o.webhookWorkers < 1 {
		return fmt.Errorf("--github-webhook-workers is %d: it must be at least 1", o.webhookWorkers)
	}
	logger := klog.FromContext(ctx)

	config, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return fmt.Errorf("loading the Kubernetes client config: %w", err)
	}
	config.QPS, config.Burst = float32(o.kubeQPS), o.kubeBurst
	config.UserAgent = rest.DefaultKubernetesUserAgent() + " octorun"
	kubeClient, err := kubernetes.NewForConfig(config)
	if err != nil {
		return fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	octorunClient, err := versioned.NewForConfig(config)
	if err != nil {
		return fmt.Errorf("creating the Octorun client: %w", err)
	}
	version, err := kubeClient.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("the Kubernetes API server at %s cannot be reached: %w", config.Host, err)
	}
	if _, err := octorunClient.OctorunV1alpha1().Runners(o.namespace).List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		return fmt.Errorf("listing Runners (are Octorun's CRDs installed? kubectl apply -f manifests/crd): %w", err)
	}
	logger.Info("Connected to Kubernetes", "host", config.Host, "version", version.GitVersion)

	creds, err := github.LoadCredentials(o.credentialsDir, os.Getenv)
	if err != nil {
		return err
	}
	registry := processmetrics.NewRegistry()
	// Before any controller makes its queue.
	if err := processmetrics.RegisterWorkqueueMetrics(registry); err != nil {
		return fmt.Errorf("registering work queue metrics: %w", err)
	}
	if err := processmetrics.RegisterClientMetrics(registry); err != nil {
		return fmt.Errorf("registering client metrics: %w", err)
	}
	gh, err := github.New(github.Options{ServerURL: o.githubURL, APIURL: o.githubAPIURL, Credentials: creds, Metrics: github.NewMetrics(registry),
		Budget: github.BudgetOptions{SecondaryPointsPerMinute: secondaryPointsPerMinute(o.secondaryLimit)}})
	if err != nil {
		return err
	}

	// The caches leave out managedFields, which Octorun never reads: a
	// good part of a cached object's memory. Writes of cached objects
	// without them keep the server's.
	octorunInformers := informers.NewSharedInformerFactoryWithOptions(octorunClient, o.resync, informers.WithNamespace(o.namespace),
		informers.WithTransform(stripManagedFields))
	// Octorun caches only its own pods.
	kubeInformers := kubeinformers.NewSharedInformerFactoryWithOptions(kubeClient, o.resync,
		kubeinformers.WithNamespace(o.namespace),
		kubeinformers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = octorunv1alpha1.LabelRunner }),
		kubeinformers.WithTransform(stripManagedFields))

	hints, err := runner.NewJobHints(octorunClient, octorunInformers.Octorun().V1alpha1().Runners(),
		runner.JobHintsOptions{RunnerNamePrefix: o.runnerNamePrefix})
	if err != nil {
		return err
	}
	var receiver *githubevents.Receiver
	if o.webhookAddr != "" {
		secret, err := githubevents.LoadSecret(o.webhookSecretFile, "OCTORUN_GITHUB_WEBHOOK_SECRET", os.Getenv)
		if err != nil {
			return err
		}
		if receiver, err = githubevents.NewReceiver(githubevents.Options{
			Secret: secret, Sink: hints, Path: o.webhookPath, Registerer: registry, Workers: o.webhookWorkers,
		}); err != nil {
			return err
		}
	}
	// The informers the control loops use, made before the factories start:
	// the loops come and go with the leader Lease, the caches stay warm.
	octorunInformers.Octorun().V1alpha1().Runners().Informer()
	octorunInformers.Octorun().V1alpha1().RunnerSets().Informer()
	kubeInformers.Core().V1().Pods().Informer()
	octorunInformers.Start(ctx.Done())
	kubeInformers.Start(ctx.Done())
	defer octorunInformers.Shutdown()
	defer kubeInformers.Shutdown()

	if o.leaseNamespace == "" {
		o.leaseNamespace = "default"
	}

	stateOpts := statemetrics.Options{}
	if receiver != nil {
		stateOpts.QueuedJobs = statemetrics.QueuedJobsFunc(func(set *octorunv1alpha1.RunnerSet) (int, bool) {
			scope, err := github.ParseScope(set.Spec.Template.Spec.URL)
			if err != nil {
				return 0, false
			}
			return receiver.QueuedJobs(scope.Owner, scope.Repo, octorunv1alpha1.GitHubLabels(set.Spec.Template.Labels))
		})
	}
	stateMetrics := statemetrics.New(octorunInformers.Octorun().V1alpha1().Runners().Lister(),
		octorunInformers.Octorun().V1alpha1().RunnerSets().Lister(), stateOpts)

	// Servers run on every replica; the control loops on the leader only.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	serverErrs := make(chan error, 4)
	var h health
	go serve(ctx, "metrics", o.metricsAddr, h.mux(statemetrics.Handler(registry, stateMetrics), o.profiling), serverErrs)
	if o.admissionAddr != "" {
		if err := startAdmission(ctx, kubeClient, o, serverErrs); err != nil {
			return err
		}
	}
	if receiver != nil {
		// Every replica takes deliveries: the hints it writes are idempotent.
		go receiver.Run(ctx)
		go func() {
			logger.Info("Serving", "server", "github-webhooks", "addr", o.webhookAddr, "path", o.webhookPath)
			if err := githubevents.NewServer(o.webhookAddr, receiver, nil).Run(ctx); err != nil {
				serverErrs <- fmt.Errorf("GitHub webhook server: %w", err)
			}
		}()
	}
	go func() {
		if cache.WaitForCacheSync(ctx.Done(), octorunInformers.Octorun().V1alpha1().Runners().Informer().HasSynced,
			octorunInformers.Octorun().V1alpha1().RunnerSets().Informer().HasSynced) {
			h.ready.Store(true)
		}
	}()

	logger.Info("Starting Octorun", "github", o.githubURL, "namespace", o.namespace)
	done := make(chan error, 1)
	go func() {
		// The control loops are made anew for each term of leadership, as
		// in a new process: fresh work queues and expectations, and event
		// handlers removed from the shared informers when the term ends.
		done <- runLeaderElected(ctx, kubeClient, o, func(ctx context.Context) error {
			runners, err := runner.New(ctx, kubeClient, octorunClient, gh,
				octorunInformers.Octorun().V1alpha1().Runners(),
				kubeInformers.Core().V1().Pods(),
				runner.Options{RunnerNamePrefix: o.runnerNamePrefix, GitHubHost: gh.Host()})
			if err != nil {
				return err
			}
			syncer, err := githubsync.New(ctx, kubeClient, octorunClient, gh, octorunInformers.Octorun().V1alpha1().Runners(),
				githubsync.Options{Period: o.syncPeriod, RunnerNamePrefix: o.runnerNamePrefix, GitHubHost: gh.Host(), Registerer: registry})
			if err != nil {
				return err
			}
			runnerSets, err := runnerset.New(ctx, kubeClient, octorunClient,
				octorunInformers.Octorun().V1alpha1().RunnerSets(),
				octorunInformers.Octorun().V1alpha1().Runners(),
				runnerset.Options{})
			if err != nil {
				return err
			}
			errs := make(chan error, 3)
			go func() { errs <- runners.Run(ctx, o.runnerWorkers) }()
			go func() { errs <- runnerSets.Run(ctx, o.runnerSetWorkers) }()
			go func() { errs <- syncer.Run(ctx) }()
			var first error
			for range 3 {
				if err := <-errs; err != nil && first == nil && ctx.Err() == nil {
					first = err
				}
			}
			return first
		})
	}()
	select {
	case err := <-serverErrs:
		cancel()
		<-done
		return err
	case err := <-done:
		return err
	}
}

// stripManagedFields is the informers' transform: it drops managedFields
// from each object before it is cached.
func stripManagedFields(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
