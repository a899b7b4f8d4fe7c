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
	"syscall"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/octorun/octorun/cmd/octorun/app"
	"github.com/octorun/octorun/cmd/octorun/app/options"
	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
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

// run parses args and runs Octorun until ctx is done.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("octorun", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options.New()
	o.AddFlags(fs)
	klog.InitFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Octorun runs GitHub Actions self-hosted runners as Kubernetes pods.\n\nUsage: octorun [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := o.Parse(fs, args, os.LookupEnv); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	webhookSecret, err := o.WebhookSecret(os.LookupEnv)
	if err != nil {
		return err
	}
	logger := klog.FromContext(ctx)

	config, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	if err != nil {
		return fmt.Errorf("loading the Kubernetes client config: %w", err)
	}
	clients, err := app.NewClients(config, o)
	if err != nil {
		return err
	}
	version, err := clients.Kube.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("the Kubernetes API server at %s cannot be reached: %w", config.Host, err)
	}
	if _, err := clients.Octorun.OctorunV1alpha1().Runners(o.Namespace).List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		return fmt.Errorf("listing Runners (are Octorun's CRDs installed? kubectl apply -f manifests/crd): %w", err)
	}
	logger.Info("Connected to Kubernetes", "host", config.Host, "version", version.GitVersion)

	creds, err := github.LoadCredentials(o.CredentialsDir, os.Getenv)
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
	gh, err := github.New(github.Options{ServerURL: o.GitHubURL, APIURL: o.GitHubAPIURL, Credentials: creds, Metrics: github.NewMetrics(registry),
		Budget: github.BudgetOptions{SecondaryPointsPerMinute: o.SecondaryPointsPerMinute()}})
	if err != nil {
		return err
	}

	scaleSets, err := app.NewScaleSetClients(gh, creds, o)
	if err != nil {
		return err
	}
	informers := app.NewInformers(clients, o)
	var receiver *githubevents.Receiver
	if o.WebhookAddr != "" {
		if receiver, err = app.NewReceiver(clients, informers, webhookSecret, registry, o); err != nil {
			return err
		}
	}
	informers.Start(ctx)
	defer informers.Shutdown()

	grants := informers.Grants()
	stateOpts := statemetrics.Options{}
	if receiver != nil {
		stateOpts.QueuedJobs = statemetrics.QueuedJobsFunc(func(set *octorunv1alpha1.RunnerSet) (int, bool) {
			scope, err := github.ParseScope(set.Spec.Template.Spec.URL)
			if err != nil {
				return 0, false
			}
			if grants.Check(set.Namespace, set.Spec.Template.Spec.URL, set.Spec.Template.Spec.Group) != nil {
				// A namespace learns the demand of granted scopes only.
				return 0, false
			}
			return receiver.QueuedJobsOfScope(scope, octorunv1alpha1.RunnerLabels(set.Spec.Template.Labels, &set.Spec.Template.Spec, o.DefaultRunnerArch))
		})
	}
	stateMetrics := statemetrics.New(informers.Octorun.Octorun().V1alpha1().Runners().Lister(),
		informers.Octorun.Octorun().V1alpha1().RunnerSets().Lister(), stateOpts)

	// Servers run on every replica; the control loops on the leader only.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	serverErrs := make(chan error, 5)
	var h health
	go serve(ctx, "health probes", o.HealthProbeAddr, h.mux(), nil, serverErrs)
	metrics, metricsTLS, err := secureMetrics(ctx, clients.Kube, o, metricsMux(statemetrics.Handler(registry, stateMetrics), o.Profiling))
	if err != nil {
		return err
	}
	go serve(ctx, "metrics", o.MetricsAddr, metrics, metricsTLS, serverErrs)
	if o.AdmissionAddr != "" {
		if err := startAdmission(ctx, clients.Kube, grants, informers.StorageClasses(),
			informers.Octorun.Octorun().V1alpha1().RunnerSets().Lister(), o, serverErrs); err != nil {
			return err
		}
	}
	if receiver != nil {
		// Every replica takes deliveries: the hints it writes are idempotent.
		go receiver.Run(ctx)
		go func() {
			logger.Info("Serving", "server", "github-webhooks", "addr", o.WebhookAddr, "path", o.WebhookPath)
			if err := githubevents.NewServer(o.WebhookAddr, receiver, nil).Run(ctx); err != nil {
				serverErrs <- fmt.Errorf("GitHub webhook server: %w", err)
			}
		}()
	}
	go func() {
		if informers.WaitForCacheSync(ctx) == nil {
			h.ready.Store(true)
		}
	}()

	// The lease has a client of its own: renewals never wait behind the
	// control loops' writes.
	lease, err := clients.For(app.ComponentLeaderElection)
	if err != nil {
		return err
	}
	logger.Info("Starting Octorun", "github", o.GitHubURL, "namespace", o.Namespace, "podNamespace", o.PodNamespace)
	done := make(chan error, 1)
	go func() {
		// The control loops are made anew for each term of leadership, as
		// in a new process: fresh work queues and expectations, and event
		// handlers removed from the shared informers when the term ends.
		done <- runLeaderElected(ctx, lease.Kube, o, func(ctx context.Context) error {
			controllers, err := app.NewControllers(ctx, clients, informers, gh, scaleSets, registry, o)
			if err != nil {
				return err
			}
			return controllers.Run(ctx)
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
