package githubevents

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"sync"
	"time"

	gogithub "github.com/google/go-github/v50/github"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/klog/v2"

	"github.com/octorun/octorun/pkg/runnerurl"
)

// Defaults of Options.
const (
	// DefaultPath is where the Receiver takes deliveries.
	DefaultPath = "/github/webhooks"
	// DefaultMaxBodyBytes bounds a delivery's body. A workflow_job payload
	// is a few KiB.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultQueueSize is how many accepted deliveries may wait.
	DefaultQueueSize = 1000
	// DefaultDeliveryCacheSize is how many delivery ids, and as many
	// digests of bodies, are remembered to drop duplicates.
	DefaultDeliveryCacheSize = 10000
	// DefaultDeliveryTTL is how long a delivery id or a body's digest is
	// remembered.
	DefaultDeliveryTTL = 24 * time.Hour
	// DefaultQueuedJobTTL is how long a queued job counts as demand at
	// most: GitHub cancels a job no runner took in 24 hours.
	DefaultQueuedJobTTL = 24 * time.Hour
	// DefaultMaxQueuedJobs bounds the jobs counted as demand.
	DefaultMaxQueuedJobs = 50000
	// DefaultSinkTimeout bounds one call of the Sink.
	DefaultSinkTimeout = 10 * time.Second
	// DefaultSinkAttempts is how often a failing Sink call is tried.
	DefaultSinkAttempts = 3
	// DefaultStoreTimeout bounds the recording of a delivery's job state,
	// well within the 10 s GitHub waits for an answer.
	DefaultStoreTimeout = 5 * time.Second
)

// GitHub's webhook headers.
const (
	headerSignature256 = "X-Hub-Signature-256"
	headerEvent        = "X-GitHub-Event"
	headerDelivery     = "X-GitHub-Delivery"
)

// workflow_job actions.
const (
	actionQueued     = "queued"
	actionWaiting    = "waiting"
	actionInProgress = "in_progress"
	actionCompleted  = "completed"
)

