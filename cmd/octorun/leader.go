package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

// Lease timing. A follower counts the lease duration from when it last saw
// the Lease renewed, and looks every retryPeriod (with up to 20% jitter):
// it takes over at most about leaseDuration + 2.2*retryPeriod after the
// leader died, well inside 15 s.
const (
	leaseDuration = 8 * time.Second
	renewDeadline = 6 * time.Second
	retryPeriod   = time.Second
)

// runLeaderElected runs fn while this process holds the Lease, and returns
// when ctx is done (releasing the Lease) or the Lease is lost (an error: the
// process must exit, its control loops may no longer act).
func runLeaderElected(ctx context.Context, client kubernetes.Interface, o options, fn func(context.Context) error) error {
	logger := klog.FromContext(ctx)
	if !o.leaderElect {
		return fn(ctx)
	}
	host, _ := os.Hostname()
	identity := host + "_" + string(uuid.NewUUID())
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: o.leaseName, Namespace: o.leaseNamespace},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}
	var (
		mu     sync.Mutex
		runErr error
		ran    sync.WaitGroup
	)
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   leaseDuration,
		RenewDeadline:   renewDeadline,
		RetryPeriod:     retryPeriod,
		ReleaseOnCancel: true,
		Name:            o.leaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				ran.Add(1)
				defer ran.Done()
				logger.Info("Leading: starting the control loops", "identity", identity)
				if err := fn(lctx); err != nil {
					mu.Lock()
					runErr = err
					mu.Unlock()
				}
			},
			OnStoppedLeading: func() {
				logger.Info("Stopped leading", "identity", identity)
			},
			OnNewLeader: func(leader string) {
				if leader != identity {
					logger.Info("Another replica leads", "leader", leader)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("setting up leader election: %w", err)
	}
	logger.Info("Waiting to lead", "lease", klog.KRef(o.leaseNamespace, o.leaseName), "identity", identity)
	le.Run(ctx)
	ran.Wait()
	mu.Lock()
	defer mu.Unlock()
	if runErr != nil {
		return runErr
	}
	if ctx.Err() == nil {
		return errors.New("lost the leader Lease")
	}
	return nil
}
