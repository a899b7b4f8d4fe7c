// Package githubsync implements the GitHub sync: GitHub is the source of
// truth of which runner holds a job, and webhooks are only hints, so every
// period the sync lists the runners of each scope (organization or
// repository) that Runners use and corrects what drifted:
//
//   - a Runner whose GitHub runner is busy but has no job hint gets one (job
//     id 0), so it turns Active even when no webhook came;
//   - an Idle Runner whose registration is gone from GitHub is deleted (its
//     finalizer finds nothing to deregister), so its RunnerSet replaces it;
//   - a GitHub runner named like Octorun's (RunnerNamePrefix) that no Runner
//     has, and that is not busy, is removed from GitHub (an orphan).
//
// It costs ⌈runners/100⌉ list requests per scope per period, none for scopes
// without Runners; unchanged pages are conditional requests that GitHub does
// not count (pkg/github). When GitHub says wait, the scope waits.
package githubsync

import (
	"context"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/octorun/octorun/pkg/controller/internal/events"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned"
	octorunscheme "github.com/octorun/octorun/pkg/generated/clientset/versioned/scheme"
	octoruninformers "github.com/octorun/octorun/pkg/generated/informers/externalversions/octorun/v1alpha1"
	octorunlisters "github.com/octorun/octorun/pkg/generated/listers/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/github"
)

// ControllerName names the controller's events and logger.
const ControllerName = "githubsync"

// Defaults of Options.
const (
	// DefaultPeriod is how often each scope is synced.
	DefaultPeriod = 5 * time.Minute
	// DefaultGracePeriod is how old a Runner must be before the sync
	// deletes it for a vanished registration.
	DefaultGracePeriod = 5 * time.Minute
)

// GitHub is what the sync needs of GitHub (pkg/github's Client).
type GitHub interface {
	ListRunners(ctx context.Context, scope github.Scope) ([]github.Runner, error)
	DeleteRunner(ctx context.Context, scope github.Scope, id int64) error
}

// Options tune the sync.
type Options struct {
	// Period is how often each scope is synced; zero means DefaultPeriod.
	Period time.Duration
	// RunnerNamePrefix is the Runner controller's: GitHub runners whose
	// name starts with it are Octorun's. Orphans are removed only when it
	// is not empty, and it must be unique to this Octorun: another Octorun
	// (another cluster, or another namespace) using the same prefix in the
	// same organization would see this one's runners as orphans.
	RunnerNamePrefix string
	// GitHubHost is the host of the GitHub Octorun talks to; Runners of
	// other hosts are not synced. Empty means "github.com".
	GitHubHost string
	// GracePeriod is how old a Runner must be before it is deleted for a
	// vanished registration; zero means DefaultGracePeriod.
	GracePeriod time.Duration
	// Registerer registers the metrics; nil means they are not registered.
	Registerer prometheus.Registerer
	// Grants leave out the Runners whose namespace no ScopeGrant lets
	// use their scope and group, so a tenant's Runner makes Octorun call
	// GitHub only where the tenant may; nil leaves none out.
	Grants interface {
		Check(namespace, url, group string) error
	}
}

// Controller is the GitHub sync.
type Controller struct {
	kubeClient    kubernetes.Interface
	octorunClient versioned.Interface
	github        GitHub
	opts          Options

	runnerLister  octorunlisters.RunnerLister
	runnersSynced cache.InformerSynced

	recorder record.EventRecorder
	events   *events.Broadcaster
	metrics  *metrics
	now      func() time.Time

	mu     sync.Mutex
	scopes map[scopeKey]*scopeState
}

// New returns the GitHub sync. It reads Runners from runnerInformer's cache.
func New(
	ctx context.Context,
	kubeClient kubernetes.Interface,
	octorunClient versioned.Interface,
	gh GitHub,
	runnerInformer octoruninformers.RunnerInformer,
	opts Options,
) (*Controller, error) {
	utilruntime.Must(octorunscheme.AddToScheme(scheme.Scheme))
	if opts.Period <= 0 {
		opts.Period = DefaultPeriod
	}
	if opts.GracePeriod <= 0 {
		opts.GracePeriod = DefaultGracePeriod
	}
	if opts.GitHubHost == "" {
		opts.GitHubHost = "github.com"
	}
	broadcaster := events.NewBroadcaster(ctx)
	c := &Controller{
		kubeClient:    kubeClient,
		octorunClient: octorunClient,
		github:        gh,
		opts:          opts,
		runnerLister:  runnerInformer.Lister(),
		runnersSynced: runnerInformer.Informer().HasSynced,
		recorder:      broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "octorun-" + ControllerName}),
		events:        broadcaster,
		metrics:       newMetrics(),
		now:           time.Now,
		scopes:        map[scopeKey]*scopeState{},
	}
	if err := c.metrics.register(opts.Registerer); err != nil {
		return nil, err
	}
	if opts.RunnerNamePrefix == "" {
		klog.FromContext(ctx).Info("No runner name prefix: GitHub runners left without a Runner (orphans) are not removed")
	}
	return c, nil
}

// Run syncs every period until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx)

	defer c.events.Start(c.kubeClient)()

	logger.Info("Starting GitHub sync", "period", c.opts.Period)
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.runnersSynced) {
		return errors.New("failed to wait for caches to sync")
	}
	wait.JitterUntilWithContext(ctx, c.syncAll, c.opts.Period, 0.1, true)
	logger.Info("Shutting down GitHub sync")
	return nil
}

// syncAll syncs every scope in use, one after the other.
func (c *Controller) syncAll(ctx context.Context) {
	runners, err := c.runnerLister.List(everything)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Listing Runners")
		return
	}
	groups := c.groupByScope(runners)
	c.forgetUnused(groups)
	for _, g := range groups {
		if ctx.Err() != nil {
			return
		}
		if err := c.syncScope(ctx, g.scope, g.runners); err != nil && ctx.Err() == nil {
			utilruntime.HandleErrorWithContext(ctx, err, "Error syncing runners with GitHub; retrying next period", "scope", g.scope.String())
		}
	}
}

// forgetUnused drops the state of scopes no Runner uses any more.
func (c *Controller) forgetUnused(groups []scopeGroup) {
	inUse := map[scopeKey]bool{}
	for _, g := range groups {
		inUse[keyOf(g.scope)] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.scopes {
		if !inUse[k] {
			delete(c.scopes, k)
		}
	}
}

// state returns a scope's state, made on first use.
func (c *Controller) state(scope github.Scope) *scopeState {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := keyOf(scope)
	s, ok := c.scopes[k]
	if !ok {
		s = &scopeState{}
		c.scopes[k] = s
	}
	return s
}
