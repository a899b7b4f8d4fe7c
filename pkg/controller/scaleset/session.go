package scaleset

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	gha "github.com/actions/scaleset"
	"github.com/actions/scaleset/listener"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/octorun/octorun/pkg/github"
)

// setState is what the controller knows of one scale-set RunnerSet: its
// scale set on GitHub, and its message session while one runs.
type setState struct {
	key cache.ObjectName
	uid types.UID

	// Written by the sync only.
	id int64
	// settings are the settings the scale set was last created, adopted
	// or updated with (see settingsOf); spec.runners, which Octorun
	// writes, is not among them.
	settings string
	// sessionFor is the scale set the running session is for; 0 when none
	// runs.
	sessionFor int64
	cancel     context.CancelFunc
	done       chan struct{}

	mu sync.Mutex
	// stats are the statistics of the session's last message; hasStats
	// says whether a session gave any yet.
	stats    gha.RunnerScaleSetStatistic
	hasStats bool
	// listening says the session is open; sessionErr why the last one
	// ended or could not open.
	listening  bool
	sessionErr error
	// l is the running listener, whose capacity follows maxRunners.
	l          *listener.Listener
	maxRunners int
}

// snapshot returns the session's state.
func (st *setState) snapshot() (stats gha.RunnerScaleSetStatistic, hasStats, listening bool, sessionErr error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.stats, st.hasStats, st.listening, st.sessionErr
}

// setMaxRunners tells the running listener the set's capacity, which it
// sends GitHub with each poll.
func (st *setState) setMaxRunners(n int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.maxRunners = n
	if st.l != nil {
		st.l.SetMaxRunners(n)
	}
}

func (c *Controller) hasState(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.states[uid]
	return ok
}

// state returns the state of the set with key and uid, made on first use;
// the state of an earlier set of the same name is dropped, its session
// stopped.
func (c *Controller) state(key cache.ObjectName, uid types.UID) *setState {
	c.mu.Lock()
	var stale []*setState
	for u, st := range c.states {
		if st.key == key && u != uid {
			stale = append(stale, st)
			delete(c.states, u)
		}
	}
	st, ok := c.states[uid]
	if !ok {
		st = &setState{key: key, uid: uid}
		c.states[uid] = st
	}
	c.mu.Unlock()
	for _, s := range stale {
		c.stopSession(s)
	}
	return st
}

// forget stops the session of the set with key, if any, and drops what is
// known of it.
func (c *Controller) forget(key cache.ObjectName) {
	c.mu.Lock()
	var gone []*setState
	for u, st := range c.states {
		if st.key == key {
			gone = append(gone, st)
			delete(c.states, u)
		}
	}
	c.mu.Unlock()
	for _, st := range gone {
		c.stopSession(st)
	}
}

// stopAll stops every session, when the term ends.
func (c *Controller) stopAll() {
	c.mu.Lock()
	all := make([]*setState, 0, len(c.states))
	for _, st := range c.states {
		all = append(all, st)
	}
	c.mu.Unlock()
	for _, st := range all {
		c.stopSession(st)
	}
}

// stopSession stops the set's session and waits until it is closed on
// GitHub (or closing it failed).
func (c *Controller) stopSession(st *setState) {
	if st.cancel == nil {
		return
	}
	st.cancel()
	<-st.done
	st.cancel, st.done, st.sessionFor = nil, nil, 0
	st.mu.Lock()
	st.listening, st.l = false, nil
	st.mu.Unlock()
}

// ensureSession runs a session for the set's scale set id, stopping one
// for another id first.
func (c *Controller) ensureSession(ctx context.Context, st *setState, scope github.Scope, id int64, maxRunners int) {
	st.setMaxRunners(maxRunners)
	if st.sessionFor == id && st.cancel != nil {
		return
	}
	c.stopSession(st)
	c.mu.Lock()
	parent := c.runCtx
	c.mu.Unlock()
	if parent == nil {
		parent = ctx
	}
	logger := klog.FromContext(ctx).WithValues("scaleSetID", id)
	sessionCtx, cancel := context.WithCancel(klog.NewContext(parent, logger))
	st.cancel, st.done, st.sessionFor = cancel, make(chan struct{}), id
	go func(done chan struct{}) {
		defer close(done)
		c.listen(sessionCtx, st, scope, id)
	}(st.done)
}