// Options configures a Receiver.
type Options struct {
	// Secret is the webhook secret GitHub signs deliveries with. Required.
	Secret []byte
	// Sink is told of jobs started and completed. Required.
	Sink Sink
	// Path is the URL path of the webhook; empty means DefaultPath.
	Path string
	// MaxBodyBytes bounds a delivery's body; zero means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// QueueSize is how many accepted deliveries may wait for a worker;
	// when full, deliveries are answered 503. Zero means DefaultQueueSize.
	QueueSize int
	// Workers is how many goroutines process deliveries; zero means 1.
	// The Sink may then see the events of one job in any order.
	Workers int
	// DeliveryCacheSize and DeliveryTTL bound the delivery ids, and the
	// SHA-256 digests of the bodies, remembered to drop duplicates and
	// replays; zero means DefaultDeliveryCacheSize and DefaultDeliveryTTL.
	DeliveryCacheSize int
	DeliveryTTL       time.Duration
	// Jobs keeps the queued and finished jobs, the demand. nil means a
	// store in memory, of the deliveries this replica receives only: right
	// for a single replica. Several replicas share a store (see
	// pkg/githubevents/jobstore).
	Jobs JobStore
	// StoreTimeout bounds the recording of a job state in Jobs; zero
	// means DefaultStoreTimeout.
	StoreTimeout time.Duration
	// QueuedJobTTL is how long a queued job counts at most; zero means
	// DefaultQueuedJobTTL. MaxQueuedJobs bounds the store in memory; zero
	// means DefaultMaxQueuedJobs.
	QueuedJobTTL  time.Duration
	MaxQueuedJobs int
	// SinkTimeout bounds one call of the Sink; zero means
	// DefaultSinkTimeout.
	SinkTimeout time.Duration
	// SinkAttempts is how often a failing Sink call is tried before the
	// event is dropped; zero means DefaultSinkAttempts.
	SinkAttempts int
	// RetryBackoff is the first wait between two attempts; zero means
	// 100ms.
	RetryBackoff time.Duration
	// Registerer registers the metrics; nil means they are not registered.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Receiver takes GitHub's webhook deliveries on its path, validates them,
// and processes workflow_job events asynchronously (see Run). It is an
// http.Handler with its own ServeMux.
type Receiver struct {
	opts       Options
	mux        *http.ServeMux
	queue      chan jobEvent
	deliveries *expiringSet[string]
	bodies     *expiringSet[[sha256.Size]byte]
	jobs       JobStore
	metrics    *metrics
}

// jobEvent is an accepted workflow_job delivery, as the workers need it.
type jobEvent struct {
	deliveryID string
	received   time.Time

	action                 string
	org, repo, enterprise  string
	jobID, runID, runnerID int64
	runnerName             string
	labels                 []string
	createdAt              time.Time
	startedAt, completedAt time.Time

	// result is the result of a queued or waiting event, known once its
	// state was stored.
	result string
}

// NewReceiver returns a Receiver. It fails without a secret: unsigned
// deliveries are never accepted.
func NewReceiver(opts Options) (*Receiver, error) {
	if len(opts.Secret) == 0 {
		return nil, errors.New("the GitHub webhook secret is empty: the receiver accepts signed deliveries only")
	}
	if opts.Sink == nil {
		return nil, errors.New("the GitHub webhook receiver needs a Sink")
	}
	if opts.Path == "" {
		opts.Path = DefaultPath
	}
	if opts.Path[0] != '/' {
		return nil, fmt.Errorf("the GitHub webhook path %q does not start with /", opts.Path)
	}
	setDefault(&opts.MaxBodyBytes, DefaultMaxBodyBytes)
	setDefault(&opts.QueueSize, DefaultQueueSize)
	setDefault(&opts.Workers, 1)
	setDefault(&opts.DeliveryCacheSize, DefaultDeliveryCacheSize)
	setDefault(&opts.DeliveryTTL, DefaultDeliveryTTL)
	setDefault(&opts.QueuedJobTTL, DefaultQueuedJobTTL)
	setDefault(&opts.MaxQueuedJobs, DefaultMaxQueuedJobs)
	setDefault(&opts.SinkTimeout, DefaultSinkTimeout)
	setDefault(&opts.SinkAttempts, DefaultSinkAttempts)
	setDefault(&opts.StoreTimeout, DefaultStoreTimeout)
	setDefault(&opts.RetryBackoff, 100*time.Millisecond)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Receiver{
		opts:       opts,
		mux:        http.NewServeMux(),
		queue:      make(chan jobEvent, opts.QueueSize),
		deliveries: newExpiringSet[string](opts.DeliveryCacheSize, opts.DeliveryTTL),
		bodies:     newExpiringSet[[sha256.Size]byte](opts.DeliveryCacheSize, opts.DeliveryTTL),
		jobs:       opts.Jobs,
	}
	if r.jobs == nil {
		r.jobs = newMemoryStore(opts.MaxQueuedJobs, opts.QueuedJobTTL)
	}
	r.metrics = newMetrics(
		func() float64 { return float64(len(r.queue)) },
		func() float64 {
			n, _ := r.jobs.Count(func(*QueuedJob) bool { return true }, r.opts.Now())
			return float64(n)
		},
	)
	if err := r.metrics.register(opts.Registerer); err != nil {
		return nil, err
	}
	r.mux.HandleFunc(opts.Path, r.handle)
	return r, nil
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Path returns the URL path the Receiver takes deliveries on.
func (r *Receiver) Path() string { return r.opts.Path }

// ServeHTTP serves the webhook path; any other path is not found.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mux.ServeHTTP(w, req)
}

// QueuedJobs returns how many jobs GitHub reported queued that a runner
// with runnerLabels could run: jobs of organization org (of any of its
// repositories when repo is empty, as for an organization runner; of
// repository org/repo otherwise) whose labels are all among runnerLabels,
// without regard to case, "self-hosted" implied. A job stops counting when
// it starts or completes, and after 24 hours. A job waiting for an
// environment's approval is not counted: no runner can take it yet.
//
// known is false until a workflow_job delivery was stored (see
// JobStore.Count): before, it cannot tell "no jobs" from "no webhook". Even
// then the count is a hint: jobs queued before the webhook was set up, or
// whose deliveries were lost, are not counted. It is cheap and safe for
// concurrent use (statemetrics.QueuedJobs calls it at every scrape).
func (r *Receiver) QueuedJobs(org, repo string, runnerLabels []string) (jobs int, known bool) {
	return r.jobs.Count(ScopeMatcher(org, repo, runnerLabels), r.opts.Now())
}

// QueuedJobsOfScope is QueuedJobs for the scope of a runner URL: for an
// enterprise, the jobs of the organizations of that enterprise.
func (r *Receiver) QueuedJobsOfScope(scope runnerurl.Scope, runnerLabels []string) (jobs int, known bool) {
	if scope.IsEnterprise() {
		return r.jobs.Count(EnterpriseMatcher(scope.Owner, runnerLabels), r.opts.Now())
	}
	return r.QueuedJobs(scope.Owner, scope.Repo, runnerLabels)
}

// handle validates a delivery: method, content type, size and signature
// first, then the headers and the payload. It records the job's state in
// the JobStore, answers once it is stored, and queues the rest of the work
// (the Sink) for Run's workers.
func (r *Receiver) handle(w http.ResponseWriter, req *http.Request) {
	logger := klog.FromContext(req.Context())
	reject := func(code int, result, message string) {
		r.metrics.deliveries.WithLabelValues("", "", result).Inc()
		logger.V(2).Info("Rejected a GitHub webhook delivery", "status", code, "reason", message, "remoteAddr", req.RemoteAddr)
		http.Error(w, message, code)
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reject(http.StatusMethodNotAllowed, ResultMethodNotAllowed, "Only POST is allowed")
		return
	}
	if mediaType, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mediaType != "application/json" {
		reject(http.StatusUnsupportedMediaType, ResultUnsupportedMediaType, "The content type must be application/json")
		return
	}
	if req.ContentLength > r.opts.MaxBodyBytes {
		reject(http.StatusRequestEntityTooLarge, ResultTooLarge, "The body is too large")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.opts.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			reject(http.StatusRequestEntityTooLarge, ResultTooLarge, "The body is too large")
			return
		}
		reject(http.StatusBadRequest, ResultBadRequest, "The body could not be read")
		return
	}
	if !validSignature(req.Header.Get(headerSignature256), body, r.opts.Secret) {
		reject(http.StatusUnauthorized, ResultUnauthorized, "Missing or invalid "+headerSignature256)
		return
	}

	// The delivery comes from GitHub: its headers can be trusted.
	event, id := req.Header.Get(headerEvent), req.Header.Get(headerDelivery)
	if event == "" || id == "" || len(id) > 128 {
		reject(http.StatusBadRequest, ResultBadRequest, "Missing "+headerEvent+" or "+headerDelivery)
		return
	}
	eventLabel := eventLabel(event)
	answer := func(code int, action, result string) {
		r.metrics.deliveries.WithLabelValues(eventLabel, action, result).Inc()
		logger.V(4).Info("GitHub webhook delivery", "deliveryID", id, "event", event, "action", action, "result", result)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, result+"\n")
	}
	switch event {
	case "ping":
		answer(http.StatusOK, "", ResultPing)
		return
	case "workflow_job":
	default:
		answer(http.StatusOK, "", ResultIgnored)
		return
	}

	ev, err := parseWorkflowJob(body)
	if err != nil {
		r.metrics.deliveries.WithLabelValues(eventLabel, "", ResultBadRequest).Inc()
		logger.V(2).Info("Rejected a malformed workflow_job delivery", "deliveryID", id, "err", err)
		http.Error(w, "Malformed workflow_job payload: "+err.Error(), http.StatusBadRequest)
		return
	}
	action := actionLabel(ev.action)
	now := r.opts.Now()
	if !r.deliveries.add(id, now) {
		answer(http.StatusOK, action, ResultDuplicate)
		return
	}
	// The signature covers the body only, not X-GitHub-Delivery: a captured
	// delivery sent again under a new id is signed all the same. GitHub
	// gives a redelivery the id of the first delivery, and no two events
	// have the same body (it holds the job's id, action and times), so a
	// known body under a new id is a replay.
	digest := sha256.Sum256(body)
	if !r.bodies.add(digest, now) {
		logger.V(2).Info("Dropped a replayed GitHub webhook delivery: its body came before under another delivery id", "deliveryID", id, "remoteAddr", req.RemoteAddr)
		answer(http.StatusOK, action, ResultReplayed)
		return
	}
	forget := func() {
		r.deliveries.remove(id)
		r.bodies.remove(digest)
	}
	if action == "other" {
		answer(http.StatusOK, action, ResultIgnored)
		return
	}
	ev.deliveryID, ev.received = id, now
	if err := r.store(req.Context(), &ev, now); err != nil {
		// Not remembered, so that a redelivery is taken.
		forget()
		r.metrics.deliveries.WithLabelValues(eventLabel, action, ResultStoreFailed).Inc()
		logger.Error(err, "Could not store the state of a job; GitHub records a failed delivery", "deliveryID", id, "job", ev.jobID)
		http.Error(w, "The job's state could not be stored", http.StatusServiceUnavailable)
		return
	}
	select {
	case r.queue <- ev:
		answer(http.StatusAccepted, action, ResultAccepted)
	default:
		// Not remembered, so that a redelivery is taken.
		forget()
		r.metrics.deliveries.WithLabelValues(eventLabel, action, ResultQueueFull).Inc()
		logger.Info("Dropped a workflow_job delivery: the queue is full", "deliveryID", id, "queueSize", r.opts.QueueSize)
		http.Error(w, "The receiver is overloaded", http.StatusServiceUnavailable)
	}
}

