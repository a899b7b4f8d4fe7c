package jobstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/octorun/octorun/pkg/githubevents"
)

// Label marks the ConfigMaps of the store; the informer selects them by it.
const Label = "octorun.github.io/job-store"

// Defaults of Options.
const (
	// DefaultShards is how many ConfigMaps hold the states: 8 of 1 MiB
	// hold some 80,000 queued jobs.
	DefaultShards = 8
	// DefaultNamePrefix starts the ConfigMaps' names.
	DefaultNamePrefix = "octorun-jobs-"
	// DefaultCommitWindow is how long the first write of a batch waits
	// for others to join it: none. Writes that come while a batch is
	// written join the next one, so batches grow with the load, and a
	// delivery waits for one patch, not for a window too (GitHub's
	// deliveries to one hook are few at a time).
	DefaultCommitWindow = -1
	// DefaultCommitTimeout bounds the patches of a batch.
	DefaultCommitTimeout = 4 * time.Second
	// DefaultFinishedTTL is how long a finished key is kept.
	DefaultFinishedTTL = time.Hour
	// DefaultPrunePeriod is how often a replica prunes.
	DefaultPrunePeriod = time.Minute
	// DefaultMaxJobs bounds the queued jobs stored.
	DefaultMaxJobs = 50000
)

