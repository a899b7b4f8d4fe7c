package main

import (
	"context"
	"fmt"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/octorun/octorun/cmd/octorun/app/options"
)

// Lease timing. A follower counts the lease duration from when it last saw
// the Lease renewed, and looks every retryPeriod (with up to 20% jitter):
// it takes over at most about leaseDuration + 2.2*retryPeriod after the
// leader died, well inside 15 s.
var (
	leaseDuration = 8 * time.Second
	renewDeadline = 6 * time.Second
	retryPeriod   = time.Second
)

// runLeaderElected runs fn while this process holds the Lease, until ctx is
// done (releasing the Lease). A Lease lost, e.g. to an API server away for
// longer than the renew deadline, ends fn's term: its context is cancelled,
// and once it returned this process campaigns again, without a restart.
// An error of fn ends the process.
func runLeaderElected(ctx context.Context, client kubernetes.Interface, o *options.Options, fn func(context.Context) error) error {
	logger := klog.FromContext(ctx)
	if !o.LeaderElect {
		return fn(ctx)
	}
	host, _ := os.Hostname()
	identity := host + "_" + string(uuid.NewUUID())
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: o.LeaseName, Namespace: o.LeaseNamespace},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}
	config := leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   leaseDuration,
		RenewDeadline:   renewDeadline,
		RetryPeriod:     retryPeriod,
		ReleaseOnCancel: true,
		Name:            o.LeaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) {}, // set per campaign
			OnStoppedLeading: func() {
				logger.Info("Stopped leading", "identity", identity)
			},
			OnNewLeader: func(leader string) {
				if leader != identity {
					logger.Info("Another replica leads", "leader", leader)
				}
			},
		},
	}
	logger.Info("Waiting to lead", "lease", klog.KRef(o.LeaseNamespace, o.LeaseName), "identity", identity)
	for {
		// An elector runs once: each campaign gets its own. It hands the
		// term's context to this loop, which runs fn itself: a term ends
		// only when fn has returned, so two terms' control loops never act
		// side by side.
		leading := make(chan context.Context, 1)
		config.Callbacks.OnStartedLeading = func(lctx context.Context) { leading <- lctx }
		le, err := leaderelection.NewLeaderElector(config)
		if err != nil {
			return fmt.Errorf("setting up leader election: %w", err)
		}
		campaign, endCampaign := context.WithCancel(ctx)
		elected := make(chan struct{})
		go func() {
			defer close(elected)
			le.Run(campaign)
		}()
		select {
		case lctx := <-leading:
			logger.Info("Leading: starting the control loops", "identity", identity)
			err = fn(lctx)
		case <-elected:
		}
		endCampaign() // releases the Lease after an error of fn
		<-elected
		if err != nil || ctx.Err() != nil {
			return err
		}
		logger.Info("Lost the leader Lease; the control loops stopped. Campaigning again", "identity", identity)
	}
}
