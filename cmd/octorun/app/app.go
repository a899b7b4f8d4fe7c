// Package app builds Octorun's parts from its options, for cmd/octorun and
// for the tests and tools that run Octorun in-process: the clients, the
// shared informers, the GitHub webhook receiver and, for each term of
// leadership, the control loops. What main keeps is the process: signals,
// the servers and the leader election campaign.
package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	actionsscaleset "github.com/actions/scaleset"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/octorun/octorun/cmd/octorun/app/options"
	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/controller/githubsync"
	"github.com/octorun/octorun/pkg/controller/runner"
	"github.com/octorun/octorun/pkg/controller/runnerset"
	"github.com/octorun/octorun/pkg/controller/scaleset"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned"
	informers "github.com/octorun/octorun/pkg/generated/informers/externalversions"
	"github.com/octorun/octorun/pkg/github"
	"github.com/octorun/octorun/pkg/githubevents"
	"github.com/octorun/octorun/pkg/githubevents/jobstore"
	"github.com/octorun/octorun/pkg/runnerscaleset"
	"github.com/octorun/octorun/pkg/scopegrant"
)

// UserAgent ends the user agent of Octorun's Kubernetes clients; a
// component's client adds "/<component>" (see Clients.For).
const UserAgent = "octorun"

// RunnerSetStatusInterval is the least time between two writes of a
// RunnerSet's status (but for one observing a new generation): a set of
// 1,000 Runners scaling up writes its status about once a second, not 1,000
// times, and a busy set's status is at most a second behind.
const RunnerSetStatusInterval = time.Second

// Components with Kubernetes clients of their own (Clients.For).
const (
	ComponentRunnerController    = "runner-controller"
	ComponentRunnerSetController = "runnerset-controller"
	ComponentScaleSetController  = "scaleset-controller"
	ComponentGitHubSync          = "github-sync"
	ComponentJobHints            = "job-hints"
	ComponentJobStore            = "job-store"
	ComponentLeaderElection      = "leader-election"
)

// Clients are Octorun's Kubernetes clients.
type Clients struct {
	Kube    kubernetes.Interface
	Octorun versioned.Interface
	// config makes the clients of components (For); nil for fakes.
	config *rest.Config
}

// NewClients returns clients of config, at the options' QPS and burst.
func NewClients(config *rest.Config, o *options.Options) (Clients, error) {
	config = rest.CopyConfig(config)
	config.QPS, config.Burst = float32(o.KubeQPS), o.KubeBurst
	config.UserAgent = rest.DefaultKubernetesUserAgent() + " " + UserAgent
	return newClients(config)
}

