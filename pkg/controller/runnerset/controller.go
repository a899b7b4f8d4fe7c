// Package runnerset implements the RunnerSet controller: it keeps
// spec.runners Runners of a template, like the ReplicaSet controller keeps
// pods, and never removes a runner that holds a job.
package runnerset

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
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
)

// ControllerName names the controller's queue, events and logger.
const ControllerName = "runnerset"

// Options tune the controller.
type Options struct {
	// BurstRunners caps the Runners created or deleted in one sync of a
	// set. Zero means 500, the ReplicaSet controller's burst.
	BurstRunners int
	// MaxUnregistered caps a set's Runners waiting for their GitHub
	// registration: more are created only as GitHub registers them, so a
	// set scaled far beyond what GitHub registers (a mistaken 100,000)
	// grows at GitHub's pace and not at the API server's, and Octorun's
	// memory with it. Zero means 500.
	MaxUnregistered int
	// FailureBackoff is the wait before replacing the first of Runners that
	// fail in a row; it doubles with each up to MaxFailureBackoff. A set
	// none of whose Runners failed for twice MaxFailureBackoff starts over
	// from FailureBackoff. Zero means 5s and 5m.
	FailureBackoff, MaxFailureBackoff time.Duration
	// MaxRunners caps the Runners of any one set, whatever its spec.runners
	// or an autoscaler asks, so that no tenant's set takes the GitHub budget
	// that all share. Zero means no cap.
	MaxRunners int32
	// StatusInterval is the least time between two writes of a set's
	// status: while its Runners move, a set's status is written at most
	// once an interval, with the state of the moment, instead of once for
	// every Runner that moves (a job's end flips Ready false and back).
	// A status that observes a new generation is written at once. Zero
	// writes every change.
	StatusInterval time.Duration
}

// Controller is the RunnerSet controller.
type Controller struct {
	kubeClient    kubernetes.Interface
	octorunClient versioned.Interface
	opts          Options

	setLister octorunlisters.RunnerSetLister
	// sets is the RunnerSet cache with this process's own status writes
	// laid over it until the informer catches up, so the next sync does not
	// write onto the older version (and meet a conflict).
	sets *overlay.Cache[*octorunv1alpha1.RunnerSet]
	// runnerIndexer is the Runner cache, with controllerIndex.
	runnerIndexer cache.Indexer

	queue        workqueue.TypedRateLimitingInterface[cache.ObjectName]
	expectations *expectations
	recorder     record.EventRecorder
	loop         worker.Loop
	now          func() time.Time
	// excess is since when each scale set has had more Runners than
	// spec.runners.
	excess excessSince
	// failures holds back creations while a set's Runners fail in a row.
	failures *failures
	// statusWritten is when each set's status was last written.
	statusWritten writtenAt
}

// New returns a RunnerSet controller.
func New(ctx context.Context, kubeClient kubernetes.Interface, octorunClient versioned.Interface,
	setInformer octoruninformers.RunnerSetInformer, runnerInformer octoruninformers.RunnerInformer, opts Options,
) (*Controller, error) {
	utilruntime.Must(octorunscheme.AddToScheme(scheme.Scheme))
	if err := worker.AddIndexers(runnerInformer.Informer(), cache.Indexers{controllerIndex: indexByController}); err != nil {
		return nil, fmt.Errorf("indexing Runners by controller: %w", err)
	}
	if opts.BurstRunners <= 0 {
		opts.BurstRunners = 500
	}
	if opts.MaxUnregistered <= 0 {
		opts.MaxUnregistered = 500
	}
	if opts.FailureBackoff <= 0 {
		opts.FailureBackoff = 5 * time.Second
	}
	if opts.MaxFailureBackoff <= 0 {
		opts.MaxFailureBackoff = 5 * time.Minute
	}
	broadcaster := events.NewBroadcaster(ctx)
	c := &Controller{
		kubeClient:    kubeClient,
		octorunClient: octorunClient,
		opts:          opts,
		setLister:     setInformer.Lister(),
		sets:          overlay.New[*octorunv1alpha1.RunnerSet](klog.FromContext(ctx), setInformer.Informer(), octorunv1alpha1.Resource("runnersets")),
		runnerIndexer: runnerInformer.Informer().GetIndexer(),
		queue:         worker.NewQueue(ControllerName),
		expectations:  newExpectations(),
		recorder:      broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "octorun-" + ControllerName}),
		now:           time.Now,
		failures:      newFailures(opts.FailureBackoff, opts.MaxFailureBackoff),
	}
	c.loop = worker.Loop{
		Name: "RunnerSet controller", LogKey: "runnerSet", Queue: c.queue, Handlers: &worker.Handlers{},
		Events: broadcaster, Client: kubeClient, Sync: c.sync,
	}
	setHandler := worker.OnChange(c.enqueue)
	setHandler.DeleteFunc = c.deleteSet
	if err := c.loop.Handlers.Add(setInformer.Informer(), setHandler); err != nil {
		return nil, fmt.Errorf("watching RunnerSets: %w", err)
	}
	if err := c.loop.Handlers.Add(runnerInformer.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addRunner,
		UpdateFunc: c.updateRunner,
		DeleteFunc: c.deleteRunner,
	}); err != nil {
		return nil, fmt.Errorf("watching Runners: %w", err)
	}
	return c, nil
}

