package worker

import (
	"context"
	"errors"
	"testing"
	"time"

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