func newClients(config *rest.Config) (Clients, error) {
	kube, err := kubernetes.NewForConfig(config)
	if err != nil {
		return Clients{}, fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	octorun, err := versioned.NewForConfig(config)
	if err != nil {
		return Clients{}, fmt.Errorf("creating the Octorun client: %w", err)
	}
	return Clients{Kube: kube, Octorun: octorun, config: config}, nil
}

// For returns a component's own clients: the same QPS and burst, but a
// limit of their own, as kube-controller-manager gives each controller
// its own client. A Runner status storm then does not hold back the
// RunnerSet's replacements, nor the job hints, nor the leader's lease
// renewals. The user agent ends "octorun/<component>", which tells the
// API server's logs and audit who asked. They share the connections of
// c (client-go keeps one transport per TLS config). For fakes, For
// returns c.
func (c Clients) For(component string) (Clients, error) {
	if c.config == nil {
		return c, nil
	}
	config := rest.CopyConfig(c.config)
	config.UserAgent = c.config.UserAgent + "/" + component
	own, err := newClients(config)
	if err != nil {
		return Clients{}, fmt.Errorf("%s: %w", component, err)
	}
	return own, nil
}

// Informers are the shared informers of the process: made and started once,
// they outlive the terms of leadership, so a new term's control loops start
// on warm caches.
type Informers struct {
	Octorun informers.SharedInformerFactory
	Kube    kubeinformers.SharedInformerFactory
	// Namespaces caches the cluster's namespaces, whose labels
	// ScopeGrants select on, and its StorageClasses, for the admission of
	// Kubernetes-mode work volumes.
	Namespaces kubeinformers.SharedInformerFactory

	// hints write the jobs GitHub reports (workflow_job deliveries, scale
	// set messages) on the Runners; made with the informers, so that its
	// indexes are there before they start.
	hints    *runner.JobHints
	hintsErr error
}

// NewInformers returns the informers of the options' namespace (all when
// empty): Runners, RunnerSets, and the pods Octorun made (labelled
// octorun.github.io/runner), all cached without managedFields, and the pods
// with only the fields Octorun reads (TrimPod). The Runner informer gets
// the indexes of the job hints from NewReceiver.
func NewInformers(c Clients, o *options.Options) *Informers {
	i := &Informers{
		Octorun: informers.NewSharedInformerFactoryWithOptions(c.Octorun, o.Resync,
			informers.WithNamespace(o.Namespace), informers.WithTransform(StripManagedFields)),
		Kube: kubeinformers.NewSharedInformerFactoryWithOptions(c.Kube, o.Resync,
			kubeinformers.WithNamespace(o.Namespace),
			kubeinformers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = octorunv1alpha1.LabelRunner }),
			kubeinformers.WithTransform(TrimPod)),
		Namespaces: kubeinformers.NewSharedInformerFactoryWithOptions(c.Kube, o.Resync,
			kubeinformers.WithTransform(StripManagedFields)),
	}
	// The informers the control loops use, made before the factories
	// start.
	i.Octorun.Octorun().V1alpha1().Runners().Informer()
	i.Octorun.Octorun().V1alpha1().RunnerSets().Informer()
	i.Octorun.Octorun().V1alpha1().ScopeGrants().Informer()
	i.Kube.Core().V1().Pods().Informer()
	i.Namespaces.Core().V1().Namespaces().Informer()
	i.Namespaces.Storage().V1().StorageClasses().Informer()
	hints, err := c.For(ComponentJobHints)
	if err != nil {
		i.hintsErr = err
		return i
	}
	i.hints, i.hintsErr = runner.NewJobHints(hints.Octorun, i.Octorun.Octorun().V1alpha1().Runners(),
		runner.JobHintsOptions{RunnerNamePrefix: o.RunnerNamePrefix})
	return i
}

// StorageClasses says from the informers' cache whether the cluster has a
// default StorageClass.
func (i *Informers) StorageClasses() DefaultStorageClass {
	return DefaultStorageClass{lister: i.Namespaces.Storage().V1().StorageClasses().Lister()}
}

// DefaultStorageClass tells whether a StorageClass is the cluster's
// default, by the annotation Kubernetes' DefaultStorageClass admission
// plugin reads (and its beta name).
type DefaultStorageClass struct {
	lister storagelisters.StorageClassLister
}

// HasDefault says whether a StorageClass is marked the default.
func (d DefaultStorageClass) HasDefault() (bool, error) {
	classes, err := d.lister.List(labels.Everything())
	if err != nil {
		return false, err
	}
	for _, c := range classes {
		if c.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" ||
			c.Annotations["storageclass.beta.kubernetes.io/is-default-class"] == "true" {
			return true, nil
		}
	}
	return false, nil
}

// Grants returns the ScopeGrant checker of the informers' caches.
func (i *Informers) Grants() *scopegrant.Checker {
	return scopegrant.New(i.Octorun.Octorun().V1alpha1().ScopeGrants().Lister(), i.Namespaces.Core().V1().Namespaces().Lister())
}

// Start starts the informers until ctx is done.
func (i *Informers) Start(ctx context.Context) {
	i.Octorun.Start(ctx.Done())
	i.Kube.Start(ctx.Done())
	i.Namespaces.Start(ctx.Done())
}

// Shutdown waits for the informers started to stop.
func (i *Informers) Shutdown() {
	i.Octorun.Shutdown()
	i.Kube.Shutdown()
	i.Namespaces.Shutdown()
}