// listen holds the scale set's message session until ctx is done: it
// opens the session, runs GitHub's listener on it, and opens it again,
// with backoff, whenever it is refused or lost (a conflict with the
// session of a former leader, an expired token the client could not
// renew, GitHub unavailable). The sync is told of each change.
func (c *Controller) listen(ctx context.Context, st *setState, scope github.Scope, id int64) {
	logger := klog.FromContext(ctx)
	backoff := wait.Backoff{Duration: c.opts.SessionBackoff, Factor: 2, Jitter: 0.1, Steps: math.MaxInt32, Cap: c.opts.MaxSessionBackoff}
	for ctx.Err() == nil {
		started := time.Now()
		err := c.session(ctx, st, scope, id)
		if ctx.Err() != nil {
			return
		}
		logger.Info("The runner scale set's message session ended; opening another", "err", err)
		st.mu.Lock()
		st.listening, st.sessionErr, st.l = false, err, nil
		st.mu.Unlock()
		c.queue.Add(st.key)
		if time.Since(started) > c.opts.MaxSessionBackoff {
			// It ran a while: a new failure starts the backoff afresh.
			backoff = wait.Backoff{Duration: c.opts.SessionBackoff, Factor: 2, Jitter: 0.1, Steps: math.MaxInt32, Cap: c.opts.MaxSessionBackoff}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff.Step()):
		}
	}
}

// session opens a message session and runs the listener on it until the
// listener fails or ctx is done, then deletes the session from GitHub.
func (c *Controller) session(ctx context.Context, st *setState, scope github.Scope, id int64) error {
	logger := klog.FromContext(ctx)
	client, err := c.clients.For(ctx, scope)
	if err != nil {
		return err
	}
	sess, err := client.MessageSessionClient(ctx, int(id), c.opts.Owner)
	if err != nil {
		return fmt.Errorf("opening the message session of runner scale set %d: %w", id, err)
	}
	defer func() {
		// Deleting the session lets the next leader open one at once,
		// rather than wait for GitHub to expire this one.
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := sess.Close(closeCtx); err != nil {
			logger.Info("Could not delete the message session; GitHub expires it", "err", err)
		}
	}()
	polls := &polls{MessageSessionClient: sess, st: st}
	st.mu.Lock()
	max := st.maxRunners
	st.mu.Unlock()
	l, err := listener.New(polls, listener.Config{
		ScaleSetID: int(id), MaxRunners: max,
		// The listener logs every poll at info: for Octorun's log that is
		// detail.
		Logger: slog.New(logr.ToSlogHandler(logger.V(4))),
	})
	if err != nil {
		return fmt.Errorf("starting the listener of runner scale set %d: %w", id, err)
	}
	session := sess.Session()
	st.mu.Lock()
	st.l, st.listening, st.sessionErr = l, true, nil
	if session.Statistics != nil {
		st.stats, st.hasStats = *session.Statistics, true
	}
	st.mu.Unlock()
	logger.V(2).Info("Opened the runner scale set's message session", "session", session.SessionID)
	c.queue.Add(st.key)
	return l.Run(ctx, &scaler{c: c, st: st, logger: logger})
}

// polls is the session client the listener polls through: it records the
// statistics of each message. An empty poll (202) has none, and leaves
// them as they were.
type polls struct {
	*gha.MessageSessionClient
	st *setState
}

func (p *polls) GetMessage(ctx context.Context, lastMessageID, maxCapacity int) (*gha.RunnerScaleSetMessage, error) {
	msg, err := p.MessageSessionClient.GetMessage(ctx, lastMessageID, maxCapacity)
	if msg != nil && msg.Statistics != nil {
		p.st.mu.Lock()
		p.st.stats, p.st.hasStats = *msg.Statistics, true
		p.st.mu.Unlock()
	}
	return msg, err
}

