// Package worker is the work-queue loop Octorun's controllers share: event
// handlers on shared informers that outlive a term of leadership, workers
// that take a key and sync it with the key in the logger, and requeue it as
// the sync says.
package worker

import (
	"context"
	"errors"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/octorun/octorun/pkg/controller/internal/events"
)

// SyncFunc converges one object. It returns how long to wait before the
// object must be looked at again (0: only on change), or an error to retry
// with the queue's rate limiting.
type SyncFunc func(ctx context.Context, key cache.ObjectName) (time.Duration, error)

// Loop is a controller's run loop: its queue, the event handlers that fill
// it, the event broadcaster it records with, and its sync.
type Loop struct {
	// Name names the controller in log lines ("Runner controller").
	Name string
	// LogKey names the key in log lines ("runner", "runnerSet").
	LogKey string
	// Queue holds the keys to sync.
	Queue workqueue.TypedRateLimitingInterface[cache.ObjectName]
	// Handlers are the controller's event handlers. Run waits until each
	// has been handed every object its informer held when it was added.
	Handlers *Handlers
	// Events records the controller's Events through Client while it runs.
	Events *events.Broadcaster
	Client kubernetes.Interface
	// Sync converges one key.
	Sync SyncFunc
}

// Run runs workers until ctx is done, then stops taking keys, waits for the
// syncs under way and removes the handlers: a controller made for the next
// term of leadership never acts beside this one.
//
// Workers start only when every handler registration has synced, not only
// its informer: a handler added to an informer that already runs gets the
// objects in its cache replayed as adds, asynchronously. A sync that ran
// before the replay ended could take the replayed adds of old objects for
// the creations it expects, and create again from a cache that does not
// show its creations yet.
func (l *Loop) Run(ctx context.Context, workers int) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	defer l.Handlers.Remove()
	defer l.Queue.ShutDown()
	defer l.Events.Start(l.Client)()
	logger := klog.FromContext(ctx)

	logger.Info("Starting " + l.Name)
	if !cache.WaitForNamedCacheSyncWithContext(ctx, l.Handlers.HasSynced) {
		if ctx.Err() != nil {
			return nil // the term ended before the caches synced
		}
		return errors.New("failed to wait for caches to sync")
	}
	logger.Info("Starting workers", "count", workers)
	var running sync.WaitGroup
	for range workers {
		running.Go(func() {
			wait.UntilWithContext(ctx, func(ctx context.Context) { Process(ctx, l.Queue, l.LogKey, l.Sync) }, time.Second)
		})
	}
	<-ctx.Done()
	logger.Info("Shutting down workers")
	l.Queue.ShutDown()
	running.Wait()
	return nil
}

// Process processes keys of queue with sync until the queue shuts down.
// logKey names the key in log lines ("runner", "runnerSet").
func Process(ctx context.Context, queue workqueue.TypedRateLimitingInterface[cache.ObjectName], logKey string, sync SyncFunc) {
	for processNext(ctx, queue, logKey, sync) {
	}
}

func processNext(ctx context.Context, queue workqueue.TypedRateLimitingInterface[cache.ObjectName], logKey string, sync SyncFunc) bool {
	key, shutdown := queue.Get()
	if shutdown {
		return false
	}
	defer queue.Done(key)

	ctx = klog.NewContext(ctx, klog.LoggerWithValues(klog.FromContext(ctx), logKey, key))
	requeueAfter, err := sync(ctx, key)
	switch {
	case err != nil:
		utilruntime.HandleErrorWithContext(ctx, err, "Error syncing; requeuing for later retry", logKey, key)
		queue.AddRateLimited(key)
	case requeueAfter > 0:
		queue.Forget(key)
		queue.AddAfter(key, requeueAfter)
	default:
		queue.Forget(key)
	}
	return true
}

// Handlers are a controller's event handlers on shared informers, removed
// when the controller stops, so that a controller made for one term of
// leadership leaves nothing behind on informers that outlive it.
type Handlers struct {
	added []added
}

type added struct {
	informer cache.SharedIndexInformer
	reg      cache.ResourceEventHandlerRegistration
}

// Add adds handler to informer.
func (h *Handlers) Add(informer cache.SharedIndexInformer, handler cache.ResourceEventHandler) error {
	reg, err := informer.AddEventHandler(handler)
	if err != nil {
		return err
	}
	h.added = append(h.added, added{informer, reg})
	return nil
}

// HasSynced says whether every registration has synced: its informer has
// synced and its handler has been handed every object of the initial list.
func (h *Handlers) HasSynced() bool {
	for _, a := range h.added {
		if !a.reg.HasSynced() {
			return false
		}
	}
	return true
}

// Remove removes every handler added.
func (h *Handlers) Remove() {
	for _, a := range h.added {
		if err := a.informer.RemoveEventHandler(a.reg); err != nil {
			utilruntime.HandleError(err)
		}
	}
	h.added = nil
}

// AddIndexers adds to informer those of indexers it does not have yet. A
// controller is made for each term of leadership on informers that outlive
// it: the indexes of an earlier term's controller are there already.
func AddIndexers(informer cache.SharedIndexInformer, indexers cache.Indexers) error {
	existing := informer.GetIndexer().GetIndexers()
	missing := cache.Indexers{}
	for name, f := range indexers {
		if _, ok := existing[name]; !ok {
			missing[name] = f
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return informer.AddIndexers(missing)
}

// NewQueue returns a controller's rate-limited work queue of object names,
// named for its metrics.
func NewQueue(name string) workqueue.TypedRateLimitingInterface[cache.ObjectName] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[cache.ObjectName](),
		workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: name},
	)
}

// OnChange returns event handlers that call enqueue with the object of each
// add, delete and update that changed it: a resync's update, of the same
// resourceVersion, changes nothing.
func OnChange(enqueue func(obj any)) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(old, cur any) {
			o, okOld := old.(metav1.Object)
			n, okCur := cur.(metav1.Object)
			if okOld && okCur && o.GetResourceVersion() == n.GetResourceVersion() {
				return
			}
			enqueue(cur)
		},
		DeleteFunc: enqueue,
	}
}
