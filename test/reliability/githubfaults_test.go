package reliability

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
	inFlight   = 16
	jitCall    = "POST /orgs/{org}/actions/runners/generate-jitconfig"
	deleteCall = "DELETE /orgs/{org}/actions/runners/{id}"
	// inFlightGrace is how long after GitHub answered a refusal a request
	// may still arrive that left Octorun before it could read the answer.
	inFlightGrace = 250 * time.Millisecond
)

// githubFault is one window of trouble on GitHub.
type githubFault struct {
	name string
	// on starts the fault, off ends it.
	on, off func(*githubsim.Server)
	// halfway, if set, changes the fault halfway through the window.
	halfway func(*githubsim.Server)
	// scaleDown scales the set down halfway through the window by twice
	// what the window added, so that registered runners are removed from
	// GitHub while the fault lasts.
	scaleDown bool
	// refusals are the answers of the fault, counted against waitAfter.
	refusals []int
	// waitAfter is how long GitHub tells Octorun to wait after a refusal,
	// at least; 0 when it says nothing (server errors, timeouts, 422s).
	waitAfter time.Duration
	// reasons are the Registered condition reasons that tell the user.
	reasons []string
}

// TestGitHubFaults runs a RunnerSet through windows of GitHub trouble while
// it scales and jobs run: server errors, timeouts, 429s with Retry-After,
// the primary limit exhausted (answered 403, then 429), JIT registrations
// and removals refused with 422, the secondary limit hit (answered 403 with
// today's documentation URL, half of the answers without Retry-After).
// After each window Octorun must have converged and must not have sent a
// request while a wait GitHub imposed ran.
func TestGitHubFaults(t *testing.T) {
	r := newResult(t, "2. GitHub faults while scaling and running jobs",
		"converges after each window of faults; no request during a wait GitHub imposed; requests within the budget pacing and backoff allow; transient 422s fail no Runner; conditions say what happens")
	ctx := context.Background()
	window := sz.faultWindow
	// A short Retry-After: the registrations put off meanwhile are few
	// (see scaleGradually).
	const retryAfter = 2 * time.Second
	// The primary limit's window turns a few times in each half of the
	// exhausted window, so that Octorun meets both of its answers.
	primaryWindow := window / 4
	calls, apiURL := startCallLog(t)
	w := startWorld(t, world.Options{
		Nodes: 1, AgentEvery: 100 * time.Millisecond,
		Sim: githubsim.Options{
			SecondaryPointsPerMinute: 900, SecondaryRetryAfter: retryAfter,
			PrimaryWindow: primaryWindow, TooManyRequestsRetryAfter: retryAfter, TimeoutAfter: window / 3,
		},
		// Octorun's requests go through the call log (the last
		// --github-api-url wins). No webhooks tell Octorun of jobs: the
		// grace for a late one would only delay the replacement of the
		// runners jobs used up.
		OctorunArgs: []string{"--github-api-url", apiURL, "--runner-exit-grace-period=5s"},
	})
	calls.sim.Store(w.Sim)
	t.Cleanup(func() {
		if t.Failed() || *keepFlag {
			calls.save(t, filepath.Join(w.Dir, "github-calls.log"))
		}
	})
	var exhaust exhauster
	// windowStart is when the current window began.
	var windowStart time.Time
	faults := []githubFault{
		{name: "20% server errors (502, 503)", on: func(s *githubsim.Server) { s.SetServerErrorRate(0.2) }, off: func(s *githubsim.Server) { s.SetServerErrorRate(0) },
			refusals: []int{502, 503}, reasons: []string{octorunv1alpha1.ReasonRegistrationFailed}},
		{name: "20% timeouts", on: func(s *githubsim.Server) { s.SetTimeoutRate(0.2) }, off: func(s *githubsim.Server) { s.SetTimeoutRate(0) },
			refusals: []int{499, 504}, reasons: []string{octorunv1alpha1.ReasonRegistrationFailed}},
		{name: "30% 429 with Retry-After", on: func(s *githubsim.Server) { s.SetTooManyRequestsRate(0.3) }, off: func(s *githubsim.Server) { s.SetTooManyRequestsRate(0) },
			refusals: []int{429}, waitAfter: retryAfter, reasons: []string{octorunv1alpha1.ReasonRateLimited}},
		// Exhausted again as soon as each window resets, so that the
		// limit stays exhausted throughout; answered 403 (GitHub's usual),
		// then 429.
		{name: "primary limit exhausted (403, then 429)",
			on: func(s *githubsim.Server) {
				s.SetRateLimitAnswers(http.StatusForbidden, 0, 0, false)
				exhaust.start(s)
			},
			halfway: func(s *githubsim.Server) { s.SetRateLimitAnswers(http.StatusTooManyRequests, 0, 0, false) },
			off: func(s *githubsim.Server) {
				exhaust.stop(s)
				s.SetRateLimitAnswers(http.StatusForbidden, 0, 0, false)
			},
			refusals: []int{403, 429}, waitAfter: primaryWindow, reasons: []string{octorunv1alpha1.ReasonRateLimited}},
		{name: "30% JIT 422 spammed, 30% DELETE 422, scaling down",
			on: func(s *githubsim.Server) {
				s.SetJITSpammedRate(0.3)
				s.SetDeleteUnprocessableRate(0.3)
			},
			off: func(s *githubsim.Server) {
				s.SetJITSpammedRate(0)
				s.SetDeleteUnprocessableRate(0)
			},
			scaleDown: true, refusals: []int{422}, reasons: []string{octorunv1alpha1.ReasonRegistrationFailed}},
		// Last: an answer without Retry-After makes Octorun wait a minute
		// or more. Halfway through, if none came yet, every answer comes
		// without, so that each run meets one.
		{name: "secondary limit hit (30 points a minute, 403, half without Retry-After)",
			on: func(s *githubsim.Server) {
				s.SetRateLimitAnswers(http.StatusForbidden, 0, 0.5, false)
				s.SetSecondaryPointsPerMinute(30)
			},
			halfway: func(s *githubsim.Server) {
				if calls.waitsBy(windowStart, time.Now())[ruleMinute] == 0 {
					s.SetRateLimitAnswers(http.StatusForbidden, 0, 1, false)
				}
			},
			off: func(s *githubsim.Server) {
				s.SetSecondaryPointsPerMinute(900)
				s.SetRateLimitAnswers(http.StatusForbidden, 0, 0, false)
			},
			refusals: []int{403, 429}, waitAfter: retryAfter, reasons: []string{octorunv1alpha1.ReasonRateLimited}},
	}

	if err := w.CreateRunnerSet(ctx, setName, 0); err != nil {
		t.Fatal(err)
	}
	step := max(1, sz.faultRunners/len(faults))
	want, created, jobs := 0, 0, 0
	for _, f := range faults {
		before := w.Sim.CallsByStatus()
		beforeCalls := w.Sim.Calls()
		failedBefore := w.Tracker.Failed()
		w.Tracker.TakeReasons(octorunv1alpha1.RunnerConditionRegistered)
		start := time.Now()
		windowStart = start
		f.on(w.Sim)
		// New runners to register, and jobs using up runners that must be
		// replaced, while the fault lasts. The set grows a runner at a
		// time, as under steady demand: see scaleGradually.
		queueJobs(ctx, w, step/2, window/2, time.Second, 3*time.Second)
		jobs += step / 2
		if err := scaleGradually(ctx, w, want, want+step, window*2/5); err != nil {
			t.Fatal(err)
		}
		want += step
		created += step
		sleep(ctx, time.Until(start.Add(window/2)))
		if f.halfway != nil {
			f.halfway(w.Sim)
		}
		if f.scaleDown {
			want = max(want-2*step, 0)
			if err := w.Scale(ctx, setName, want); err != nil {
				t.Fatal(err)
			}
		}
		sleep(ctx, time.Until(start.Add(window)))
		f.off(w.Sim)
		elapsed := time.Since(start)
		after := w.Sim.CallsByStatus()
		afterCalls := w.Sim.Calls()
		reasons := w.Tracker.TakeReasons(octorunv1alpha1.RunnerConditionRegistered)
		// JIT configs asked for and not given (201).
		jitRefused := afterCalls[jitCall] - beforeCalls[jitCall] - (after[201] - before[201])

		refused := 0
		var byStatus []string
		for _, code := range f.refusals {
			n := after[code] - before[code]
			refused += n
			byStatus = append(byStatus, fmt.Sprintf("%d×%d", n, code))
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
		if msg, ok := reasons[octorunv1alpha1.ReasonRegistrationRejected]; ok {
			t.Errorf("%s: a registration was taken as rejected for good: %s", f.name, msg)
		}

		took, settleErr := settle(ctx, w, want, 5*time.Minute)
		waits := calls.waits(start, time.Now())
		during := calls.duringWaits(start, time.Now())
		for _, c := range during {
			t.Errorf("%s: %s", f.name, c)
		}
		if settleErr != nil {
			t.Fatalf("%s: %v; waits imposed: %s", f.name, settleErr, waits)
		}
		failed := newFailures(failedBefore, w.Tracker.Failed())
		for why, n := range failed {
			if strings.Contains(why, " 422 ") {
				t.Errorf("%s: %d Runners failed on a 422: %s", f.name, n, why)
			}
		}
		jit, deletes := afterCalls[jitCall]-beforeCalls[jitCall], afterCalls[deleteCall]-beforeCalls[deleteCall]
		figure := fmt.Sprintf("%d refusals (%s; %d of %d JIT configs, %d DELETEs sent), %d points spent of a budget of %d; waits imposed: %s; requests during them: %d; converged %s after; conditions: %v",
			refused, strings.Join(byStatus, ", "), jitRefused, jit, deletes, points, budget, waits, len(during), took.Round(time.Second), slices.Sorted(maps.Keys(reasons)))
		if len(failed) > 0 {
			figure += fmt.Sprintf("; Runners failed: %v", failed)
		}
		t.Logf("%s for %s: %s", f.name, elapsed.Round(time.Second), figure)
		r.Figures[f.name] = figure
	}
	r.FaultKind = "refused requests"
	waitJobs(ctx, t, w, jobs, 2*time.Minute)
	audit(ctx, t, w, r, created+jobs)
	// Waits that outlasted their window's convergence end here.
	during := calls.duringWaits(time.Time{}, time.Now())
	r.Figures["requests sent during a wait GitHub imposed (whole run)"] = len(during)
	if len(during) > 0 {
		t.Errorf("%d requests sent during a wait GitHub imposed", len(during))
	}
}

// scaleGradually scales the RunnerSet from one size to another a runner at
// a time, spread over the given time.
//
// Growing it in one step makes a burst of registrations that Octorun paces,
// and a rate limit answered in the middle of it shows two faults of
// Octorun's budget (pkg/github): requests already waiting for pacing are
// sent during the wait GitHub imposed, and every secondary-limit answer
// without Retry-After to requests in flight together doubles the wait, to
// 15 minutes and more.
func scaleGradually(ctx context.Context, w *world.World, from, to int, over time.Duration) error {
	start := time.Now()
	for n := from + 1; n <= to; n++ {
		if err := w.Scale(ctx, setName, n); err != nil {
			return err
		}
		sleep(ctx, time.Until(start.Add(over*time.Duration(n-from)/time.Duration(to-from))))
	}
	return nil
}

// settle waits until the world is at rest with want Idle runners and the
// RunnerSet says it is Ready, within timeout, and returns how long that
// took.
func settle(ctx context.Context, w *world.World, want int, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	var last string
	err := w.WaitFor(ctx, fmt.Sprintf("%d Idle runners and nothing else, RunnerSet %s Ready", want, setName), timeout, func() (bool, error) {
		ok, why, err := converged(ctx, w, want)
		if err != nil || !ok {
			last = why
			if err != nil {
				last = err.Error()
			}
			return false, nil
		}
		set, err := w.Octo.OctorunV1alpha1().RunnerSets(w.Namespace).Get(ctx, setName, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		ready := meta.FindStatusCondition(set.Status.Conditions, octorunv1alpha1.RunnerSetConditionReady)
		if ready == nil {
			last = "the RunnerSet has no Ready condition"
			return false, nil
		}
		last = fmt.Sprintf("RunnerSet Ready=%s %s: %s", ready.Status, ready.Reason, ready.Message)
		return set.Status.ObservedGeneration == set.Generation && ready.ObservedGeneration == set.Generation &&
			ready.Status == metav1.ConditionTrue, nil
	})
	if err != nil {
		return time.Since(start), fmt.Errorf("%w; last: %s", err, last)
	}
	return time.Since(start), nil
}

// newFailures returns the Runner failures, by conditions, seen in now and
// not in before.
func newFailures(before, now map[string]int) map[string]int {
	out := map[string]int{}
	for why, n := range now {
		if n > before[why] {
			out[why] = n - before[why]
		}
	}
	return out
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

// callLog stands in front of the simulator and records when each of
// Octorun's API calls arrived and, for each answer that tells Octorun to
// wait, until when. The simulator counts calls by endpoint and status, not
// by time, so it cannot tell a call made during a wait from one after it.
type callLog struct {
	// sim answers the calls; until it is set they are answered 503.
	sim atomic.Pointer[githubsim.Server]

	mu    sync.Mutex
	calls []loggedCall
}

// loggedCall is one API call.
type loggedCall struct {
	call              string // "METHOD /path"
	arrived, answered time.Time
	status            int
	// until is the end of the wait the answer imposed; zero for none.
	until time.Time
	// rule says which of GitHub's rules set until.
	rule string
}

// startCallLog serves a callLog on a local port for the test's duration and
// returns it with its URL, for Octorun's --github-api-url.
func startCallLog(t *testing.T) (*callLog, string) {
	t.Helper()
	l := &callLog{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l, "http://" + ln.Addr().String() + "/"
}

func (l *callLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sim := l.sim.Load()
	if sim == nil {
		http.Error(w, "GitHub is not up yet", http.StatusServiceUnavailable)
		return
	}
	arrived := time.Now()
	rec := &answerRecorder{ResponseWriter: w}
	sim.ServeHTTP(rec, r)
	// net/http sends the buffered answer once the handler returns: Octorun
	// cannot have read it before now.
	c := loggedCall{call: r.Method + " " + r.URL.Path, arrived: arrived, answered: time.Now(), status: rec.status}
	if c.status == 0 {
		c.status = 499 // the client gave up; nothing was written
	}
	c.until, c.rule = imposedWait(c.status, rec.header, rec.body.Bytes(), c.answered)
	l.mu.Lock()
	l.calls = append(l.calls, c)
	l.mu.Unlock()
}

// The rules of GitHub's waits (github/docs rate-limits-for-the-rest-api.md).
const (
	ruleRetryAfter = "Retry-After"
	ruleReset      = "x-ratelimit-reset"
	ruleMinute     = "a minute (no Retry-After)"
)

// imposedWait is when the wait an answer imposes ends, by github/docs
// rate-limits-for-the-rest-api.md ("Exceeding the rate limit"), and the
// rule that says so: Retry-After when present; else x-ratelimit-reset when
// x-ratelimit-remaining is 0; else, for a secondary limit, at least a
// minute. Zero when the answer is no rate limit.
func imposedWait(status int, h http.Header, body []byte, answered time.Time) (time.Time, string) {
	if status != http.StatusForbidden && status != http.StatusTooManyRequests {
		return time.Time{}, ""
	}
	if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil && s > 0 {
		return answered.Add(time.Duration(s) * time.Second), ruleRetryAfter
	}
	if h.Get("X-RateLimit-Remaining") == "0" {
		if reset, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			return time.Unix(reset, 0), ruleReset
		}
	}
	if bytes.Contains(bytes.ToLower(body), []byte("secondary rate limit")) {
		return answered.Add(time.Minute), ruleMinute
	}
	return time.Time{}, ""
}

// save writes the log to path, a call a line.
func (l *callLog) save(t *testing.T, path string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, c := range l.calls {
		fmt.Fprintf(&b, "%s %s %d %s in %s", c.arrived.Format("15:04:05.000000"), c.call, c.status,
			c.answered.Format("15:04:05.000000"), c.answered.Sub(c.arrived).Round(time.Microsecond))
		if !c.until.IsZero() {
			fmt.Fprintf(&b, " wait until %s (%s)", c.until.Format("15:04:05.000000"), c.rule)
		}
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Logf("Saving the GitHub calls: %v", err)
		return
	}
	t.Logf("GitHub calls: %s", path)
}

// waitsBy counts the waits imposed by answers given in [from, to), by the
// rule that set them.
func (l *callLog) waitsBy(from, to time.Time) map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := map[string]int{}
	for _, c := range l.calls {
		if !c.until.IsZero() && !c.answered.Before(from) && c.answered.Before(to) {
			n[c.rule]++
		}
	}
	return n
}

// waits describes the waits imposed by answers given in [from, to).
func (l *callLog) waits(from, to time.Time) string {
	n := l.waitsBy(from, to)
	if len(n) == 0 {
		return "none"
	}
	var out []string
	for _, rule := range slices.Sorted(maps.Keys(n)) {
		out = append(out, fmt.Sprintf("%d until %s", n[rule], rule))
	}
	return strings.Join(out, ", ")
}

// duringWaits describes the calls that arrived during a wait imposed by an
// answer given in [from, to), once the requests in flight when it was
// given (inFlightGrace) are set aside.
func (l *callLog) duringWaits(from, to time.Time) []string {
	l.mu.Lock()
	calls := slices.Clone(l.calls)
	l.mu.Unlock()
	sort.Slice(calls, func(i, j int) bool { return calls[i].arrived.Before(calls[j].arrived) })
	refusals := slices.DeleteFunc(slices.Clone(calls), func(c loggedCall) bool {
		return c.until.IsZero() || c.answered.Before(from) || !c.answered.Before(to)
	})
	var out []string
	for _, c := range calls {
		for _, refusal := range refusals {
			if c.arrived.After(refusal.answered.Add(inFlightGrace)) && c.arrived.Before(refusal.until) {
				out = append(out, fmt.Sprintf("%s (answered %d) arrived %s after a %d (%s) that said to wait %s",
					c.call, c.status, c.arrived.Sub(refusal.answered).Round(time.Millisecond), refusal.status, refusal.call,
					refusal.until.Sub(refusal.answered).Round(time.Millisecond)))
				break
			}
		}
	}
	return out
}

// answerRecorder passes an answer on and keeps its status, headers and the
// start of its body.
type answerRecorder struct {
	http.ResponseWriter
	status int
	header http.Header
	body   bytes.Buffer
}

func (a *answerRecorder) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
		a.header = a.ResponseWriter.Header().Clone()
	}
	a.ResponseWriter.WriteHeader(status)
}

func (a *answerRecorder) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.WriteHeader(http.StatusOK)
	}
	if room := 4096 - a.body.Len(); room > 0 {
		a.body.Write(b[:min(len(b), room)])
	}
	return a.ResponseWriter.Write(b)
}