// HasSynced says whether the Runner and RunnerSet caches hold the API
// server's state, so the webhooks and metrics answer from it.
func (i *Informers) HasSynced() bool {
	return i.Octorun.Octorun().V1alpha1().Runners().Informer().HasSynced() &&
		i.Octorun.Octorun().V1alpha1().RunnerSets().Informer().HasSynced() &&
		i.Octorun.Octorun().V1alpha1().ScopeGrants().Informer().HasSynced() &&
		i.Namespaces.Core().V1().Namespaces().Informer().HasSynced() &&
		i.Namespaces.Storage().V1().StorageClasses().Informer().HasSynced()
}

// StripManagedFields is the informers' transform: it drops managedFields,
// which Octorun never reads and which are a good part of a cached object's
// memory, from each object before it is cached. Writes of cached objects
// without them keep the server's.
func StripManagedFields(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// GitHub is what the control loops need of GitHub (pkg/github's Client).
type GitHub interface {
	runner.GitHub
	githubsync.GitHub
	// Host is the host of the GitHub Octorun talks to ("github.com").
	Host() string
}

// Controllers are one term's control loops: the Runner, RunnerSet and
// scale-set controllers and the GitHub sync.
type Controllers struct {
	runners    *runner.Controller
	runnerSets *runnerset.Controller
	scaleSets  *scaleset.Controller
	sync       *githubsync.Controller
	o          *options.Options
}

// NewScaleSetClients returns the runner scale set clients of Octorun's
// credentials, which find a GitHub App's installations with gh.
func NewScaleSetClients(gh runnerscaleset.Installations, creds github.Credentials, o *options.Options) (*runnerscaleset.Clients, error) {
	return runnerscaleset.NewClients(runnerscaleset.Options{
		APIURL: o.GitHubAPIURL, Credentials: creds, Installations: gh,
		System: actionsscaleset.SystemInfo{System: "octorun", Subsystem: "controller"},
	})
}

// NewControllers builds a term's control loops on the shared informers,
// with the options' settings; reg receives the GitHub sync's metrics, and
// scaleSets serve the scale-set RunnerSets (see NewScaleSetClients). The
// controllers' event handlers are added now and removed when Run returns.
// Adding a handler fails only on informers that stopped, when the process
// ends anyway.
func NewControllers(ctx context.Context, c Clients, i *Informers, gh GitHub, scaleSets *runnerscaleset.Clients, reg prometheus.Registerer, o *options.Options) (*Controllers, error) {
	if i.hintsErr != nil {
		return nil, i.hintsErr
	}
	runners := i.Octorun.Octorun().V1alpha1().Runners()
	sets := i.Octorun.Octorun().V1alpha1().RunnerSets()
	ctrls := &Controllers{o: o}
	// Each control loop has clients of its own, each at the options' QPS.
	own := map[string]Clients{}
	for _, component := range []string{ComponentGitHubSync, ComponentRunnerController, ComponentRunnerSetController, ComponentScaleSetController} {
		cc, err := c.For(component)
		if err != nil {
			return nil, err
		}
		own[component] = cc
	}
	var err error
	cc := own[ComponentGitHubSync]
	ctrls.sync, err = githubsync.New(ctx, cc.Kube, cc.Octorun, gh, runners, githubsync.Options{
		Period: o.SyncPeriod, RunnerNamePrefix: o.RunnerNamePrefix, GitHubHost: gh.Host(), Registerer: reg,
		Grants: i.Grants(),
	})
	if err != nil {
		return nil, fmt.Errorf("setting up the GitHub sync: %w", err)
	}
	exitGrace := o.RunnerExitGracePeriod
	if o.WebhookAddr == "" {
		// No receiver, so no late workflow_job delivery to wait for: a
		// runner that exits with no job seen is asked about at once.
		exitGrace = time.Nanosecond
	}
	cc = own[ComponentRunnerController]
	ctrls.runners, err = runner.New(ctx, cc.Kube, cc.Octorun, gh, runners, i.Kube.Core().V1().Pods(), runner.Options{
		RunnerNamePrefix: o.RunnerNamePrefix, GitHubHost: gh.Host(), RetryPeriod: o.RegistrationRetryPeriod,
		DefaultImage: o.DefaultRunnerImage, DefaultArch: o.DefaultRunnerArch, ExitGracePeriod: exitGrace, ScaleSetExitGracePeriod: o.RunnerExitGracePeriod,
		Grants: i.Grants(), ScaleSets: runnerscaleset.NewRunners(sets.Lister(), scaleSets),
	})
	if err != nil {
		return nil, fmt.Errorf("setting up the Runner controller: %w", err)
	}
	cc = own[ComponentRunnerSetController]
	ctrls.runnerSets, err = runnerset.New(ctx, cc.Kube, cc.Octorun, sets, runners, runnerset.Options{
		FailureBackoff: o.FailureBackoff, MaxFailureBackoff: o.MaxFailureBackoff,
		MaxRunners: int32(o.MaxRunnersPerRunnerSet), StatusInterval: RunnerSetStatusInterval,
	})
	if err != nil {
		return nil, fmt.Errorf("setting up the RunnerSet controller: %w", err)
	}
	owner, _ := os.Hostname()
	cc = own[ComponentScaleSetController]
	ctrls.scaleSets, err = scaleset.New(ctx, cc.Kube, cc.Octorun, scaleSets, i.hints, sets, runners, scaleset.Options{
		Grants: i.Grants(), Owner: owner, MaxRunners: int32(o.MaxRunnersPerRunnerSet), RetryPeriod: o.RegistrationRetryPeriod,
	})
	if err != nil {
		return nil, fmt.Errorf("setting up the scale-set controller: %w", err)
	}
	return ctrls, nil
}

// Run runs the control loops until ctx is done or one of them fails. Each
// starts its workers once its event handlers have been handed the objects
// already cached, and returns once its syncs under way have finished.
func (c *Controllers) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	loops := []func(context.Context) error{
		func(ctx context.Context) error { return c.runners.Run(ctx, c.o.RunnerWorkers) },
		func(ctx context.Context) error { return c.runnerSets.Run(ctx, c.o.RunnerSetWorkers) },
		func(ctx context.Context) error { return c.scaleSets.Run(ctx, c.o.RunnerSetWorkers) },
		c.sync.Run,
	}
	errs := make(chan error, len(loops))
	for _, run := range loops {
		go func() { errs <- run(ctx) }()
	}
	var first error
	for range loops {
		if err := <-errs; err != nil && first == nil && ctx.Err() == nil {
			first = err
			cancel() // the others stop too
		}
	}
	return first
}

