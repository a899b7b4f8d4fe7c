// Package events is the event broadcaster of Octorun's controllers: one per
// controller, recording to the API server while the controller runs, and
// stopped without waiting for events it could not deliver.
package events

import (
	"context"

	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// Broadcaster is a controller's event broadcaster.
type Broadcaster struct {
	record.EventBroadcaster
	cancel context.CancelFunc
}

// NewBroadcaster returns a broadcaster that stops when ctx is done, or at
// the latest when Start's stop is called.
func NewBroadcaster(ctx context.Context) *Broadcaster {
	ctx, cancel := context.WithCancel(ctx)
	return &Broadcaster{EventBroadcaster: record.NewBroadcaster(record.WithContext(ctx)), cancel: cancel}
}

// Start logs the events (at -v=3) and records them through client. The stop
// it returns does not wait: while the API server is away, client-go retries
// an event for up to two minutes, and a controller that stops (e.g. when it
// lost the leader Lease) must not wait for that.
func (b *Broadcaster) Start(client kubernetes.Interface) (stop func()) {
	b.StartStructuredLogging(3)
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	return func() {
		b.cancel()
		go b.Shutdown()
	}
}
