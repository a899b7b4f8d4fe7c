package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"time"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/framework/world"
	"github.com/octorun/octorun/test/githubsim"
)

// githubWebhookWorkers is how many deliveries the simulated GitHub sends at
// once: GitHub sends several in parallel.
const githubWebhookWorkers = 4

const jitCall = "POST /orgs/{org}/actions/runners/generate-jitconfig"

// setName is the bench's RunnerSet, in namespace "bench".
const setName = "bench"

// startWorld starts a scenario's world in its own dir, with the bench's
// Octorun.
func startWorld(ctx context.Context, cfg config, name string, o world.Options) (*world.World, error) {
	o.Dir = filepath.Join(cfg.workDir, name)
	o.Namespace = "bench"
	o.OctorunBin = cfg.octorunBin
	o.OctorunV = cfg.octorunV
	o.Logf = logf
	return world.Start(ctx, o)
}

// octorunArgs are the flags Octorun runs with: its Kubernetes client's QPS
// (and twice as much burst) and the extra ones given to the bench.
func (c config) octorunClientArgs(qps float64) []string {
	args := []string{fmt.Sprintf("--kube-api-qps=%g", qps), fmt.Sprintf("--kube-api-burst=%g", 2*qps),
		// The scale runs' sets reach 5,000 runners, over the default cap.
		"--max-runners-per-runnerset=0"}
	return append(args, c.octorunArgs...)
}

// noGitHubLimit is a GitHub that does not limit Octorun, e.g. a GitHub
// Enterprise Server with rate limiting off (its default): scenarios that
// measure Octorun and Kubernetes, not GitHub's limits, run against it.
var noGitHubLimit = []string{"--github-secondary-limit=0"}

// unlimitedPrimary is the simulator's side of noGitHubLimit: no primary
// rate limit either. github.com's 5,000 requests an hour for a token would
// stop a scale-up at 5,000 registrations (the 10,000-runner one).
const unlimitedPrimary = 1 << 30

