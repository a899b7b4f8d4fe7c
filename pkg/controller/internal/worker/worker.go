// Package worker is the work-queue loop Octorun's controllers share: take a
// key, sync it with the key in the logger, and requeue it as the sync says.
package worker

import (
	"context"
	"time"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// SyncFunc converges one object. It returns how long to wait before the
// object must be looked at again (0: only on change), or an error to retry
// with the queue's rate limiting.
type SyncFunc func(ctx context.Context, key cache.ObjectName) (time.Duration, error)

// Run processes keys of queue with sync until the queue shuts down. logKey
// names the key in log lines ("runner", "runnerSet").
func Run(ctx context.Context, queue workqueue.TypedRateLimitingInterface[cache.ObjectName], logKey string, sync SyncFunc) {
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

// Remove removes every handler added.
func (h *Handlers) Remove() {
	for _, a := range h.added {
		if err := a.informer.RemoveEventHandler(a.reg); err != nil {
			utilruntime.HandleError(err)
		}
	}
	h.added = nil
}
