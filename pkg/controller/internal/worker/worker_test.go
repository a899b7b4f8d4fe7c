package worker

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/octorun/octorun/pkg/controller/internal/events"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

func TestProcessNextRequeuesAsTheSyncSays(t *testing.T) {
	tests := []struct {
		name        string
		requeue     time.Duration
		err         error
		wantRetries int
		wantLen     int
	}{
		{name: "done", wantRetries: 0},
		{name: "error", err: errors.New("boom"), wantRetries: 1},
		{name: "later", requeue: time.Millisecond, wantRetries: 0, wantLen: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[cache.ObjectName](time.Millisecond, time.Millisecond))
			defer q.ShutDown()
			key := cache.ObjectName{Namespace: "ns", Name: "a"}
			q.Add(key)
			var got cache.ObjectName
			processNext(context.Background(), q, "thing", func(_ context.Context, k cache.ObjectName) (time.Duration, error) {
				got = k
				return tt.requeue, tt.err
			})
			if got != key {
				t.Errorf("synced %v, want %v", got, key)
			}
			if r := q.NumRequeues(key); r != tt.wantRetries {
				t.Errorf("requeues = %d, want %d", r, tt.wantRetries)
			}
			if tt.wantLen > 0 {
				deadline := time.Now().Add(time.Second)
				for q.Len() < tt.wantLen && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				if q.Len() != tt.wantLen {
					t.Errorf("queue length %d, want %d after the delay", q.Len(), tt.wantLen)
				}
			}
		})
	}
}

// TestLoopRunWaitsForSyncsUnderWay: when its term ends, a loop returns only
// after the syncs under way have finished, and with its handlers removed,
// so the next term's loop never acts beside it.
func TestLoopRunWaitsForSyncsUnderWay(t *testing.T) {
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	informer := factory.Core().V1().Pods().Informer()
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)

	started, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	loop := &Loop{
		Name: "test controller", LogKey: "thing",
		Queue:    workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[cache.ObjectName]()),
		Handlers: &Handlers{},
		Events:   events.NewBroadcaster(context.Background()),
		Client:   client,
		Sync: func(context.Context, cache.ObjectName) (time.Duration, error) {
			close(started)
			<-release
			finished.Store(true)
			return 0, nil
		},
	}
	if err := loop.Handlers.Add(informer, cache.ResourceEventHandlerFuncs{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- loop.Run(ctx, 2) }()
	loop.Queue.Add(cache.ObjectName{Namespace: "ns", Name: "a"})
	<-started
	cancel()
	select {
	case <-done:
		t.Fatal("Run returned while a sync was under way")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !finished.Load() {
		t.Error("Run returned before the sync finished")
	}
	if len(loop.Handlers.added) != 0 {
		t.Error("Run left its handlers on the informer")
	}
}

// TestOnChange: adds, deletes and updates of a new resourceVersion are
// enqueued; a resync's update is not.
func TestOnChange(t *testing.T) {
	var got []string
	h := OnChange(func(obj any) { got = append(got, obj.(*corev1.Pod).ResourceVersion) })
	pod := func(rv string) *corev1.Pod { return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{ResourceVersion: rv}} }
	h.OnAdd(pod("1"), false)
	h.OnUpdate(pod("1"), pod("1"))
	h.OnUpdate(pod("1"), pod("2"))
	h.OnDelete(pod("3"))
	if want := []string{"1", "2", "3"}; !slices.Equal(got, want) {
		t.Errorf("enqueued %v, want %v", got, want)
	}
}