// scaleUp: a RunnerSet scaled 0 → n Idle runners.
func scaleUp(ctx context.Context, cfg config, sr scaleRun, id string) (*section, error) {
	n := sr.runners
	name := fmt.Sprintf("Scale 0 → %d Idle runners at %g QPS", n, sr.qps)
	e, err := startWorld(ctx, cfg, id, world.Options{
		Nodes: nodesFor(n), Profiling: true, AgentEvery: 100 * time.Millisecond,
		Sim:         githubsim.Options{PrimaryLimit: unlimitedPrimary},
		OctorunArgs: append(cfg.octorunClientArgs(sr.qps), noGitHubLimit...),
	})
	if err != nil {
		return nil, err
	}
	defer e.Stop()
	if err := e.CreateRunnerSet(ctx, setName, 0); err != nil {
		return nil, err
	}
	before, err := e.Count(ctx)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	// A CPU profile of the scale-up, short enough to end before it.
	keepProfiles := profileOctorun(ctx, cfg, e, id, min(20, max(2, n/80)))
	timeline := sampleRunners(e.Tracker, sampleEvery)
	defer timeline()
	if err := e.Scale(ctx, setName, n); err != nil {
		return nil, err
	}
	var firstIdle time.Duration
	err = e.WaitFor(ctx, fmt.Sprintf("%d Idle runners", n), time.Duration(n)*200*time.Millisecond+2*time.Minute, func() (bool, error) {
		idle := e.Tracker.CountPhase(octorunv1alpha1.RunnerPhaseIdle)
		if idle > 0 && firstIdle == 0 {
			firstIdle = time.Since(start)
		}
		return idle >= n, nil
	})
	wall := time.Since(start)
	tl := timeline()
	if err != nil {
		return nil, err
	}
	after, err := e.Count(ctx)
	if err != nil {
		return nil, err
	}
	profiles := keepProfiles()
	// Goals held at one size only (see goal.go).
	var wallGoal, rateGoal, cpuGoal, rssGoal *goal
	switch {
	case n == 100 && sr.qps == 20:
		wallGoal = atMost(9.5).headline(rankScale100At20)
	case n == 1000 && sr.qps == 500:
		rateGoal = atLeast(70).headline(rankScale1000At500)
		cpuGoal = atMost(3).headline(rankCPUPerRunner)
	case n == 5000:
		rssGoal = atMost(100).headline(rankPeakRSS5000)
	}
	cpu := (after.Usage.CPU - before.Usage.CPU).Seconds()
	s := &section{Name: name, Bound: "kube-apiserver and etcd (writes per runner), kwok and the scheduler (pod start), all on 2 cores; Octorun's client QPS"}
	s.add("wall time", wall.Seconds(), "s", wallGoal)
	s.add("first runner Idle after", firstIdle.Seconds(), "s", nil)
	s.add("runners per second", float64(n)/wall.Seconds(), "runners/s", rateGoal)
	s.add("Octorun's API requests per runner", (after.OctorunKube-before.OctorunKube)/float64(n), "requests", atMost(5).headline(rankRequestsPerRunner))
	s.add("API server requests per runner (all clients)", (after.APIServer-before.APIServer)/float64(n), "requests", nil)
	s.add("GitHub calls per runner", float64(after.GitHubCalls-before.GitHubCalls)/float64(n), "calls", nil)
	s.add("Octorun peak RSS", mib(after.Usage.PeakRSS), "MiB", rssGoal)
	s.add("Octorun CPU time", cpu, "s", nil)
	s.add("Octorun CPU per runner", 1000*cpu/float64(n), "ms", cpuGoal)
	s.Timeline, s.Profiles = tl, profiles
	s.Details = map[string]any{"kubeQPS": sr.qps, "kubeBurst": 2 * sr.qps, "githubCalls": diffCalls(before, after), "cpuSeconds": world.CPUShares(before, after),
		"octorunThrottledSecondsPerRequest": world.ThrottledPerRequest(before, after)}
	return s, nil
}

