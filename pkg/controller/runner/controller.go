// Package runner implements the Runner controller: it registers each Runner
// on GitHub with a just-in-time configuration, runs it in a pod, reports its
// phase, and removes its GitHub registration before the Runner goes.
package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilcache "k8s.io/apimachinery/pkg/util/cache"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/controller/internal/events"
	"github.com/octorun/octorun/pkg/controller/internal/overlay"
	"github.com/octorun/octorun/pkg/controller/internal/worker"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned"
	octorunscheme "github.com/octorun/octorun/pkg/generated/clientset/versioned/scheme"
	octoruninformers "github.com/octorun/octorun/pkg/generated/informers/externalversions/octorun/v1alpha1"
	octorunlisters "github.com/octorun/octorun/pkg/generated/listers/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/github"
)

// ControllerName names the controller's queue, events and logger.
const ControllerName = "runner"

// GitHub is what the controller needs of GitHub (pkg/github's Client).
type GitHub interface {
	RunnerGroupID(ctx context.Context, scope github.Scope, name string) (int64, error)
	GenerateJITConfig(ctx context.Context, scope github.Scope, r github.JITConfigRequest) (*github.JITConfig, error)
	FindRunnerByName(ctx context.Context, scope github.Scope, name string) (*github.Runner, error)
	GetRunner(ctx context.Context, scope github.Scope, id int64) (*github.Runner, error)
	DeleteRunner(ctx context.Context, scope github.Scope, id int64) error
}

// Grants decide which namespace may register runners in which GitHub scope
// and runner group (pkg/scopegrant's Checker).
type Grants interface {
	// Check returns nil when the namespace may register runners of url in
	// group, and an error saying so otherwise.
	Check(namespace, url, group string) error
}

// ScaleSets register the Runners of scale-set RunnerSets with their runner
// scale set (pkg/runnerscaleset's Runners).
type ScaleSets interface {
	// ScaleSetOf returns the id of the scale set the Runner registers
	// with, 0 when it belongs to none; runnerscaleset.ErrNotReady while
	// the set has no scale set on GitHub yet.
	ScaleSetOf(runner *octorunv1alpha1.Runner) (int64, error)
	// GenerateJITConfig registers a just-in-time runner in the scale set.
	GenerateJITConfig(ctx context.Context, scope github.Scope, scaleSetID int64, name, workFolder string) (*github.JITConfig, error)
}

// Options tune the controller.
type Options struct {
	// ScaleSets register the Runners of scale-set RunnerSets; nil means
	// every Runner registers through GitHub's REST API.
	ScaleSets ScaleSets
	// Grants decide where a namespace's Runners may register; required.
	// A Runner not granted its scope makes no GitHub call.
	Grants Grants
	// RunnerNamePrefix starts every GitHub runner name, so clusters that
	// share an organization do not collide (e.g. "prod-eu-").
	RunnerNamePrefix string
	// GitHubHost is the host of the GitHub Octorun talks to ("github.com").
	GitHubHost string
	// RetryPeriod is how long a Runner waits before its registration is
	// retried after a failure a user must fix (credentials, unknown
	// organization or group). Zero means one minute.
	RetryPeriod time.Duration
	// DefaultImage is the runner image of Runners that name none; empty
	// means v1alpha1.DefaultRunnerImage.
	DefaultImage string
	// DefaultArch is the architecture label ("X64", "ARM64") of runners
	// whose placement does not pin kubernetes.io/arch; empty means
	// v1alpha1.DefaultRunnerArch.
	DefaultArch string
	// ExitGracePeriod is how long a Runner whose runner exited 0 with no
	// job seen waits for a late workflow_job delivery before it is Failed
	// with RunnerExited. Zero means DefaultExitGracePeriod.
	ExitGracePeriod time.Duration
	// ScaleSetExitGracePeriod is ExitGracePeriod for the Runners of scale
	// sets, whose jobs GitHub reports in the scale set's messages whether
	// or not a webhook receiver runs. Zero means DefaultExitGracePeriod.
	ScaleSetExitGracePeriod time.Duration
}

// DefaultExitGracePeriod is Options.ExitGracePeriod's default: GitHub
// delivers a workflow_job event within seconds, and redelivery of one that
// failed is manual. After it, one GET of the runner on GitHub settles it.
const DefaultExitGracePeriod = 10 * time.Second

// Controller is the Runner controller.
type Controller struct {
	kubeClient    kubernetes.Interface
	octorunClient versioned.Interface
	github        GitHub
	opts          Options

	runnerLister octorunlisters.RunnerLister
	// runners is the Runner cache with this process's own writes laid over
	// it until the informer catches up, so a sync right after a write does
	// not work from the older version (and meet a conflict).
	runners   *overlay.Cache[*octorunv1alpha1.Runner]
	podLister corelisters.PodLister

	queue    workqueue.TypedRateLimitingInterface[cache.ObjectName]
	recorder record.EventRecorder
	loop     worker.Loop
	now      func() time.Time

	// deregistered holds the UIDs of deleted Runners whose GitHub runner
	// this process removed, so a retried finalizer does not ask GitHub
	// again; released those whose finalizer it removed, so a sync from a
	// cache that is behind does nothing. Each UID is kept for uidMemoryTTL.
	deregistered, released *utilcache.Expiring
	// asked holds GitHub's answer (registration gone or not) for the
	// Runners whose runner exited with no job seen, by UID, so that a
	// retried sync does not ask again.
	asked *utilcache.Expiring
	// owned holds the runner id of each Runner, by UID, that this process
	// registered or found carrying the Runner's GitHub name, so removing it
	// needs no question to GitHub first (see ownership).
	owned *utilcache.Expiring
	// createdPods holds the pods this process created that the pod
	// informer has not delivered yet, by namespace/name, so that a sync
	// right after the creation does not create the pod again (and meet
	// AlreadyExists). The informer's delivery of a pod drops it.
	createdPods *utilcache.Expiring
	// pdbs holds the namespaces whose PodDisruptionBudget of busy runners
	// this process made sure of.
	pdbs sync.Map
}

