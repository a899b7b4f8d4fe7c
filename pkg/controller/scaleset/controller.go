// Package scaleset implements the scale-set controller: it makes each
// RunnerSet with spec.scaleSet a GitHub runner scale set, holds the scale
// set's message session while Octorun leads, sets the RunnerSet's
// spec.runners from the jobs GitHub assigns to the set, records the jobs
// its runners start and finish on their Runners, and deletes the scale set
// from GitHub once the RunnerSet and its Runners are gone.
//
// The session is GitHub's own long poll (github.com/actions/scaleset's
// listener): Octorun needs no inbound connection for a scale set.
package scaleset

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	gha "github.com/actions/scaleset"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/controller/internal/events"
	"github.com/octorun/octorun/pkg/controller/internal/worker"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned"
	octorunscheme "github.com/octorun/octorun/pkg/generated/clientset/versioned/scheme"
	octoruninformers "github.com/octorun/octorun/pkg/generated/informers/externalversions/octorun/v1alpha1"
	octorunlisters "github.com/octorun/octorun/pkg/generated/listers/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/github"
)

// ControllerName names the controller's queue, events and logger.
const ControllerName = "scaleset"

// Event reasons.
const (
	EventCreated       = "ScaleSetCreated"
	EventAdopted       = "ScaleSetAdopted"
	EventUpdated       = "ScaleSetUpdated"
	EventDeleted       = "ScaleSetDeleted"
	EventFailed        = "ScaleSetFailed"
	EventSessionFailed = "SessionFailed"
	EventListening     = "Listening"
)

// Clients hand out GitHub's runner scale set client of a scope
// (pkg/runnerscaleset's Clients).
type Clients interface {
	For(ctx context.Context, scope github.Scope) (*gha.Client, error)
}

// Sink records on Runners the jobs their runners start and finish
// (pkg/controller/runner's JobHints).
type Sink interface {
	JobStarted(ctx context.Context, org, repo string, runnerID int64, runnerName string, jobID, runID int64, startedAt time.Time) (bool, error)
	JobCompleted(ctx context.Context, org, repo string, runnerID int64, runnerName string, jobID, runID int64, startedAt, completedAt time.Time) (bool, error)
}

// Grants decide which namespace may register runners in which GitHub scope
// and runner group (pkg/scopegrant's Checker).
type Grants interface {
	Check(namespace, url, group string) error
}

// Options tune the controller.
type Options struct {
	// Grants decide where a namespace's scale sets may be; required.
	Grants Grants
	// Owner names this process as the owner of the message sessions it
	// opens (the leader's identity).
	Owner string
	// MaxRunners caps every set's runners (--max-runners-per-runnerset);
	// 0 means no cap.
	MaxRunners int32
	// RetryPeriod is how long a set waits before a failure a user must
	// fix (a missing grant, an unknown runner group) is retried. Zero
	// means one minute.
	RetryPeriod time.Duration
	// SessionBackoff and MaxSessionBackoff bound the wait before a lost or
	// refused message session is opened again; zero means 1s and 30s.
	SessionBackoff, MaxSessionBackoff time.Duration
}

// Controller is the scale-set controller.
type Controller struct {
	kubeClient    kubernetes.Interface
	octorunClient versioned.Interface
	clients       Clients
	sink          Sink
	opts          Options

	sets    octorunlisters.RunnerSetLister
	runners octorunlisters.RunnerLister

	queue    workqueue.TypedRateLimitingInterface[cache.ObjectName]
	recorder record.EventRecorder
	loop     worker.Loop
	now      func() time.Time

	// runCtx is the term's context, which the sessions live in.
	runCtx context.Context
	mu     sync.Mutex
	// states are what the controller knows of each scale-set RunnerSet,
	// by UID, and its session while one runs.
	states map[types.UID]*setState
}

// New returns a scale-set controller.
func New(
	ctx context.Context,
	kubeClient kubernetes.Interface,
	octorunClient versioned.Interface,
	clients Clients,
	sink Sink,
	setInformer octoruninformers.RunnerSetInformer,
	runnerInformer octoruninformers.RunnerInformer,
	opts Options,
) (*Controller, error) {
	logger := klog.FromContext(ctx)
	utilruntime.Must(octorunscheme.AddToScheme(scheme.Scheme))
	if opts.Grants == nil {
		return nil, errors.New("the scale-set controller needs Options.Grants")
	}
	if clients == nil || sink == nil {
		return nil, errors.New("the scale-set controller needs scale set clients and a job sink")
	}
	if opts.Owner == "" {
		opts.Owner = "octorun"
	}
	if opts.RetryPeriod <= 0 {
		opts.RetryPeriod = time.Minute
	}
	if opts.SessionBackoff <= 0 {
		opts.SessionBackoff = time.Second
	}
	if opts.MaxSessionBackoff <= 0 {
		opts.MaxSessionBackoff = 30 * time.Second
	}
	broadcaster := events.NewBroadcaster(ctx)
	c := &Controller{
		kubeClient:    kubeClient,
		octorunClient: octorunClient,
		clients:       clients,
		sink:          sink,
		opts:          opts,
		sets:          setInformer.Lister(),
		runners:       runnerInformer.Lister(),
		queue:         worker.NewQueue(ControllerName),
		recorder:      broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "octorun-" + ControllerName}),
		now:           time.Now,
		states:        map[types.UID]*setState{},
	}
	c.loop = worker.Loop{
		Name: "scale-set controller", LogKey: "runnerSet", Queue: c.queue, Handlers: &worker.Handlers{},
		Events: broadcaster, Client: kubeClient, Sync: c.sync,
	}

	logger.Info("Setting up event handlers")
	if err := c.loop.Handlers.Add(setInformer.Informer(), worker.OnChange(c.enqueueSet)); err != nil {
		return nil, fmt.Errorf("watching RunnerSets: %w", err)
	}
	// A deleted scale-set RunnerSet waits for its Runners to go.
	if err := c.loop.Handlers.Add(runnerInformer.Informer(), cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.enqueueOwner,
	}); err != nil {
		return nil, fmt.Errorf("watching Runners: %w", err)
	}
	return c, nil
}

// Run syncs scale-set RunnerSets with workers until ctx is done. The
// message sessions it opened are closed before it returns, so the next
// leader can open them at once.
func (c *Controller) Run(ctx context.Context, workers int) error {
	c.mu.Lock()
	c.runCtx = ctx
	c.mu.Unlock()
	err := c.loop.Run(ctx, workers)
	c.stopAll()
	return err
}

func (c *Controller) enqueueSet(obj any) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	set, ok := obj.(*octorunv1alpha1.RunnerSet)
	if !ok {
		return
	}
	if set.Spec.ScaleSet == nil && !c.hasState(set.UID) {
		return // never a scale set
	}
	c.queue.Add(cache.MetaObjectToName(set))
}

// enqueueOwner enqueues the scale-set RunnerSet controlling a deleted
// Runner, when that set is being deleted.
func (c *Controller) enqueueOwner(obj any) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	r, ok := obj.(*octorunv1alpha1.Runner)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(r)
	if !octorunv1alpha1.Refers(ref, "RunnerSet") {
		return
	}
	set, err := c.sets.RunnerSets(r.Namespace).Get(ref.Name)
	if err != nil || set.UID != ref.UID || set.Spec.ScaleSet == nil || set.DeletionTimestamp == nil {
		return
	}
	c.queue.Add(cache.MetaObjectToName(set))
}