// DeleteMessage acknowledges a message. A message the service no longer
// has was acknowledged already, by an attempt whose answer was lost (the
// client retries a failed request: actions/scaleset common_client.go):
// that is no reason to end the session, which would lose the events of the
// messages not read yet.
func (p *polls) DeleteMessage(ctx context.Context, messageID int) error {
	err := p.MessageSessionClient.DeleteMessage(ctx, messageID)
	if err != nil && messageGone(err) {
		klog.FromContext(ctx).V(2).Info("The message was acknowledged already", "messageID", messageID)
		return nil
	}
	return err
}

// messageGone says whether err is the service's answer that a message is
// not there (TaskAgentMessageNotFoundException), as opposed to the session
// (TaskAgentSessionNotFoundException).
func messageGone(err error) bool {
	return strings.Contains(err.Error(), "MessageNotFoundException")
}

// scaler takes the listener's messages: job starts and ends become job
// hints on the Runners, and each count a sync of the set.
type scaler struct {
	c      *Controller
	st     *setState
	logger klog.Logger
	// completed are the job ends of the message being handled, recorded
	// on their Runners after spec.runners follows the message.
	completed []*gha.JobCompleted
}

// HandleDesiredRunnerCount is called after each message with its
// statistics.totalAssignedJobs, and with 0 after an empty poll; the
// statistics themselves were recorded by polls, so the count is taken from
// them (an empty poll leaves them as they were, as ARC's listener worker
// keeps its last count on an empty batch: actions-runner-controller
// cmd/ghalistener/worker/worker.go setDesiredWorkerState).
//
// spec.runners is lowered for the jobs that ended before their Runners
// are told: the RunnerSet controller stops counting a Runner once its job
// hint says the job ended, and must by then see the lower spec.runners,
// or it would replace the Runner.
func (s *scaler) HandleDesiredRunnerCount(ctx context.Context, count int) (int, error) {
	if len(s.completed) > 0 {
		if err := s.c.scaleFromSession(ctx, s.st); err != nil {
			s.logger.Error(err, "Scaling to the jobs assigned")
		}
		for _, job := range s.completed {
			found, err := s.c.sink.JobCompleted(ctx, job.OwnerName, job.RepositoryName, int64(job.RunnerID), job.RunnerName,
				job.RunnerRequestID, job.WorkflowRunID, job.RunnerAssignTime, job.FinishTime)
			s.logResult(err, found, "JobCompleted", job.RunnerName, job.RunnerRequestID)
		}
		s.completed = s.completed[:0]
	}
	s.c.queue.Add(s.st.key)
	return count, nil
}

// HandleJobStarted marks the job's runner's Runner Active. A failure is
// logged, not returned: it would end the session, and the Runner learns of
// its job from GitHub's sync of busy runners anyway.
func (s *scaler) HandleJobStarted(ctx context.Context, job *gha.JobStarted) error {
	if job.RunnerName == "" && job.RunnerID == 0 {
		return nil
	}
	found, err := s.c.sink.JobStarted(ctx, job.OwnerName, job.RepositoryName, int64(job.RunnerID), job.RunnerName,
		job.RunnerRequestID, job.WorkflowRunID, job.RunnerAssignTime)
	s.logResult(err, found, "JobStarted", job.RunnerName, job.RunnerRequestID)
	return nil
}

// HandleJobCompleted keeps the end of the job for HandleDesiredRunnerCount,
// which the listener calls after the message's job messages. A job
// canceled before a runner took it names none.
func (s *scaler) HandleJobCompleted(_ context.Context, job *gha.JobCompleted) error {
	if job.RunnerName == "" && job.RunnerID == 0 {
		return nil
	}
	s.completed = append(s.completed, job)
	return nil
}

func (s *scaler) logResult(err error, found bool, kind, runnerName string, jobID int64) {
	switch {
	case err != nil:
		s.logger.Error(err, "Recording a job on its Runner", "message", kind, "githubRunner", runnerName, "job", jobID)
	case !found:
		s.logger.V(2).Info("No Runner is the job's runner", "message", kind, "githubRunner", runnerName, "job", jobID)
	}
}
