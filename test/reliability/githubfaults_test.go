package reliability

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/framework/world"
	"github.com/octorun/octorun/test/githubsim"
)

// Octorun's pacing of the secondary limit: 97% of GitHub's 900 points a
// minute, with a burst of 25 points.
const (
	pacedPointsPerSecond = 0.97 * 900 / 60
	pacedBurst           = 25
	// inFlight bounds the requests that can be under way at once: the
	// Runner workers, the sync and the finalizers.
	inFlight = 16
	jitCall  = "POST /orgs/{org}/actions/runners/generate-jitconfig"
)

// githubFault is one window of trouble on GitHub.
type githubFault struct {
	name string
	// on starts the fault, off ends it.
	on, off func(*githubsim.Server)
	// refusals are the answers of the fault, counted against waitAfter.
	refusals []int
	// waitAfter is how long GitHub tells Octorun to wait after a refusal;
	// 0 when it says nothing (server errors, timeouts).
	waitAfter time.Duration
	// reasons are the Registered condition reasons that tell the user.
	reasons []string
}

// TestGitHubFaults runs a RunnerSet through windows of GitHub trouble while
// it scales up and jobs run: server errors, timeouts, 429s with
// Retry-After, the primary limit exhausted, the secondary limit hit.
func TestGitHubFaults(t *testing.T) {
	r := newResult(t, "2. GitHub faults while scaling and running jobs",
		"converges once the faults stop; requests within the budget pacing and backoff allow; conditions say what happens")
	ctx := context.Background()
	window := sz.faultWindow
	const retryAfter = 2 * time.Second
	secondaryRetryAfter := window / 2
	w := startWorld(t, world.Options{
		Nodes: 1, AgentEvery: 100 * time.Millisecond,
		Sim: githubsim.Options{
			SecondaryPointsPerMinute: 900, SecondaryRetryAfter: secondaryRetryAfter,
			PrimaryWindow: window, TooManyRequestsRetryAfter: retryAfter, TimeoutAfter: window / 3,
		},
	})
	var exhaust exhauster
	faults := []githubFault{
		{name: "20% server errors (502, 503)", on: func(s *githubsim.Server) { s.SetServerErrorRate(0.2) }, off: func(s *githubsim.Server) { s.SetServerErrorRate(0) },
			refusals: []int{502, 503}, reasons: []string{octorunv1alpha1.ReasonRegistrationFailed}},
		{name: "20% timeouts", on: func(s *githubsim.Server) { s.SetTimeoutRate(0.2) }, off: func(s *githubsim.Server) { s.SetTimeoutRate(0) },
			refusals: []int{499, 504}, reasons: []string{octorunv1alpha1.ReasonRegistrationFailed}},
		{name: "30% 429 with Retry-After", on: func(s *githubsim.Server) { s.SetTooManyRequestsRate(0.3) }, off: func(s *githubsim.Server) { s.SetTooManyRequestsRate(0) },
			refusals: []int{429}, waitAfter: retryAfter, reasons: []string{octorunv1alpha1.ReasonRateLimited}},
		// Exhausted again as soon as each hourly window (here: window)
		// resets, so that the limit stays exhausted throughout.
		{name: "primary limit exhausted", on: exhaust.start, off: exhaust.stop,
			refusals: []int{403, 429}, waitAfter: window, reasons: []string{octorunv1alpha1.ReasonRateLimited}},
		{name: "secondary limit hit (60 points a minute)", on: func(s *githubsim.Server) { s.SetSecondaryPointsPerMinute(60) }, off: func(s *githubsim.Server) { s.SetSecondaryPointsPerMinute(900) },
			refusals: []int{403, 429}, waitAfter: secondaryRetryAfter, reasons: []string{octorunv1alpha1.ReasonRateLimited}},
	}

	if err := w.CreateRunnerSet(ctx, setName, 0); err != nil {
		t.Fatal(err)
	}
	step := max(1, sz.faultRunners/len(faults))
	want, jobs := 0, 0
	for _, f := range faults {
		before := w.Sim.CallsByStatus()
		beforeCalls := w.Sim.Calls()
		start := time.Now()
		f.on(w.Sim)
		// New runners to register, and jobs using up runners that must be
		// replaced, while the fault lasts.
		want += step
		if err := w.Scale(ctx, setName, want); err != nil {
			t.Fatal(err)
		}
		queueJobs(ctx, w, step/2, window/2, time.Second, 3*time.Second)
		jobs += step / 2
		w.Tracker.TakeReasons(octorunv1alpha1.RunnerConditionRegistered)
		sleep(ctx, window)
		f.off(w.Sim)
		elapsed := time.Since(start)
		after := w.Sim.CallsByStatus()
		afterCalls := w.Sim.Calls()
		reasons := w.Tracker.TakeReasons(octorunv1alpha1.RunnerConditionRegistered)
		// JIT configs asked for and not given (201).
		jitRefused := afterCalls[jitCall] - beforeCalls[jitCall] - (after[201] - before[201])

		refused := 0
		for _, code := range f.refusals {
			refused += after[code] - before[code]
		}
		points := 0
		for call, n := range afterCalls {
			n -= beforeCalls[call]
			if strings.HasPrefix(call, "GET ") {
				points += n
			} else {
				points += 5 * n
			}
		}
		r.Faults += refused
		budget := int(math.Ceil(pacedPointsPerSecond*elapsed.Seconds())) + pacedBurst + 5*inFlight
		t.Logf("%s for %s: %d refusals (%d of JIT configs), %d points spent (budget %d), reasons %v", f.name, elapsed.Round(time.Second), refused, jitRefused, points, budget, reasons)
		r.Figures[f.name] = fmt.Sprintf("%d refusals, %d points spent of a budget of %d; conditions: %v", refused, points, budget, slices.Sorted(maps.Keys(reasons)))
		if points > budget {
			t.Errorf("%s: %d points spent in %s, more than the %d that pacing allows", f.name, points, elapsed.Round(time.Second), budget)
		}
		if f.waitAfter > 0 {
			// After a refusal Octorun waits as told: at most the requests
			// in flight are refused in each wait.
			maxRefused := (int(elapsed/f.waitAfter) + 1) * inFlight
			if refused > maxRefused {
				t.Errorf("%s: %d refusals; waiting as told allows at most %d", f.name, refused, maxRefused)
			}
		}
		told := false
		for _, reason := range f.reasons {
			if reasons[reason] != "" {
				told = true
			}
		}
		if jitRefused > 0 && !told {
			t.Errorf("%s: no Runner's Registered condition said %v; saw %v", f.name, f.reasons, reasons)
		}
	}
	r.FaultKind = "refused requests"
	took := waitConverged(ctx, t, w, want, 5*time.Minute)
	r.Figures["converged after the faults stopped"] = took.Round(time.Second).String()
	waitJobs(ctx, t, w, jobs, 2*time.Minute)
	audit(ctx, t, w, r, want+jobs)
}

// exhauster keeps GitHub's primary limit exhausted until stopped.
type exhauster struct {
	done chan struct{}
}

func (e *exhauster) start(s *githubsim.Server) {
	e.done = make(chan struct{})
	go func() {
		for {
			s.ExhaustPrimaryLimit()
			select {
			case <-e.done:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
}

func (e *exhauster) stop(*githubsim.Server) { close(e.done) }