// New returns a Runner controller. The pod informer should select only pods
// labelled octorun.github.io/runner, so the cache holds Octorun's pods only.
// Secrets are not cached: Octorun needs no list or watch of Secrets, only
// create, get and delete where runners live.
func New(
	ctx context.Context,
	kubeClient kubernetes.Interface,
	octorunClient versioned.Interface,
	gh GitHub,
	runnerInformer octoruninformers.RunnerInformer,
	podInformer coreinformers.PodInformer,
	opts Options,
) (*Controller, error) {
	logger := klog.FromContext(ctx)
	utilruntime.Must(octorunscheme.AddToScheme(scheme.Scheme))
	if opts.Grants == nil {
		return nil, errors.New("the Runner controller needs Options.Grants")
	}
	if opts.GitHubHost == "" {
		opts.GitHubHost = "github.com"
	}
	if opts.RetryPeriod <= 0 {
		opts.RetryPeriod = time.Minute
	}
	if opts.DefaultImage == "" {
		opts.DefaultImage = octorunv1alpha1.DefaultRunnerImage
	}
	if opts.DefaultArch == "" {
		opts.DefaultArch = octorunv1alpha1.DefaultRunnerArch
	}
	if opts.ExitGracePeriod <= 0 {
		opts.ExitGracePeriod = DefaultExitGracePeriod
	}
	if opts.ScaleSetExitGracePeriod <= 0 {
		opts.ScaleSetExitGracePeriod = DefaultExitGracePeriod
	}

	broadcaster := events.NewBroadcaster(ctx)
	c := &Controller{
		kubeClient:    kubeClient,
		octorunClient: octorunClient,
		github:        gh,
		opts:          opts,
		runnerLister:  runnerInformer.Lister(),
		runners:       overlay.New[*octorunv1alpha1.Runner](logger, runnerInformer.Informer(), octorunv1alpha1.Resource("runners")),
		podLister:     podInformer.Lister(),
		queue:         worker.NewQueue(ControllerName),
		recorder:      broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "octorun-" + ControllerName}),
		now:           time.Now,
		deregistered:  utilcache.NewExpiring(),
		released:      utilcache.NewExpiring(),
		asked:         utilcache.NewExpiring(),
		owned:         utilcache.NewExpiring(),
		createdPods:   utilcache.NewExpiring(),
	}
	c.loop = worker.Loop{
		Name: "Runner controller", LogKey: "runner", Queue: c.queue, Handlers: &worker.Handlers{},
		Events: broadcaster, Client: kubeClient, Sync: c.sync,
	}

	logger.Info("Setting up event handlers")
	if err := c.loop.Handlers.Add(runnerInformer.Informer(), worker.OnChange(c.enqueue)); err != nil {
		return nil, fmt.Errorf("watching Runners: %w", err)
	}
	podHandler := worker.OnChange(c.enqueueOwner)
	podHandler.AddFunc = func(obj any) {
		if pod, ok := obj.(*corev1.Pod); ok {
			c.createdPods.Delete(cache.MetaObjectToName(pod).String())
		}
		c.enqueueOwner(obj)
	}
	if err := c.loop.Handlers.Add(podInformer.Informer(), podHandler); err != nil {
		return nil, fmt.Errorf("watching pods: %w", err)
	}
	return c, nil
}

// Run syncs Runners with workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return c.loop.Run(ctx, workers)
}

func (c *Controller) enqueue(obj any) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	ref, err := cache.ObjectToName(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(ref)
}

// enqueueOwner enqueues the Runner controlling a pod.
func (c *Controller) enqueueOwner(obj any) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	object, ok := obj.(metav1.Object)
	if !ok {
		utilruntime.HandleError(fmt.Errorf("unexpected object %T", obj))
		return
	}
	ref := metav1.GetControllerOf(object)
	if !octorunv1alpha1.Refers(ref, "Runner") {
		return
	}
	runner, err := c.runnerLister.Runners(object.GetNamespace()).Get(ref.Name)
	if err != nil || runner.UID != ref.UID {
		return // not our Runner (any more)
	}
	c.enqueue(runner)
}

// wrote lays a Runner returned by a write over the cache.
func (c *Controller) wrote(r *octorunv1alpha1.Runner) {
	if r != nil {
		c.runners.Wrote(r)
	}
}

// getLiveRunner reads a Runner from the API server, not the cache, for the
// decisions a stale cache must not make (registering twice).
func (c *Controller) getLiveRunner(ctx context.Context, runner *octorunv1alpha1.Runner) (*octorunv1alpha1.Runner, error) {
	live, err := c.octorunClient.OctorunV1alpha1().Runners(runner.Namespace).Get(ctx, runner.Name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if live.UID != runner.UID {
		return nil, apierrors.NewNotFound(octorunv1alpha1.Resource("runners"), runner.Name)
	}
	return live, nil
}
