package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/octorun/octorun/test/framework/world"
	"github.com/octorun/octorun/test/githubsim"
)

// scaleSetBurst: a scale-set RunnerSet of minRunners 0, and jobs queued at
// once for its scale set. Octorun runs without the webhook receiver: the
// scale set's message session alone tells it how many runners the jobs
// need and when each starts and ends, and the set scales from 0 to
// maxRunners and back to 0.
//
// Its jobs last as long as the burst's of the job churn, drawn from the
// same seed, so the two rows compare figure by figure (see comparisons).
func scaleSetBurst(ctx context.Context, cfg config, id string) (*section, error) {
	jobs, maxRunners := cfg.scaleSetJobs, cfg.scaleSetRunners
	name := fmt.Sprintf("Scale set: %d jobs queued at once, minRunners 0, maxRunners %d, no webhooks", jobs, maxRunners)
	e, err := startWorld(ctx, cfg, id, world.Options{
		Nodes: nodesFor(maxRunners), AgentEvery: 50 * time.Millisecond, Profiling: true,
		OctorunArgs: append(cfg.octorunClientArgs(cfg.kubeQPS), noGitHubLimit...),
	})
	if err != nil {
		return nil, err
	}
	defer e.Stop()
	created := time.Now()
	if err := e.CreateRunnerSet(ctx, setName, 0, world.ScaleSet(0, maxRunners)); err != nil {
		return nil, err
	}
	if _, err := e.WaitScaleSetListening(ctx, setName, 2*time.Minute); err != nil {
		return nil, err
	}
	listening := time.Since(created)
	before, err := e.Count(ctx)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	timeline := sampleRunners(e.Tracker, sampleEvery)
	defer timeline()
	// A CPU profile of the burst's first jobs.
	keepProfiles := profileOctorun(ctx, cfg, e, id, min(20, max(2, jobs/100)))
	rng := rand.New(rand.NewPCG(11, 27))
	for range jobs {
		d := cfg.jobMin + time.Duration(rng.Int64N(int64(cfg.jobMax-cfg.jobMin)+1))
		e.Sim.QueueScaleSetJob(world.Org, world.Repo, setName, d)
	}
	var done []githubsim.Job
	err = e.WaitFor(ctx, fmt.Sprintf("%d jobs completed", jobs), time.Duration(jobs)*time.Second+5*time.Minute, func() (bool, error) {
		done = done[:0]
		for _, j := range e.Sim.Jobs() {
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
	// With no job left the set goes back to minRunners: no Runner, and no
	// runner registered on GitHub.
	if err := e.WaitFor(ctx, "the set back to 0 runners", 2*time.Minute+time.Duration(maxRunners)*100*time.Millisecond, func() (bool, error) {
		return e.Tracker.Live() == 0 && len(e.Sim.Runners()) == 0, nil
	}); err != nil {
		return nil, fmt.Errorf("%w: %d Runners, %d GitHub runners left", err, e.Tracker.Live(), len(e.Sim.Runners()))
	}
	emptied := time.Now()
	tl := timeline()
	after, err := e.Count(ctx)
	if err != nil {
		return nil, err
	}
	profiles := keepProfiles()

	t := tallyJobs(e.Tracker, done)
	killed, unseen, unrecorded, queueToStart, startToActive := t.killed, t.unseen, t.unrecorded, t.queueToStart, t.startToActive
	calls := diffCalls(before, after)
	var rest, service, polls int
	for call, n := range calls {
		switch {
		case actionsServiceCall(call):
			service += n
			if strings.HasPrefix(call, "GET ") && strings.HasSuffix(call, "/messages") {
				polls += n
			}
		default:
			rest += n
		}
	}
	n := float64(jobs)
	wall := last.Sub(start)
	s := &section{Name: name, Bound: fmt.Sprintf("the API server's CPU, as in the webhook mode's burst: every job costs a Runner's whole life, and the set also scales from 0 and back; jobs last %s–%s. "+
		"GitHub calls count the REST API's (registration token, runner lookups and deletes, the sync) and the Actions service's (runner-registration, the scale set, its session, message polls and acknowledgements, JIT configs)", cfg.jobMin, cfg.jobMax)}
	s.add("time to complete every job", wall.Seconds(), "s", nil)
	s.add("jobs per second", n/wall.Seconds(), "jobs/s", nil)
	s.add("GitHub calls per job", float64(rest+service)/n, "calls", nil)
	s.add("GitHub calls per job: REST API", float64(rest)/n, "calls", nil)
	s.add("GitHub calls per job: Actions service", float64(service)/n, "calls", nil)
	s.add("Octorun's API requests per job", (after.OctorunKube-before.OctorunKube)/n, "requests", nil)
	s.add("job queued → started, p50", percentile(queueToStart, 50), "s", nil)
	s.add("job queued → started, p99", percentile(queueToStart, 99), "s", nil)
	s.add("job start on GitHub → Runner Active, p50", percentile(startToActive, 50), "s", nil)
	s.add("job start on GitHub → Runner Active, p99", percentile(startToActive, 99), "s", nil)
	s.add("jobs their Runner did not record (neither Active nor JobAssigned)", float64(unrecorded), "jobs", nil)
	s.add("jobs whose Runner was never seen Active (ran between two of its syncs)", float64(unseen), "jobs", nil)
	s.add("Runners created per job", float64(e.Tracker.Created())/n, "Runners", nil)
	s.add("scale set listening after the RunnerSet's creation", listening.Seconds(), "s", nil)
	s.add("last job completed → set back to 0 runners", emptied.Sub(last).Seconds(), "s", nil)
	s.add("jobs killed", float64(killed), "jobs", exactly(0, "0"))
	s.add("Octorun peak RSS", mib(after.Usage.PeakRSS), "MiB", nil)
	s.add("Octorun CPU time", (after.Usage.CPU - before.Usage.CPU).Seconds(), "s", nil)
	s.Timeline, s.Profiles = tl, profiles
	s.Latencies = []latency{
		latencySamples("job start on GitHub → Runner Active", startToActive),
		latencySamples("job queued → started", queueToStart),
	}
	s.Details = map[string]any{"failedRunners": e.Tracker.Failed(), "githubCalls": calls, "kubeQPS": cfg.kubeQPS, "kubeBurst": 2 * cfg.kubeQPS,
		"messagePolls": polls, "runnersCreated": e.Tracker.Created(), "cpuSeconds": world.CPUShares(before, after),
		"octorunThrottledSecondsPerRequest": world.ThrottledPerRequest(before, after)}
	return s, nil
}

// actionsServiceCall says whether a call the simulator counted (METHOD
// pattern) went to the Actions service, which a scale set's client talks
// to, rather than to the REST API: the service's endpoints, and the
// exchange of a registration token for the service's URL and token.
func actionsServiceCall(call string) bool {
	_, path, _ := strings.Cut(call, " ")
	return strings.HasPrefix(path, "/_actions/") || path == "/actions/runner-registration"
}