// churn: jobs of random short duration against a RunnerSet; every job
// takes a runner, which leaves after it, and the set replaces it.
//
// With rate 0 every job is queued at once: the backlog shows the most jobs
// a second the system completes, while latencies then measure the queue.
// With a rate, jobs arrive evenly spaced, as from busy CI, and the
// latencies are those of a system keeping up.
func churn(ctx context.Context, cfg config, rate float64, id string) (*section, error) {
	runners, jobs := cfg.churnRunners, cfg.churnJobs
	name := fmt.Sprintf("Job churn: %d jobs queued at once, RunnerSet of %d", jobs, runners)
	if rate > 0 {
		name = fmt.Sprintf("Job churn: %d jobs arriving at %g a second, RunnerSet of %d", jobs, rate, runners)
	}
	e, err := startWorld(ctx, cfg, id, world.Options{
		Nodes: nodesFor(runners), AgentEvery: 50 * time.Millisecond, WithWebhooks: true, Profiling: true,
		Sim:         githubsim.Options{WebhookWorkers: githubWebhookWorkers},
		OctorunArgs: append(cfg.octorunClientArgs(cfg.kubeQPS), noGitHubLimit...),
	})
	if err != nil {
		return nil, err
	}
	defer e.Stop()
	if err := e.CreateRunnerSet(ctx, setName, runners); err != nil {
		return nil, err
	}
	if err := e.WaitIdle(ctx, runners); err != nil {
		return nil, err
	}
	before, err := e.Count(ctx)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	timeline := sampleRunners(e.Tracker, sampleEvery)
	defer timeline()
	keepProfiles := func() []string { return nil }
	if rate <= 0 {
		// A CPU profile of the burst's first jobs.
		keepProfiles = profileOctorun(ctx, cfg, e, id, min(20, max(2, jobs/100)))
	}
	rng := rand.New(rand.NewPCG(11, 27))
	durations := make([]time.Duration, jobs)
	for i := range durations {
		durations[i] = cfg.jobMin + time.Duration(rng.Int64N(int64(cfg.jobMax-cfg.jobMin)+1))
	}
	go func() {
		for i, d := range durations {
			if rate > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second))))):
				}
			}
			e.Sim.QueueJob(githubsim.JobRequest{Owner: world.Org, Repo: world.Repo, Duration: d})
		}
	}()
	var done []githubsim.Job
	err = e.WaitFor(ctx, fmt.Sprintf("%d jobs completed", jobs), time.Duration(jobs)*time.Second+5*time.Minute, func() (bool, error) {
		all := e.Sim.Jobs()
		if len(all) < jobs {
			return false, nil // paced jobs are still arriving
		}
		done = done[:0]
		for _, j := range all {
			if j.Status == githubsim.JobCompleted {
				done = append(done, j)
			}
		}
		return len(done) >= jobs, nil
	})
	if err != nil {
		return nil, err
	}
	var last time.Time
	for _, j := range done {
		if j.CompletedAt.After(last) {
			last = j.CompletedAt
		}
	}
	// The last jobs' replacements.
	if err := e.WaitIdle(ctx, runners); err != nil {
		return nil, err
	}
	tl := timeline()
	after, err := e.Count(ctx)
	if err != nil {
		return nil, err
	}
	profiles := keepProfiles()

	// When Octorun's receiver took each job's in_progress delivery.
	delivered := map[int64]time.Time{}
	for _, d := range e.Sim.Deliveries() {
		if d.Action == githubsim.JobInProgress && d.StatusCode/100 == 2 {
			if t, seen := delivered[d.JobID]; !seen || d.AnsweredAt.Before(t) {
				delivered[d.JobID] = d.AnsweredAt
			}
		}
	}
	t := tallyJobs(e.Tracker, done)
	killed, unseen, unrecorded, queueToStart, startToActive := t.killed, t.unseen, t.unrecorded, t.queueToStart, t.startToActive
	var deliveryToActive, completions []float64
	var completedAt []time.Time
	jobStarts := map[int64]time.Time{}
	for _, j := range done {
		completedAt = append(completedAt, j.CompletedAt)
		jobStarts[j.RunnerID] = j.StartedAt
		if at, ok := t.activeAt[j.ID]; ok {
			if d, ok := delivered[j.ID]; ok {
				deliveryToActive = append(deliveryToActive, math.Max(0, at.Sub(d).Seconds()))
			}
		}
	}
	// Each completed job's runner is replaced by one new Runner: the n-th
	// job to complete is paired with the n-th replacement to be ready.
	sort.Slice(completedAt, func(i, j int) bool { return completedAt[i].Before(completedAt[j]) })
	ready := e.Tracker.ReadySince(start, jobStarts)
	for i := 0; i < len(completedAt) && i < len(ready); i++ {
		completions = append(completions, math.Max(0, ready[i].Sub(completedAt[i]).Seconds()))
	}
	calls := float64(after.GitHubCalls - before.GitHubCalls)
	wall := last.Sub(start)
	bound := "the API server's CPU: every job costs a Runner's whole life (the API server's requests per job, of all clients, are among the figures)"
	if rate > 0 {
		bound = "the arrival rate; latencies are those of the webhook, the work queues and pod start by the scheduler and kwok"
	}
	// The paced arrivals hold the latencies of a system keeping up, and
	// the requests of a Runner's whole life; the burst holds the
	// throughput and how fast a backlog is worked off, its size's goals
	// at the published size only (see goal.go).
	var deliveryGoal, replacementGoal, replacementP99Goal, perJobGoal, jobsGoal, unrecordedGoal *goal
	if rate > 0 {
		deliveryGoal, replacementGoal = below(1), below(2)
		perJobGoal = atMost(12).headline(rankRequestsPerJob)
	} else {
		unrecordedGoal = exactly(0, "0").headline(rankBurstNeverActive)
		if runners == 200 {
			jobsGoal = atLeast(30).headline(rankBurstJobsPerSecond)
		}
		if runners == 200 && jobs == 2000 {
			replacementGoal = atMost(5).headline(rankBurstReplacementP50)
			replacementP99Goal = atMost(15).headline(rankBurstReplacementP99)
		}
	}
	s := &section{Name: name, Bound: bound + fmt.Sprintf("; jobs last %s–%s", cfg.jobMin, cfg.jobMax)}
	s.add("time to complete every job", wall.Seconds(), "s", nil)
	s.add("jobs per second", float64(jobs)/wall.Seconds(), "jobs/s", jobsGoal)
	s.add("GitHub calls per job", calls/float64(jobs), "calls", exactly(1, "1.000").headline(rankGitHubCallsPerJob))
	s.add("Octorun's API requests per job", (after.OctorunKube-before.OctorunKube)/float64(jobs), "requests", perJobGoal)
	s.add("API server requests per job (all clients)", (after.APIServer-before.APIServer)/float64(jobs), "requests", nil)
	s.add("job queued → started, p50", percentile(queueToStart, 50), "s", nil)
	s.add("job queued → started, p99", percentile(queueToStart, 99), "s", nil)
	s.add("delivery → Runner Active, p50", percentile(deliveryToActive, 50), "s", nil)
	s.add("delivery → Runner Active, p99", percentile(deliveryToActive, 99), "s", deliveryGoal)
	s.add("job start on GitHub → Runner Active, p50", percentile(startToActive, 50), "s", nil)
	s.add("job start on GitHub → Runner Active, p99", percentile(startToActive, 99), "s", nil)
	s.add("jobs their Runner did not record (neither Active nor JobAssigned)", float64(unrecorded), "jobs", unrecordedGoal)
	s.add("jobs whose Runner was never seen Active (ran between two of its syncs)", float64(unseen), "jobs", nil)
	s.add("job completed → replacement Idle, p50", percentile(completions, 50), "s", replacementGoal)
	s.add("job completed → replacement Idle, p99", percentile(completions, 99), "s", replacementP99Goal)
	s.add("jobs killed", float64(killed), "jobs", exactly(0, "0"))
	s.add("Octorun peak RSS", mib(after.Usage.PeakRSS), "MiB", nil)
	s.add("Octorun CPU time", (after.Usage.CPU - before.Usage.CPU).Seconds(), "s", nil)
	s.Timeline, s.Profiles = tl, profiles
	s.Latencies = []latency{
		latencySamples("job completed → replacement Idle", completions),
		latencySamples("delivery → Runner Active", deliveryToActive),
		latencySamples("job start on GitHub → Runner Active", startToActive),
		latencySamples("job queued → started", queueToStart),
	}
	s.Details = map[string]any{"failedRunners": e.Tracker.Failed(), "githubCalls": diffCalls(before, after), "kubeQPS": cfg.kubeQPS, "kubeBurst": 2 * cfg.kubeQPS,
		"octorunAPIRequestsPerJob": (after.OctorunKube - before.OctorunKube) / float64(jobs), "cpuSeconds": world.CPUShares(before, after),
		"octorunThrottledSecondsPerRequest": world.ThrottledPerRequest(before, after)}
	return s, nil
}