// Options configures a Store.
type Options struct {
	// Namespace holds the ConfigMaps: Octorun's own. Required.
	Namespace string
	// Shards is how many ConfigMaps hold the states; zero means
	// DefaultShards. Every replica must use the same.
	Shards int
	// NamePrefix starts the ConfigMaps' names; empty means
	// DefaultNamePrefix.
	NamePrefix string
	// CommitWindow, CommitTimeout, FinishedTTL, PrunePeriod and MaxJobs:
	// zero means their defaults; a negative CommitWindow means none. QueuedTTL is how long a queued job counts
	// at most; zero means githubevents.DefaultQueuedJobTTL.
	CommitWindow  time.Duration
	CommitTimeout time.Duration
	QueuedTTL     time.Duration
	FinishedTTL   time.Duration
	PrunePeriod   time.Duration
	MaxJobs       int
	// Registerer registers the metrics; nil means they are not registered.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Store is a githubevents.JobStore in ConfigMaps. Run it before use.
type Store struct {
	client   kubernetes.Interface
	opts     Options
	informer cache.SharedIndexInformer
	metrics  *metrics

	// mu guards shards, the informer's view parsed, and jobs, the keys of
	// all shards by job.
	mu     sync.RWMutex
	shards map[string]*shard
	jobs   map[int64]*jobKeys

	// commitMu guards next and stopped.
	commitMu sync.Mutex
	next     *batch
	stopped  bool
	kick     chan struct{}
}

var _ githubevents.JobStore = (*Store)(nil)

// New returns a Store of the ConfigMaps in opts.Namespace.
func New(client kubernetes.Interface, opts Options) (*Store, error) {
	if opts.Namespace == "" {
		return nil, errors.New("the job store needs a namespace")
	}
	setDefault(&opts.Shards, DefaultShards)
	setDefault(&opts.CommitWindow, DefaultCommitWindow)
	setDefault(&opts.CommitTimeout, DefaultCommitTimeout)
	setDefault(&opts.QueuedTTL, githubevents.DefaultQueuedJobTTL)
	setDefault(&opts.FinishedTTL, DefaultFinishedTTL)
	setDefault(&opts.PrunePeriod, DefaultPrunePeriod)
	setDefault(&opts.MaxJobs, DefaultMaxJobs)
	if opts.NamePrefix == "" {
		opts.NamePrefix = DefaultNamePrefix
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{
		client:  client,
		opts:    opts,
		metrics: newMetrics(),
		shards:  map[string]*shard{},
		jobs:    map[int64]*jobKeys{},
		kick:    make(chan struct{}, 1),
	}
	if err := s.metrics.register(opts.Registerer); err != nil {
		return nil, err
	}
	s.informer = coreinformers.NewFilteredConfigMapInformer(client, opts.Namespace, 0, cache.Indexers{},
		func(lo *metav1.ListOptions) { lo.LabelSelector = Label })
	if err := s.informer.SetTransform(stripManagedFields); err != nil {
		return nil, err
	}
	if _, err := s.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.observe,
		UpdateFunc: func(_, obj any) { s.observe(obj) },
		DeleteFunc: s.forget,
	}); err != nil {
		return nil, err
	}
	return s, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

func stripManagedFields(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// target returns the ConfigMap a batch goes to: the smallest, so that they
// fill evenly. A job's keys may be in different ConfigMaps.
func (s *Store) target() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	best, bestSize := "", 0
	for i := range s.opts.Shards {
		name := s.opts.NamePrefix + strconv.Itoa(i)
		size := 0
		if sh := s.shards[name]; sh != nil {
			size = sh.size
		}
		if best == "" || size < bestSize {
			best, bestSize = name, size
		}
	}
	return best
}

// Run watches the ConfigMaps, commits the batches and prunes until ctx is
// done, then writes the batch under way and returns.
func (s *Store) Run(ctx context.Context) {
	logger := klog.FromContext(ctx)
	logger.Info("Starting the job store", "namespace", s.opts.Namespace, "shards", s.opts.Shards)
	var wg sync.WaitGroup
	wg.Go(func() { s.informer.Run(ctx.Done()) })
	wg.Go(func() { s.commitLoop(ctx) })
	wg.Go(func() {
		if !cache.WaitForNamedCacheSync("job-store", ctx.Done(), s.informer.HasSynced) {
			return
		}
		wait.JitterUntilWithContext(ctx, s.prune, s.opts.PrunePeriod, 0.5, false)
	})
	wg.Wait()
	logger.Info("Stopped the job store")
}

// Queued stores the job's queued key. It says the job counts unless it is
// known finished already or the store is full.
func (s *Store) Queued(ctx context.Context, job githubevents.QueuedJob, now time.Time) (bool, error) {
	s.mu.RLock()
	k := s.jobs[job.ID]
	finished := k != nil && k.finished > 0
	full := (k == nil || k.queued == 0) && len(s.jobs) >= s.opts.MaxJobs
	s.mu.RUnlock()
	if full || finished {
		// A job that started already is no demand: its late queued
		// delivery needs no key (the finished one is stored, or it would
		// not be in the cache).
		return false, nil
	}
	value, err := encodeQueued(job)
	if err != nil {
		return false, err
	}
	if err := s.write(ctx, queuedKey(job.ID), value); err != nil {
		return false, err
	}
	return !finished, nil
}

// Finished stores the job's finished key.
func (s *Store) Finished(ctx context.Context, jobID int64, now time.Time) error {
	s.mu.RLock()
	k := s.jobs[jobID]
	stored := k != nil && k.finished > 0
	s.mu.RUnlock()
	if stored {
		// completed after in_progress: the key is in the ConfigMaps.
		return nil
	}
	return s.write(ctx, finishedKey(jobID), encodeFinished(now))
}

// Count counts from the informer's cache. It knows once the cache synced
// and holds a ConfigMap: the first write makes one, and pruning leaves them.
func (s *Store) Count(match func(*githubevents.QueuedJob) bool, now time.Time) (int, bool) {
	if !s.informer.HasSynced() {
		return 0, false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, k := range s.jobs {
		if k.queued == 0 || k.finished > 0 || now.Sub(k.job.Since) >= s.opts.QueuedTTL {
			continue
		}
		if match(&k.job) {
			n++
		}
	}
	return n, len(s.shards) > 0
}

// observe parses a ConfigMap the informer added or updated.
func (s *Store) observe(obj any) {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return
	}
	s.mu.RLock()
	old := s.shards[cm.Name]
	s.mu.RUnlock()
	// Only the informer's goroutine writes shards: old stays valid.
	sh := parseShard(cm.Data, old)
	s.mu.Lock()
	s.unindexLocked(old)
	s.indexLocked(sh)
	s.shards[cm.Name] = sh
	s.mu.Unlock()
}

// forget drops a ConfigMap the informer deleted.
func (s *Store) forget(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if cm, ok := obj.(*corev1.ConfigMap); ok {
		s.mu.Lock()
		s.unindexLocked(s.shards[cm.Name])
		delete(s.shards, cm.Name)
		s.mu.Unlock()
	}
}

// jobKeys are a job's keys across the ConfigMaps: how many queued and
// finished keys it has (a duplicate delivery may write a key in two), and
// its queued state.
type jobKeys struct {
	job              githubevents.QueuedJob
	queued, finished int
}

func (s *Store) indexLocked(sh *shard) {
	if sh == nil {
		return
	}
	for id, e := range sh.queued {
		k := s.keysLocked(id)
		k.queued++
		k.job = e.job
	}
	for id := range sh.finished {
		s.keysLocked(id).finished++
	}
}

func (s *Store) unindexLocked(sh *shard) {
	if sh == nil {
		return
	}
	for id := range sh.queued {
		if k := s.jobs[id]; k != nil {
			k.queued--
			s.dropLocked(id, k)
		}
	}
	for id := range sh.finished {
		if k := s.jobs[id]; k != nil {
			k.finished--
			s.dropLocked(id, k)
		}
	}
}

func (s *Store) keysLocked(id int64) *jobKeys {
	k := s.jobs[id]
	if k == nil {
		k = &jobKeys{}
		s.jobs[id] = k
	}
	return k
}

func (s *Store) dropLocked(id int64, k *jobKeys) {
	if k.queued <= 0 && k.finished <= 0 {
		delete(s.jobs, id)
	}
}

// errStopped is the error of a write after Run returned.
var errStopped = errors.New("the job store is stopped")

func wrapPatch(name string, err error) error {
	return fmt.Errorf("patching ConfigMap %s: %w", name, err)
}
