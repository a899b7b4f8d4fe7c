package main

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/octorun/octorun/cmd/octorun/app/options"
)

// A Lease lost while the API server is away ends the control loops' term;
// the process campaigns again and leads again once the API server is back,
// without exiting (a reliability suite finding: it used to exit).
func TestLostLeaseCampaignsAgain(t *testing.T) {
	leaseDuration, renewDeadline, retryPeriod = 800*time.Millisecond, 600*time.Millisecond, 100*time.Millisecond
	t.Cleanup(func() { leaseDuration, renewDeadline, retryPeriod = 8*time.Second, 6*time.Second, time.Second })

	client := fake.NewClientset()
	var away atomic.Bool
	client.PrependReactor("*", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		if away.Load() {
			return true, nil, errors.New("connection refused")
		}
		return false, nil, nil
	})
	terms := make(chan context.Context, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runLeaderElected(ctx, client, &options.Options{LeaderElect: true, LeaseName: "octorun", LeaseNamespace: "default"}, func(ctx context.Context) error {
			terms <- ctx
			<-ctx.Done()
			return nil
		})
	}()

	first := waitTerm(t, terms)
	away.Store(true)
	select {
	case <-first.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("The term did not end when the Lease could not be renewed")
	}
	away.Store(false)
	second := waitTerm(t, terms)
	select {
	case err := <-done:
		t.Fatalf("runLeaderElected returned %v after the Lease was lost; want it to lead again", err)
	default:
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("runLeaderElected = %v after ctx was done, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("runLeaderElected did not return after ctx was done")
	}
	if second.Err() == nil {
		t.Error("The second term's context is not done after ctx was")
	}
}

func waitTerm(t *testing.T, terms <-chan context.Context) context.Context {
	t.Helper()
	select {
	case ctx := <-terms:
		return ctx
	case <-time.After(10 * time.Second):
		t.Fatal("Not leading within 10s")
		return nil
	}
}

// An error of the control loops still ends the process.
func TestControlLoopErrorEndsLeaderElection(t *testing.T) {
	client := fake.NewClientset()
	err := runLeaderElected(context.Background(), client, &options.Options{LeaderElect: true, LeaseName: "octorun", LeaseNamespace: "default"}, func(context.Context) error {
		return errors.New("broken")
	})
	if err == nil || err.Error() != "broken" {
		t.Errorf("runLeaderElected = %v, want the control loops' error", err)
	}
}