// steady: Idle runners left alone; only the periodic sync should reach
// GitHub.
func steady(ctx context.Context, cfg config, id string) (*section, error) {
	n, window, period := cfg.steadyRunners, cfg.steadyDuration, cfg.syncPeriod
	name := fmt.Sprintf("Steady state: %d Idle runners for %s", n, window)
	e, err := startWorld(ctx, cfg, id, world.Options{
		Nodes: nodesFor(n), AgentEvery: 200 * time.Millisecond, WithWebhooks: true,
		Sim:         githubsim.Options{WebhookWorkers: githubWebhookWorkers},
		OctorunArgs: append(cfg.octorunClientArgs(cfg.kubeQPS), append(noGitHubLimit, "--sync-period="+period.String())...),
	})
	if err != nil {
		return nil, err
	}
	defer e.Stop()
	if err := e.CreateRunnerSet(ctx, setName, n); err != nil {
		return nil, err
	}
	if err := e.WaitIdle(ctx, n); err != nil {
		return nil, err
	}
	before, err := quiet(ctx, e)
	if err != nil {
		return nil, err
	}
	if err := e.WaitFor(ctx, "the steady-state window", window+time.Minute, func() (bool, error) {
		return time.Since(before.At) >= window, nil
	}); err != nil {
		return nil, err
	}
	after, err := e.Count(ctx)
	if err != nil {
		return nil, err
	}
	elapsed := after.At.Sub(before.At)
	calls := float64(after.GitHubCalls - before.GitHubCalls)
	pages := math.Ceil(float64(n) / 100)
	syncs := after.ScopeSyncs - before.ScopeSyncs // of the one organization
	perSync := calls / math.Max(syncs, 1)
	cpu := (after.Usage.CPU - before.Usage.CPU).Seconds()
	s := &section{Name: name, Bound: fmt.Sprintf("the sync period (%s): one paginated list of the organization's runners per period", period)}
	s.add("GitHub calls", calls, "calls", nil)
	s.add("syncs of the organization", syncs, "syncs", nil)
	s.check("GitHub calls per sync", perSync, "calls", fmt.Sprintf("≤ ⌈%d/100⌉ = %g", n, pages), syncs >= 1 && perSync <= pages)
	s.add("Octorun CPU time", cpu, "s", nil)
	s.add("Octorun CPU use", 100*cpu/elapsed.Seconds(), "% of a core", nil)
	s.add("Octorun API requests per minute", (after.OctorunKube-before.OctorunKube)/elapsed.Minutes(), "requests/min", nil)
	s.add("Octorun RSS", mib(after.Usage.RSS), "MiB", nil)
	s.Details = map[string]any{"syncPeriod": period.String(), "githubCalls": diffCalls(before, after), "cpuSeconds": world.CPUShares(before, after)}
	return s, nil
}