// Run syncs RunnerSets with workers until ctx is done. Meanwhile it drops,
// every minute, what the failure backoff keeps of streaks that are over.
func (c *Controller) Run(ctx context.Context, workers int) error {
	ctx, cancel := context.WithCancel(ctx)
	var gc sync.WaitGroup
	defer gc.Wait()
	defer cancel()
	gc.Go(func() {
		wait.UntilWithContext(ctx, func(context.Context) { c.failures.gc() }, backoffGCInterval)
	})
	return c.loop.Run(ctx, workers)
}

func (c *Controller) enqueue(obj any) {
	ref, err := cache.ObjectToName(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(ref)
}

func (c *Controller) deleteSet(obj any) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	set, ok := obj.(*octorunv1alpha1.RunnerSet)
	if !ok {
		return
	}
	key := cache.MetaObjectToName(set)
	c.expectations.forget(key.String())
	c.failures.forget(key.String())
	c.statusWritten.forget(key.String())
	c.queue.Add(key)
}

// resolveControllerRef returns the RunnerSet a controller reference names,
// if it is that very set (same UID).
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *octorunv1alpha1.RunnerSet {
	if !octorunv1alpha1.Refers(ref, "RunnerSet") {
		return nil
	}
	set, err := c.setLister.RunnerSets(namespace).Get(ref.Name)
	if err != nil || set.UID != ref.UID {
		return nil
	}
	return set
}

// setsSelecting returns the sets whose selector matches an orphan Runner.
func (c *Controller) setsSelecting(r *octorunv1alpha1.Runner) []*octorunv1alpha1.RunnerSet {
	sets, err := c.setLister.RunnerSets(r.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*octorunv1alpha1.RunnerSet
	for _, set := range sets {
		selector, err := selectorOf(set)
		if err != nil || selector.Empty() || !selector.Matches(labels.Set(r.Labels)) {
			continue
		}
		out = append(out, set)
	}
	return out
}

func (c *Controller) addRunner(obj any) {
	r := obj.(*octorunv1alpha1.Runner)
	if r.DeletionTimestamp != nil {
		c.deleteRunner(r)
		return
	}
	if ref := metav1.GetControllerOf(r); ref != nil {
		if set := c.resolveControllerRef(r.Namespace, ref); set != nil {
			c.expectations.creationObserved(cache.MetaObjectToName(set).String())
			c.enqueue(set)
		}
		return
	}
	for _, set := range c.setsSelecting(r) {
		c.enqueue(set)
	}
}

func (c *Controller) updateRunner(old, cur any) {
	oldR, curR := old.(*octorunv1alpha1.Runner), cur.(*octorunv1alpha1.Runner)
	if oldR.ResourceVersion == curR.ResourceVersion {
		return
	}
	if curR.DeletionTimestamp != nil {
		// A Runner being deleted counts as deleted for expectations, as
		// the ReplicaSet controller treats terminating pods.
		c.deleteRunner(curR)
		return
	}
	curRef, oldRef := metav1.GetControllerOf(curR), metav1.GetControllerOf(oldR)
	if oldRef != nil && (curRef == nil || oldRef.UID != curRef.UID) {
		if set := c.resolveControllerRef(oldR.Namespace, oldRef); set != nil {
			c.enqueue(set)
		}
	}
	if curRef != nil {
		if set := c.resolveControllerRef(curR.Namespace, curRef); set != nil {
			c.enqueue(set)
		}
		return
	}
	for _, set := range c.setsSelecting(curR) {
		c.enqueue(set)
	}
}

func (c *Controller) deleteRunner(obj any) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	r, ok := obj.(*octorunv1alpha1.Runner)
	if !ok {
		return
	}
	set := c.resolveControllerRef(r.Namespace, metav1.GetControllerOf(r))
	if set == nil {
		return
	}
	c.expectations.deletionObserved(cache.MetaObjectToName(set).String(), cache.MetaObjectToName(r).String())
	c.enqueue(set)
}

func selectorOf(set *octorunv1alpha1.RunnerSet) (labels.Selector, error) {
	if set.Spec.Selector == nil {
		return labels.Nothing(), nil
	}
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		return labels.Nothing(), err
	}
	if selector.Empty() {
		// An empty selector selects nothing, never the whole namespace.
		return labels.Nothing(), nil
	}
	return selector, nil
}
