package githubsim

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actions/scaleset"
	"github.com/actions/scaleset/listener"
	"github.com/google/go-cmp/cmp"
)

// The conformance tests of the runner scale set protocol: GitHub's own
// client, github.com/actions/scaleset, against the simulator.

const testScaleSet = "octo-set"

// newScaleSetClient returns the real scale set client for testOrg on the
// simulator at base, with a personal access token. The simulator's address
// is not github.com, so the client takes it for GitHub Enterprise Server and
// calls its API under /api/v3 (actions/scaleset config.go gitHubAPIURL).
func newScaleSetClient(t *testing.T, base string) *scaleset.Client {
	t.Helper()
	c, err := scaleset.NewClientWithPersonalAccessToken(scaleset.NewClientWithPersonalAccessTokenConfig{
		GitHubConfigURL:     base + "/" + testOrg,
		PersonalAccessToken: testToken,
		SystemInfo:          scaleset.SystemInfo{System: "octorun-conformance", Subsystem: "test"},
	}, scaleset.WithRetryMax(1), scaleset.WithRetryWaitMax(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// createTestScaleSet creates testScaleSet in the Default group.
func createTestScaleSet(t *testing.T, ctx context.Context, c *scaleset.Client) *scaleset.RunnerScaleSet {
	t.Helper()
	group, err := c.GetRunnerGroupByName(ctx, scaleset.DefaultRunnerGroup)
	if err != nil {
		t.Fatalf("GetRunnerGroupByName: %v", err)
	}
	if group.ID != defaultGroupID || !group.IsDefault {
		t.Fatalf("default group = %+v", group)
	}
	set, err := c.CreateRunnerScaleSet(ctx, &scaleset.RunnerScaleSet{
		Name:          testScaleSet,
		RunnerGroupID: group.ID,
		Labels:        []scaleset.Label{{Name: testScaleSet}},
		RunnerSetting: scaleset.RunnerSetting{DisableUpdate: true},
	})
	if err != nil {
		t.Fatalf("CreateRunnerScaleSet: %v", err)
	}
	return set
}

// jobEvents is what a run of messages said, by kind: runner request (job)
// ids, and JobCompleted results by job id.
type jobEvents struct {
	assigned, started, completed []int64
	results                      map[int64]string
	last                         *scaleset.RunnerScaleSetStatistic
}

// readUntil reads and deletes messages until done says the events are
// complete, and returns the last message id.
func readUntil(t *testing.T, ctx context.Context, sc *scaleset.MessageSessionClient, lastID int, ev *jobEvents, done func() bool) int {
	t.Helper()
	if ev.results == nil {
		ev.results = map[int64]string{}
	}
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("messages incomplete: %+v", ev)
		}
		msg, err := sc.GetMessage(ctx, lastID, 10)
		if err != nil {
			t.Fatalf("GetMessage: %v", err)
		}
		if msg == nil {
			continue
		}
		if msg.Statistics == nil {
			t.Fatalf("message %d has no statistics", msg.MessageID)
		}
		for _, m := range msg.JobAssignedMessages {
			ev.assigned = append(ev.assigned, m.RunnerRequestID)
		}
		for _, m := range msg.JobStartedMessages {
			if m.RunnerID == 0 || m.RunnerName == "" {
				t.Errorf("JobStarted %d names no runner: %+v", m.RunnerRequestID, m)
			}
			ev.started = append(ev.started, m.RunnerRequestID)
		}
		for _, m := range msg.JobCompletedMessages {
			ev.completed = append(ev.completed, m.RunnerRequestID)
			ev.results[m.RunnerRequestID] = m.Result
		}
		ev.last = msg.Statistics
		lastID = msg.MessageID
		if err := sc.DeleteMessage(ctx, msg.MessageID); err != nil {
			t.Fatalf("DeleteMessage %d: %v", msg.MessageID, err)
		}
	}
	return lastID
}

func sortedIDs(ids []int64) []int64 {
	out := append([]int64(nil), ids...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func TestScaleSetConformance(t *testing.T) {
	sim, ts := newSim(t, Options{})
	sim.SetScaleSetPollTimeout(200 * time.Millisecond)
	ctx := context.Background()
	c := newScaleSetClient(t, ts.URL)

	// Scale set CRUD.
	set := createTestScaleSet(t, ctx, c)
	if set.ID == 0 || set.Name != testScaleSet || set.RunnerGroupName != defaultGroupName || set.Statistics == nil {
		t.Fatalf("created scale set = %+v", set)
	}
	if diff := cmp.Diff([]scaleset.Label{{Type: "System", Name: testScaleSet}}, set.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if _, err := c.CreateRunnerScaleSet(ctx, &scaleset.RunnerScaleSet{Name: testScaleSet, RunnerGroupID: 1, Labels: []scaleset.Label{{Name: testScaleSet}}}); err == nil {
		t.Error("a second scale set of the same name in the group was created")
	}
	got, err := c.GetRunnerScaleSet(ctx, defaultGroupID, testScaleSet)
	if err != nil || got == nil || got.ID != set.ID {
		t.Fatalf("GetRunnerScaleSet = %+v, %v; want id %d", got, err, set.ID)
	}
	if none, err := c.GetRunnerScaleSet(ctx, defaultGroupID, "no-such-set"); none != nil || err != nil {
		t.Errorf("GetRunnerScaleSet of an unknown name = %+v, %v; want nil, nil", none, err)
	}
	set.Labels = append(set.Labels, scaleset.Label{Name: "gpu"})
	updated, err := c.UpdateRunnerScaleSet(ctx, set.ID, set)
	if err != nil {
		t.Fatalf("UpdateRunnerScaleSet: %v", err)
	}
	if diff := cmp.Diff([]scaleset.Label{{Type: "System", Name: testScaleSet}, {Type: "System", Name: "gpu"}}, updated.Labels); diff != "" {
		t.Errorf("updated labels (-want +got):\n%s", diff)
	}
	if byID, err := c.GetRunnerScaleSetByID(ctx, set.ID); err != nil || len(byID.Labels) != 2 {
		t.Fatalf("GetRunnerScaleSetByID = %+v, %v", byID, err)
	}

	// One session per scale set.
	sc, err := c.MessageSessionClient(ctx, set.ID, "octorun")
	if err != nil {
		t.Fatalf("MessageSessionClient: %v", err)
	}
	if s := sc.Session(); s.Statistics == nil || s.RunnerScaleSet == nil || s.RunnerScaleSet.ID != set.ID || s.OwnerName != "octorun" {
		t.Fatalf("session = %+v", s)
	}
	if _, err := c.MessageSessionClient(ctx, set.ID, "another"); err == nil || !strings.Contains(err.Error(), excSessionConflict) {
		t.Errorf("second session: err = %v, want %s", err, excSessionConflict)
	}

	// Three jobs for the scale set: assigned to it.
	var jobs []int64
	for range 3 {
		jobs = append(jobs, sim.QueueScaleSetJob(testOrg, testRepo, testScaleSet, 0).ID)
	}
	var ev jobEvents
	last := readUntil(t, ctx, sc, 0, &ev, func() bool { return len(ev.assigned) == 3 })
	if diff := cmp.Diff(jobs, sortedIDs(ev.assigned)); diff != "" {
		t.Errorf("JobAssigned (-want +got):\n%s", diff)
	}
	if ev.last.TotalAssignedJobs != 3 || ev.last.TotalRunningJobs != 0 || ev.last.TotalAvailableJobs != 0 {
		t.Errorf("statistics after queueing = %+v, want 3 assigned, none running", ev.last)
	}
	if ss := sim.Sessions(); len(ss) != 1 || ss[0].MaxCapacity != 10 || len(ss[0].Pending) != 0 {
		t.Errorf("sessions = %+v, want one, capacity 10, nothing pending", ss)
	}

	// A runner for each job, from the scale set's JIT configs.
	var runners []int64
	for i := range 3 {
		name := testScaleSet + "-runner-" + string(rune('a'+i))
		cfg, err := c.GenerateJitRunnerConfig(ctx, &scaleset.RunnerScaleSetJitRunnerSetting{Name: name}, set.ID)
		if err != nil {
			t.Fatalf("GenerateJitRunnerConfig: %v", err)
		}
		if cfg.Runner == nil || cfg.Runner.Name != name || cfg.Runner.RunnerScaleSetID != set.ID {
			t.Fatalf("JIT runner = %+v", cfg.Runner)
		}
		r, ok := sim.RunnerByJITConfig(cfg.EncodedJITConfig)
		if !ok || !r.Ephemeral || r.GroupID != defaultGroupID || !cmp.Equal(r.Labels, []string{testScaleSet, "gpu"}) {
			t.Fatalf("runner of the JIT config = %+v, %v", r, ok)
		}
		runners = append(runners, int64(cfg.Runner.ID))
	}
	if _, err := c.GenerateJitRunnerConfig(ctx, &scaleset.RunnerScaleSetJitRunnerSetting{Name: testScaleSet + "-runner-a"}, set.ID); !errors.Is(err, scaleset.RunnerExistsError) {
		t.Errorf("JIT config for a taken name: err = %v, want RunnerExistsError", err)
	}
	if r, err := c.GetRunnerByName(ctx, testScaleSet+"-runner-b"); err != nil || r == nil || int64(r.ID) != runners[1] {
		t.Errorf("GetRunnerByName = %+v, %v", r, err)
	}
	if r, err := c.GetRunner(ctx, int(runners[2])); err != nil || r.RunnerScaleSetID != set.ID {
		t.Errorf("GetRunner = %+v, %v", r, err)
	}
	// A plain runner with the same labels does not take the set's jobs.
	plain := mustJITRunner(t, sim, testScaleSet, "gpu")
	if err := sim.SetRunnerOnline(plain, true); err != nil {
		t.Fatal(err)
	}

	// The runners connect and take the jobs: JobStarted.
	for _, id := range runners {
		if err := sim.SetRunnerOnline(id, true); err != nil {
			t.Fatal(err)
		}
	}
	last = readUntil(t, ctx, sc, last, &ev, func() bool { return len(ev.started) == 3 })
	if diff := cmp.Diff(jobs, sortedIDs(ev.started)); diff != "" {
		t.Errorf("JobStarted (-want +got):\n%s", diff)
	}
	if want := (scaleset.RunnerScaleSetStatistic{TotalAcquiredJobs: 3, TotalAssignedJobs: 3, TotalRunningJobs: 3, TotalRegisteredRunners: 3, TotalBusyRunners: 3}); *ev.last != want {
		t.Errorf("statistics with the jobs running = %+v, want %+v", *ev.last, want)
	}
	if r, _ := sim.Runner(plain); r.Busy {
		t.Error("a runner outside the scale set took one of its jobs")
	}
	if err := c.RemoveRunner(ctx, runners[0]); !errors.Is(err, scaleset.JobStillRunningError) {
		t.Errorf("RemoveRunner of a busy runner: err = %v, want JobStillRunningError", err)
	}

	// The jobs end: JobCompleted, the ephemeral runners are gone.
	for i, conclusion := range []string{ConclusionSuccess, ConclusionFailure, ConclusionCancelled} {
		if err := sim.FinishJob(jobs[i], conclusion); err != nil {
			t.Fatal(err)
		}
	}
	last = readUntil(t, ctx, sc, last, &ev, func() bool { return len(ev.completed) == 3 })
	if diff := cmp.Diff(map[int64]string{jobs[0]: "succeeded", jobs[1]: "failed", jobs[2]: "canceled"}, ev.results); diff != "" {
		t.Errorf("JobCompleted results (-want +got):\n%s", diff)
	}
	if *ev.last != (scaleset.RunnerScaleSetStatistic{}) {
		t.Errorf("statistics after the jobs = %+v, want zero", *ev.last)
	}
	if err := c.RemoveRunner(ctx, runners[0]); !errors.Is(err, scaleset.RunnerNotFoundError) {
		t.Errorf("RemoveRunner of a removed runner: err = %v, want RunnerNotFoundError", err)
	}

	// An unused runner is removed.
	spare, err := c.GenerateJitRunnerConfig(ctx, &scaleset.RunnerScaleSetJitRunnerSetting{Name: "spare"}, set.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveRunner(ctx, int64(spare.Runner.ID)); err != nil {
		t.Errorf("RemoveRunner: %v", err)
	}
	if _, ok := sim.Runner(int64(spare.Runner.ID)); ok {
		t.Error("removed runner still registered")
	}

	// Nothing new: no message (202).
	if msg, err := sc.GetMessage(ctx, last, 10); msg != nil || err != nil {
		t.Errorf("GetMessage with nothing new = %+v, %v; want nil, nil", msg, err)
	}

	// An expired queue token: the client refreshes the session and goes on.
	if err := sim.ExpireScaleSetSessionToken(int64(set.ID)); err != nil {
		t.Fatal(err)
	}
	j := sim.QueueScaleSetJob(testOrg, testRepo, "GPU", 0) // labels match without regard to case
	ev = jobEvents{}
	readUntil(t, ctx, sc, last, &ev, func() bool { return len(ev.assigned) == 1 })
	if ev.assigned[0] != j.ID {
		t.Errorf("JobAssigned %v, want %d", ev.assigned, j.ID)
	}
	refreshed := 0
	for k, n := range sim.Calls() {
		if strings.HasPrefix(k, "PATCH ") && strings.HasSuffix(k, "/sessions/{session}") {
			refreshed += n
		}
	}
	if refreshed != 1 {
		t.Errorf("session refreshed %d times, want 1", refreshed)
	}

	// Close the session, delete the scale set.
	if err := sc.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if ss := sim.Sessions(); len(ss) != 0 {
		t.Errorf("sessions after Close = %+v", ss)
	}
	// With the session gone, another listener may open one.
	sc2, err := c.MessageSessionClient(ctx, set.ID, "another")
	if err != nil {
		t.Fatalf("session after Close: %v", err)
	}
	if err := sc2.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.DeleteRunnerScaleSet(ctx, set.ID); err != nil {
		t.Fatalf("DeleteRunnerScaleSet: %v", err)
	}
	if sets := sim.ScaleSets(); len(sets) != 0 {
		t.Errorf("scale sets after delete = %+v", sets)
	}
	if _, err := c.GetRunnerScaleSetByID(ctx, set.ID); err == nil {
		t.Error("GetRunnerScaleSetByID found a deleted scale set")
	}
	// The deleted set's queued job is an ordinary queued job again, and
	// the plain runner with the labels takes it.
	eventually(t, "the plain runner to take the job", func() bool {
		got, _ := sim.Job(j.ID)
		return got.RunnerID == plain
	})
}

// mustJITRunner registers an organization JIT runner outside any scale set.
func mustJITRunner(t *testing.T, sim *Server, labels ...string) int64 {
	t.Helper()
	return sim.AddJITRunner(testOrg, "", "plain", labels...).ID
}

func TestScaleSetHandshakeWithGitHubApp(t *testing.T) {
	sim, ts := newSim(t, Options{})
	key, pemKey := appKey(t)
	sim.AddApp(1, &key.PublicKey)
	sim.AddInstallation(1, 7, testOrg)
	c, err := scaleset.NewClientWithGitHubApp(scaleset.ClientWithGitHubAppConfig{
		GitHubConfigURL: ts.URL + "/" + testOrg,
		GitHubAppAuth:   scaleset.GitHubAppAuth{ClientID: "1", InstallationID: 7, PrivateKey: string(pemKey)},
	}, scaleset.WithRetryMax(1), scaleset.WithRetryWaitMax(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	set := createTestScaleSet(t, context.Background(), c)
	if sets := sim.ScaleSets(); len(sets) != 1 || sets[0].ID != int64(set.ID) || sets[0].Org != testOrg {
		t.Errorf("scale sets = %+v", sets)
	}
	calls := sim.Calls()
	for _, k := range []string{
		"POST /app/installations/{id}/access_tokens",
		"POST /orgs/{org}/actions/runners/registration-token",
		"POST /actions/runner-registration",
	} {
		if calls[k] != 1 {
			t.Errorf("%s called %d times, want 1 (calls %v)", k, calls[k], calls)
		}
	}
}

func TestScaleSetRefusesOtherScopes(t *testing.T) {
	sim, ts := newSim(t, Options{})
	sim.AddOrganization("other")
	ctx := context.Background()
	set := createTestScaleSet(t, ctx, newScaleSetClient(t, ts.URL))
	other, err := scaleset.NewClientWithPersonalAccessToken(scaleset.NewClientWithPersonalAccessTokenConfig{
		GitHubConfigURL: ts.URL + "/other", PersonalAccessToken: testToken,
	}, scaleset.WithRetryMax(1), scaleset.WithRetryWaitMax(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := other.GetRunnerScaleSet(ctx, defaultGroupID, testScaleSet); got != nil || err != nil {
		t.Errorf("another organization's client sees %+v, %v", got, err)
	}
	if _, err := other.GetRunnerScaleSetByID(ctx, set.ID); err == nil {
		t.Error("another organization's client got the scale set by id")
	}
	// A job of another organization with the set's label is not the set's.
	j := sim.QueueJob(JobRequest{Owner: "other", Repo: "r", Labels: []string{testScaleSet}})
	if _, err := other.CreateRunnerScaleSet(ctx, &scaleset.RunnerScaleSet{Name: testScaleSet, Labels: []scaleset.Label{{Name: testScaleSet}}}); err != nil {
		t.Fatalf("same name in another organization: %v", err)
	}
	sets := sim.ScaleSets()
	if len(sets) != 2 || sets[1].Org != "other" {
		t.Fatalf("scale sets = %+v", sets)
	}
	sim.mu.Lock()
	a := sim.scaleSets.jobs[j.ID]
	sim.mu.Unlock()
	if a == nil || a.setID != sets[1].ID {
		t.Errorf("job of other assigned to %+v, want scale set %d", a, sets[1].ID)
	}
}

// recordingScaler is a listener.Scaler that records the desired counts and
// starts runners for them as a real scaler would: a JIT config from the
// scale set per missing runner, whose process connects (SetRunnerOnline).
type recordingScaler struct {
	sim    *Server
	client *scaleset.Client
	setID  int

	mu        sync.Mutex
	desired   []int
	started   int
	completed int
	runners   int
}

func (s *recordingScaler) HandleJobStarted(context.Context, *scaleset.JobStarted) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started++
	return nil
}

func (s *recordingScaler) HandleJobCompleted(context.Context, *scaleset.JobCompleted) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.completed++
	return nil
}

func (s *recordingScaler) HandleDesiredRunnerCount(ctx context.Context, count int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.desired = append(s.desired, count)
	for s.runners < count {
		s.runners++
		cfg, err := s.client.GenerateJitRunnerConfig(ctx, &scaleset.RunnerScaleSetJitRunnerSetting{Name: "listener-runner-" + string(rune('0'+s.runners))}, s.setID)
		if err != nil {
			return 0, err
		}
		if err := s.sim.SetRunnerOnline(int64(cfg.Runner.ID), true); err != nil {
			return 0, err
		}
	}
	return count, nil
}

func (s *recordingScaler) snapshot() (desired []int, started, completed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.desired...), s.started, s.completed
}

func TestScaleSetListener(t *testing.T) {
	sim, ts := newSim(t, Options{})
	sim.SetScaleSetPollTimeout(5 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newScaleSetClient(t, ts.URL)
	set := createTestScaleSet(t, ctx, c)
	sc, err := c.MessageSessionClient(ctx, set.ID, "octorun")
	if err != nil {
		t.Fatal(err)
	}
	l, err := listener.New(sc, listener.Config{ScaleSetID: set.ID, MaxRunners: 5})
	if err != nil {
		t.Fatal(err)
	}
	scaler := &recordingScaler{sim: sim, client: c, setID: set.ID}
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, scaler) }()
	eventually(t, "the listener to handle the session's statistics", func() bool {
		d, _, _ := scaler.snapshot()
		return len(d) > 0
	})

	for range 3 {
		sim.QueueScaleSetJob(testOrg, testRepo, testScaleSet, 20*time.Millisecond)
	}
	eventually(t, "three jobs to start and complete", func() bool {
		_, started, completed := scaler.snapshot()
		return started == 3 && completed == 3
	})
	desired, _, _ := scaler.snapshot()
	maxDesired := 0
	for _, n := range desired {
		maxDesired = max(maxDesired, n)
	}
	if maxDesired != 3 {
		t.Errorf("desired counts %v: most %d, want 3", desired, maxDesired)
	}
	eventually(t, "the desired count back to 0", func() bool {
		d, _, _ := scaler.snapshot()
		return d[len(d)-1] == 0
	})
	if ss := sim.Sessions(); len(ss) != 1 || ss[0].MaxCapacity != 5 {
		t.Errorf("sessions = %+v, want capacity 5", ss)
	}
	for _, j := range sim.Jobs() {
		if j.Status != JobCompleted || j.Conclusion != ConclusionSuccess {
			t.Errorf("job %d: %s %s", j.ID, j.Status, j.Conclusion)
		}
	}

	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run: %v, want context canceled", err)
	}
	if err := sc.Close(context.Background()); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestScaleSetSessionIdleTTL: a listener that dies without deleting its
// session holds the scale set only until the session has been idle for the
// TTL; a listener that polls holds it for good.
func TestScaleSetSessionIdleTTL(t *testing.T) {
	clock := newFakeClock()
	sim, ts := newSim(t, Options{Now: clock.Now})
	sim.SetScaleSetPollTimeout(100 * time.Millisecond)
	const ttl = time.Minute
	sim.SetScaleSetSessionIdleTTL(ttl)
	ctx := context.Background()
	c := newScaleSetClient(t, ts.URL)
	set := createTestScaleSet(t, ctx, c)
	conflicts := func(what string) {
		t.Helper()
		if _, err := c.MessageSessionClient(ctx, set.ID, "third"); err == nil || !strings.Contains(err.Error(), excSessionConflict) {
			t.Fatalf("%s: new session err = %v, want %s", what, err, excSessionConflict)
		}
	}

	// A listener hears of a job, then is killed: it neither deletes the
	// message nor closes the session. A second job's event waits unread.
	killed, err := c.MessageSessionClient(ctx, set.ID, "killed")
	if err != nil {
		t.Fatal(err)
	}
	j1 := sim.QueueScaleSetJob(testOrg, testRepo, testScaleSet, 0)
	msg, err := killed.GetMessage(ctx, 0, 10)
	if err != nil || msg == nil || len(msg.JobAssignedMessages) != 1 || msg.JobAssignedMessages[0].RunnerRequestID != j1.ID {
		t.Fatalf("GetMessage = %+v, %v; want JobAssigned %d", msg, err, j1.ID)
	}
	sim.QueueScaleSetJob(testOrg, testRepo, testScaleSet, 0)
	if ss := sim.Sessions(); len(ss) != 1 || ss[0].Owner != "killed" || len(ss[0].Pending) != 2 || ss[0].Polling {
		t.Fatalf("sessions = %+v, want killed's with two messages, no poll", ss)
	}

	conflicts("right after the kill")
	clock.Step(ttl - time.Second)
	conflicts("within the TTL")
	clock.Step(time.Second)
	next, err := c.MessageSessionClient(ctx, set.ID, "next")
	if err != nil {
		t.Fatalf("session after the TTL: %v", err)
	}
	defer next.Close(ctx)
	// The old session's messages went with it; the new session's
	// statistics count both jobs.
	if s := next.Session(); s.Statistics == nil || s.Statistics.TotalAssignedJobs != 2 {
		t.Errorf("new session statistics = %+v, want 2 assigned", s.Statistics)
	}
	if ss := sim.Sessions(); len(ss) != 1 || ss[0].Owner != "next" || len(ss[0].Pending) != 0 {
		t.Errorf("sessions = %+v, want next's with nothing pending", ss)
	}
	if msg, err := killed.GetMessage(ctx, msg.MessageID, 10); err == nil {
		t.Errorf("the dropped session's poll = %+v, want an error", msg)
	}
	j3 := sim.QueueScaleSetJob(testOrg, testRepo, testScaleSet, 0)
	var ev jobEvents
	last := readUntil(t, ctx, next, 0, &ev, func() bool { return len(ev.assigned) > 0 })
	if diff := cmp.Diff([]int64{j3.ID}, ev.assigned); diff != "" {
		t.Errorf("JobAssigned on the new session (-want +got):\n%s", diff)
	}
	if ev.last.TotalAssignedJobs != 3 {
		t.Errorf("statistics = %+v, want 3 assigned", ev.last)
	}

	// A listener that polls within the TTL keeps its session.
	for range 3 {
		if msg, err := next.GetMessage(ctx, last, 10); msg != nil || err != nil {
			t.Fatalf("GetMessage = %+v, %v; want nil, nil", msg, err)
		}
		clock.Step(ttl - time.Second)
		conflicts("polled within the TTL")
	}

	// A waiting poll keeps the session however long it waits.
	sim.SetScaleSetPollTimeout(10 * time.Second)
	type result struct {
		msg *scaleset.RunnerScaleSetMessage
		err error
	}
	polled := make(chan result, 1)
	go func() {
		msg, err := next.GetMessage(ctx, last, 10)
		polled <- result{msg, err}
	}()
	eventually(t, "the poll to wait", func() bool {
		ss := sim.Sessions()
		return len(ss) == 1 && ss[0].Polling
	})
	clock.Step(2 * ttl)
	conflicts("with a poll waiting")
	j4 := sim.QueueScaleSetJob(testOrg, testRepo, testScaleSet, 0)
	r := <-polled
	if r.err != nil || r.msg == nil || len(r.msg.JobAssignedMessages) != 1 || r.msg.JobAssignedMessages[0].RunnerRequestID != j4.ID {
		t.Fatalf("waiting poll = %+v, %v; want JobAssigned %d", r.msg, r.err, j4.ID)
	}
	if ss := sim.Sessions(); len(ss) != 1 || ss[0].Owner != "next" {
		t.Errorf("sessions = %+v, want next's", ss)
	}
}