// quiet waits until Octorun's Kubernetes requests have settled after the
// runners turned Idle (their last Events are sent after their statuses), and
// returns the counters then: the steady-state window starts there. Settled
// is at most the Lease renewals, one a second, over 3 s.
func quiet(ctx context.Context, e *world.World) (world.Counters, error) {
	prev, err := e.Count(ctx)
	if err != nil {
		return prev, err
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return prev, ctx.Err()
		case <-time.After(3 * time.Second):
		}
		cur, err := e.Count(ctx)
		if err != nil {
			return cur, err
		}
		if cur.OctorunKube-prev.OctorunKube <= 4 {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}

// jitRate: registration against GitHub's secondary limit of 900 points a
// minute, where a JIT config costs 5: at most 180 a minute.
func jitRate(ctx context.Context, cfg config, id string) (*section, error) {
	window := cfg.jitDuration
	e, err := startWorld(ctx, cfg, id, world.Options{
		Nodes: 2, AgentEvery: 200 * time.Millisecond,
		Sim:         githubsim.Options{SecondaryPointsPerMinute: 900},
		OctorunArgs: cfg.octorunClientArgs(cfg.kubeQPS), // GitHub's limit, the default
	})
	if err != nil {
		return nil, err
	}
	defer e.Stop()
	// More runners than the window can register, so the limit binds.
	want := int(math.Ceil(180*window.Minutes())) + 50
	if err := e.CreateRunnerSet(ctx, setName, want); err != nil {
		return nil, err
	}
	start := time.Now()
	var first time.Time
	if err := e.WaitFor(ctx, "the first JIT config", time.Minute, func() (bool, error) {
		if e.Sim.Calls()[jitCall] > 0 {
			first = time.Now()
			return true, nil
		}
		return false, nil
	}); err != nil {
		return nil, err
	}
	// The budget may spend a small burst at first; the rate it keeps is
	// measured after a warm-up of a third of the window (at most a minute).
	warmUp := min(window/3, time.Minute)
	var warm int
	var warmAt time.Time
	if err := e.WaitFor(ctx, "the registration window", window+time.Minute, func() (bool, error) {
		if warmAt.IsZero() && time.Since(first) >= warmUp {
			warm, warmAt = e.Sim.CallsByStatus()[201], time.Now()
		}
		return time.Since(first) >= window, nil
	}); err != nil {
		return nil, err
	}
	elapsed := time.Since(first)
	byStatus := e.Sim.CallsByStatus()
	calls := e.Sim.Calls()
	created := byStatus[201]
	limited := byStatus[403] + byStatus[429]
	perMinute := float64(created) / elapsed.Minutes()
	steadyPerMinute := float64(created-warm) / time.Since(warmAt).Minutes()
	share := 100 * steadyPerMinute / 180
	s := &section{Name: fmt.Sprintf("Registration against the secondary limit (900 points/min), %s", window.Round(time.Second)), Bound: "GitHub's secondary limit: 900 points a minute, 5 per JIT config, so 180 a minute; Octorun paces to 97 % of it"}
	s.add("JIT configs per minute, whole window", perMinute, "/min", nil)
	s.add(fmt.Sprintf("JIT configs per minute, after %s", warmUp.Round(time.Second)), steadyPerMinute, "/min", nil)
	s.add("share of GitHub's allowed 180/min", share, "%", &goal{op: "≥", target: 95, text: "≥ 95"})
	s.add("403/429 answers", float64(limited), "answers", exactly(0, "0"))
	s.Details = map[string]any{"jitConfigs": created, "elapsedSeconds": elapsed.Seconds(), "sinceScaleSeconds": time.Since(start).Seconds(), "githubCalls": calls, "byStatus": byStatus}
	return s, nil
}

// nodesFor spreads the pods over kwok nodes, 250 a node.
func nodesFor(pods int) int { return max(1, (pods+249)/250) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func ptrBool(b bool) *bool { return &b }

// percentile of values (nearest rank); 0 for none.
func percentile(values []float64, p float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	v := append([]float64(nil), values...)
	sort.Float64s(v)
	rank := int(math.Ceil(p/100*float64(len(v)))) - 1
	return v[min(max(rank, 0), len(v)-1)]
}

func diffCalls(before, after world.Counters) map[string]int {
	out := map[string]int{}
	for k, v := range after.GitHubByCall {
		if d := v - before.GitHubByCall[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// jobTally is what the jobs of a burst or churn came to, as the tracker saw
// their Runners.
type jobTally struct {
	// killed counts the jobs that did not succeed; unrecorded those whose
	// Runner recorded no job (RecordedJob); unseen those whose Runner was
	// never seen Active.
	killed, unrecorded, unseen int
	// queueToStart and startToActive are latencies in seconds, the second
	// of the jobs whose Runner was seen Active.
	queueToStart, startToActive []float64
	// activeAt is when each job's Runner was first seen Active, by job id.
	activeAt map[int64]time.Time
}

func tallyJobs(tracker *world.Tracker, done []githubsim.Job) jobTally {
	t := jobTally{activeAt: map[int64]time.Time{}}
	for _, j := range done {
		if j.Conclusion != githubsim.ConclusionSuccess {
			t.killed++
		}
		if !tracker.RecordedJob(j.RunnerID) {
			t.unrecorded++
		}
		t.queueToStart = append(t.queueToStart, math.Max(0, j.StartedAt.Sub(j.CreatedAt).Seconds()))
		at, ok := tracker.ActiveAt(j.RunnerID)
		if !ok {
			t.unseen++
			continue
		}
		t.activeAt[j.ID] = at
		t.startToActive = append(t.startToActive, math.Max(0, at.Sub(j.StartedAt).Seconds()))
	}
	return t
}