var eventRE = regexp.MustCompile(`^[a-z_]{1,64}$`)

// eventLabel bounds the event label to names shaped like GitHub's.
func eventLabel(event string) string {
	if eventRE.MatchString(event) {
		return event
	}
	return "other"
}

func actionLabel(action string) string {
	switch action {
	case actionQueued, actionWaiting, actionInProgress, actionCompleted:
		return action
	}
	return "other"
}

// parseWorkflowJob reads the parts of a workflow_job payload the workers
// need.
func parseWorkflowJob(body []byte) (jobEvent, error) {
	// go-github's WorkflowJobEvent lacks the enterprise, which the payloads
	// of organizations in an enterprise carry (github/docs, "Webhook events
	// and payloads", workflow_job).
	var e struct {
		gogithub.WorkflowJobEvent
		Enterprise struct {
			Slug string `json:"slug"`
		} `json:"enterprise"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return jobEvent{}, err
	}
	j := e.GetWorkflowJob()
	switch {
	case j == nil:
		return jobEvent{}, errors.New("no workflow_job")
	case j.GetID() <= 0:
		return jobEvent{}, errors.New("no workflow_job.id")
	case e.GetAction() == "":
		return jobEvent{}, errors.New("no action")
	}
	owner := e.GetRepo().GetOwner().GetLogin()
	if owner == "" {
		owner = e.GetOrg().GetLogin()
	}
	if owner == "" {
		return jobEvent{}, errors.New("no repository owner or organization")
	}
	return jobEvent{
		action:      e.GetAction(),
		org:         owner,
		enterprise:  e.Enterprise.Slug,
		repo:        e.GetRepo().GetName(),
		jobID:       j.GetID(),
		runID:       j.GetRunID(),
		runnerID:    j.GetRunnerID(),
		runnerName:  j.GetRunnerName(),
		labels:      j.Labels,
		createdAt:   j.GetCreatedAt().Time,
		startedAt:   j.GetStartedAt().Time,
		completedAt: j.GetCompletedAt().Time,
	}, nil
}

// Run runs the JobStore and processes accepted deliveries until ctx is
// done. Deliveries still queued then are dropped: the sync catches up.
func (r *Receiver) Run(ctx context.Context) {
	logger := klog.FromContext(ctx)
	logger.Info("Starting GitHub webhook workers", "count", r.opts.Workers, "path", r.opts.Path)
	var wg sync.WaitGroup
	wg.Go(func() { r.jobs.Run(ctx) })
	for range r.opts.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case ev := <-r.queue:
					r.process(ctx, ev)
				}
			}
		})
	}
	wg.Wait()
	logger.Info("Stopped GitHub webhook workers")
}

// process handles one workflow_job event.
func (r *Receiver) process(ctx context.Context, ev jobEvent) {
	logger := klog.LoggerWithValues(klog.FromContext(ctx), "deliveryID", ev.deliveryID, "job", ev.jobID, "action", ev.action)
	ctx = klog.NewContext(ctx, logger)
	var result string
	switch ev.action {
	case actionQueued, actionWaiting:
		result = ev.result
	case actionInProgress, actionCompleted:
		result = JobNoRunner
		if ev.runnerID != 0 || ev.runnerName != "" {
			result = r.record(ctx, ev)
		}
	}
	r.metrics.jobs.WithLabelValues(ev.action, result).Inc()
	r.metrics.processing.WithLabelValues(ev.action).Observe(r.opts.Now().Sub(ev.received).Seconds())
	logger.V(4).Info("Processed a workflow_job", "result", result, "runnerID", ev.runnerID, "runnerName", ev.runnerName)
}

// store records the job's state in the JobStore, where every replica
// counts it, before the delivery is acknowledged: GitHub sends a delivery
// once, to one replica, and does not redeliver failed ones on its own
// (github/docs, "Handling failed webhook deliveries"), so a 202 must mean
// the state survives this replica. A queued job is stored unless it cannot
// count; a job waiting for an environment's approval is not demand (no
// runner can take it before its queued event, github/docs "Webhook events
// and payloads", workflow_job action waiting); a job that started or
// completed is stored as finished, in any order with its queued event
// (deliveries are not ordered, github/docs "Best practices for using
// webhooks").
func (r *Receiver) store(ctx context.Context, ev *jobEvent, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.StoreTimeout)
	defer cancel()
	switch ev.action {
	case actionQueued:
		ev.result = JobNotCounted
		job, ok := queuedJob(*ev, now, r.opts.QueuedJobTTL)
		if !ok {
			return nil
		}
		counted, err := r.jobs.Queued(ctx, job, now)
		if err != nil {
			return fmt.Errorf("storing queued job %d: %w", ev.jobID, err)
		}
		if counted {
			ev.result = JobCounted
		}
	case actionWaiting:
		ev.result = JobNotCounted
	case actionInProgress, actionCompleted:
		if err := r.jobs.Finished(ctx, ev.jobID, now); err != nil {
			return fmt.Errorf("storing finished job %d: %w", ev.jobID, err)
		}
	}
	return nil
}

// record tells the Sink, trying a few times.
func (r *Receiver) record(ctx context.Context, ev jobEvent) string {
	logger := klog.FromContext(ctx)
	backoff := r.opts.RetryBackoff
	for attempt := 1; ; attempt++ {
		callCtx, cancel := context.WithTimeout(ctx, r.opts.SinkTimeout)
		var known bool
		var err error
		if ev.action == actionInProgress {
			known, err = r.opts.Sink.JobStarted(callCtx, ev.org, ev.repo, ev.runnerID, ev.runnerName, ev.jobID, ev.runID, ev.startedAt)
		} else {
			known, err = r.opts.Sink.JobCompleted(callCtx, ev.org, ev.repo, ev.runnerID, ev.runnerName, ev.jobID, ev.runID, ev.startedAt, ev.completedAt)
		}
		cancel()
		switch {
		case err == nil && known:
			return JobRecorded
		case err == nil:
			return JobUnknownRunner
		case attempt >= r.opts.SinkAttempts || ctx.Err() != nil:
			logger.Error(err, "Recording the job on its runner failed; the sync will catch up", "runnerID", ev.runnerID, "attempts", attempt)
			return JobFailed
		}
		logger.V(2).Info("Recording the job on its runner failed; retrying", "runnerID", ev.runnerID, "err", err)
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
		case <-timer.C:
		}
		backoff *= 4
	}
}