// NewReceiver returns the GitHub webhook receiver, which writes the jobs of
// workflow_job deliveries on the Runners as job hints, keeps the queued
// jobs in the job store of the options' pod namespace (shared by the
// replicas, see pkg/githubevents/jobstore), and serves under the options'
// path. Its Run runs the job store too.
func NewReceiver(c Clients, i *Informers, secret []byte, reg prometheus.Registerer, o *options.Options) (*githubevents.Receiver, error) {
	if i.hintsErr != nil {
		return nil, i.hintsErr
	}
	store, err := c.For(ComponentJobStore)
	if err != nil {
		return nil, err
	}
	jobs, err := jobstore.New(store.Kube, jobstore.Options{Namespace: o.PodNamespace, Registerer: reg})
	if err != nil {
		return nil, fmt.Errorf("setting up the job store: %w", err)
	}
	return githubevents.NewReceiver(githubevents.Options{
		Secret: secret, Sink: i.hints, Jobs: jobs, Path: o.WebhookPath, Registerer: reg, Workers: o.WebhookWorkers,
	})
}

// WaitForCacheSync waits for the informers' caches, as the readiness probe
// does, and says whether they synced before ctx was done.
func (i *Informers) WaitForCacheSync(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), i.HasSynced) {
		return errors.New("the caches did not sync")
	}
	return nil
}
