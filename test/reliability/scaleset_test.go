package reliability

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/framework/world"
	"github.com/octorun/octorun/test/githubsim"
)

// sessionIdleTTL is how long the simulator keeps the session of a listener
// that stopped polling from a new one: short, so that a new leader gets
// the scale set's session soon after the old one is killed.
const sessionIdleTTL = 10 * time.Second

// TestScaleSet runs a scale-set RunnerSet, with no webhook receiver, through
// two kinds of trouble in one world of two replicas: the leader, which holds
// the scale set's message session, SIGKILLed while jobs run, so that the
// other replica must take the session over once GitHub lets the dead one's
// go; then a window of GitHub faults while jobs run, on the REST API (the
// simulator's fault rates) and on the Actions service (refused or lost
// answers, injected in front of the simulator, whose fault rates do not
// reach the service), with the session's token expiring and the leader
// restarted as in a rollout.
func TestScaleSet(t *testing.T) {
	r := newResult(t, "9. Scale-set RunnerSet: leader SIGKILLed while jobs run, then GitHub faults (REST and Actions service), no webhooks",
		"the other replica takes the session over; every job completed once, by a runner of its own; no job killed; no GitHub runner without a Runner and pod; back to minRunners")
	ctx := context.Background()
	jobs, minRunners, maxRunners := sz.scaleSetJobs, sz.scaleSetMin, sz.scaleSetMax
	faults, apiURL := startServiceFaults(t)
	w := startWorld(t, world.Options{
		Nodes: 1, AgentEvery: 100 * time.Millisecond, Replicas: 2,
		Sim: githubsim.Options{TooManyRequestsRetryAfter: 2 * time.Second, TimeoutAfter: 3 * time.Second},
		// Octorun's calls, the Actions service's included, go through the
		// fault injector (the last --github-api-url wins).
		OctorunArgs: []string{"--github-secondary-limit=0", "--github-api-url", apiURL},
	})
	faults.sim.Store(w.Sim)
	w.Sim.SetScaleSetSessionIdleTTL(sessionIdleTTL)
	leader := waitLeader(ctx, t, w, nil)
	if err := w.CreateRunnerSet(ctx, setName, minRunners, world.ScaleSet(minRunners, maxRunners)); err != nil {
		t.Fatal(err)
	}
	first, err := w.WaitScaleSetListening(ctx, setName, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	waitConverged(ctx, t, w, minRunners, 2*time.Minute)

	// (a) The leader killed while the set's runners run jobs long enough
	// to end after the other replica took the session over, and more jobs
	// queued while no one listens.
	began := time.Now()
	long := min(maxRunners, jobs)
	queueScaleSetJobs(ctx, w, long, 0, 20*time.Second, 24*time.Second)
	if err := w.WaitFor(ctx, "half the set's runners Active", time.Minute, func() (bool, error) {
		return w.Tracker.CountPhase(octorunv1alpha1.RunnerPhaseActive) >= maxRunners/2, nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("Killing the leader (pid %d), holding session %s, at %d Runners, %d Active", leader.Pid, first.ID,
		w.Tracker.Live(), w.Tracker.CountPhase(octorunv1alpha1.RunnerPhaseActive))
	killed := time.Now()
	w.KillReplica(leader)
	r.Faults, r.FaultKind = 1, "leader SIGKILL"
	queueScaleSetJobs(ctx, w, jobs-long, 0, 2*time.Second, 4*time.Second)
	newLeader := waitLeader(ctx, t, w, leader)
	r.Figures["(a) new leader after"] = time.Since(killed).Round(100 * time.Millisecond).String()
	var taken githubsim.ScaleSetSession
	if err := w.WaitFor(ctx, "a new session of the scale set", sessionIdleTTL+time.Minute, func() (bool, error) {
		_, s, ok := w.ScaleSetSession(setName)
		taken = s
		return ok && s.ID != first.ID, nil
	}); err != nil {
		t.Fatal(err)
	}
	tookOver := time.Since(killed)
	r.Figures["(a) session taken over after (the dead leader's kept for "+sessionIdleTTL.String()+" after its last poll)"] = tookOver.Round(100 * time.Millisecond).String()
	t.Logf("Session %s of %q after %s", taken.ID, taken.Owner, tookOver.Round(100*time.Millisecond))
	waitJobs(ctx, t, w, jobs, 3*time.Minute)
	waitScaleSetAtRest(ctx, t, w, minRunners, 3*time.Minute)
	r.Figures["(a) every job done and the set at rest, after the kill"] = time.Since(killed).Round(time.Second).String()
	t.Logf("(a) took %s", time.Since(began).Round(time.Second))
	// The killed replica comes back, as the kubelet restarts its container.
	if _, err := w.StartReplica(ctx); err != nil {
		t.Fatal(err)
	}

	// (b) GitHub faults while jobs run.
	window, faultJobs := sz.scaleSetWindow, jobs/2
	beforeStatus, beforeCalls := w.Sim.CallsByStatus(), w.Sim.Calls()
	w.Sim.SetServerErrorRate(0.2)
	w.Sim.SetTimeoutRate(0.1)
	w.Sim.SetTooManyRequestsRate(0.2)
	w.Sim.SetDeleteUnprocessableRate(0.3)
	faults.set(0.15, 0.1)
	start := time.Now()
	queueScaleSetJobs(ctx, w, faultJobs, window*2/3, time.Second, 3*time.Second)
	sleep(ctx, window/3)
	// The faults may have ended the session a moment ago: its token
	// expires as soon as there is one again.
	var s githubsim.ScaleSetSession
	if err := w.WaitFor(ctx, "a session to expire the token of", 30*time.Second, func() (bool, error) {
		var ok bool
		_, s, ok = w.ScaleSetSession(setName)
		return ok && w.Sim.ExpireScaleSetSessionToken(s.ScaleSetID) == nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	r.Faults++
	// Halfway, the leader is restarted as in a rollout: it stops (deleting
	// its session, if GitHub lets it) and another replica, or the
	// restarted one, takes over. The new leader's client starts with
	// GitHub's registration token, a REST call, and the service's token,
	// under the faults.
	sleep(ctx, time.Until(start.Add(window/2)))
	_, held, _ := w.ScaleSetSession(setName)
	t.Logf("Restarting the leader (pid %d), holding session %s", newLeader.Pid, held.ID)
	restarted := time.Now()
	if _, err := w.RestartReplica(ctx, newLeader, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	r.Faults++
	if err := w.WaitFor(ctx, "a session after the rollout", sessionIdleTTL+time.Minute, func() (bool, error) {
		_, now, ok := w.ScaleSetSession(setName)
		return ok && now.ID != held.ID, nil
	}); err != nil {
		t.Fatal(err)
	}
	r.Figures["(b) session taken over after the leader's graceful restart"] = time.Since(restarted).Round(100 * time.Millisecond).String()
	sleep(ctx, time.Until(start.Add(window)))
	w.Sim.SetServerErrorRate(0)
	w.Sim.SetTimeoutRate(0)
	w.Sim.SetTooManyRequestsRate(0)
	w.Sim.SetDeleteUnprocessableRate(0)
	faults.set(0, 0)
	afterStatus, afterCalls := w.Sim.CallsByStatus(), w.Sim.Calls()
	restCalls := 0
	for call, n := range afterCalls {
		if _, path, _ := strings.Cut(call, " "); !strings.HasPrefix(path, "/_actions/") && path != "/actions/runner-registration" {
			restCalls += n - beforeCalls[call]
		}
	}
	rest := []string{fmt.Sprintf("%d REST calls", restCalls)}
	restFaults := 0
	for _, code := range []int{429, 499, 502, 503, 504, 422} {
		if n := afterStatus[code] - beforeStatus[code]; n > 0 {
			rest = append(rest, fmt.Sprintf("%d×%d", n, code))
			restFaults += n
		}
	}
	refused, lost := faults.counts()
	r.Faults += restFaults + sum(refused) + sum(lost)
	r.FaultKind = "leader SIGKILL, refused or lost requests, a session token expired, a rollout"
	r.Figures["(b) REST answers of the faults"] = strings.Join(rest, ", ")
	r.Figures["(b) Actions service calls refused"] = describeCounts(refused)
	r.Figures["(b) Actions service answers lost after the service acted"] = describeCounts(lost)
	waitJobs(ctx, t, w, jobs+faultJobs, 3*time.Minute)
	waitScaleSetAtRest(ctx, t, w, minRunners, 3*time.Minute)
	r.Figures["(b) every job done and the set at rest, after the window"] = time.Since(start.Add(window)).Round(time.Second).String()
	t.Logf("(b) took %s", time.Since(start).Round(time.Second))

	checkJobsRanOnce(t, w, r)
	// Every fault here passes: none may fail a Runner's registration for
	// good, as none does in webhook mode (TestGitHubFaults).
	for why, n := range w.Tracker.Failed() {
		if strings.Contains(why, "Registered=False") {
			t.Errorf("%d Runners failed on a passing fault: %s", n, why)
		}
	}
	r.Figures["Runners created per job"] = fmt.Sprintf("%.2f (%d Runners, %d jobs, minRunners %d)",
		float64(w.Tracker.Created())/float64(jobs+faultJobs), w.Tracker.Created(), jobs+faultJobs, minRunners)
	// A scale set's runners follow the jobs GitHub assigned to it, which
	// races with the jobs' ends: a Runner beyond need is no fault here. The
	// other duplicates are.
	audit(ctx, t, w, r, -1)
}

// waitLeader waits for a leader other than not, and returns it.
func waitLeader(ctx context.Context, t *testing.T, w *world.World, not *world.Replica) *world.Replica {
	t.Helper()
	var leader *world.Replica
	if err := w.WaitFor(ctx, "a leader", time.Minute, func() (bool, error) {
		var err error
		leader, err = w.Leader(ctx)
		return leader != nil && leader != not, err
	}); err != nil {
		t.Fatal(err)
	}
	return leader
}

// queueScaleSetJobs queues n jobs for the scale set, lasting between minD
// and maxD, spread over the given time (all at once when zero); it returns
// at once.
func queueScaleSetJobs(ctx context.Context, w *world.World, n int, over, minD, maxD time.Duration) {
	go func() {
		start := time.Now()
		for i := range n {
			if over > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(start.Add(over * time.Duration(i) / time.Duration(n)))):
				}
			}
			d := minD + time.Duration(rand.Int64N(int64(maxD-minD)+1))
			w.Sim.QueueScaleSetJob(world.Org, world.Repo, setName, d)
		}
	}()
}

// waitScaleSetAtRest waits until the world is at rest with minRunners Idle
// runners and the scale-set RunnerSet says so: spec.runners back to
// minRunners, no job assigned, and its session held (ScaleSetReady=True,
// and the simulator's scale set has a session).
func waitScaleSetAtRest(ctx context.Context, t *testing.T, w *world.World, minRunners int, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	err := w.WaitFor(ctx, fmt.Sprintf("%d Idle runners and nothing else, scale set listening", minRunners), timeout, func() (bool, error) {
		ok, why, err := converged(ctx, w, minRunners)
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
		if n := int(ptr.Deref(set.Spec.Runners, -1)); n != minRunners {
			last = fmt.Sprintf("spec.runners is %d, want %d", n, minRunners)
			return false, nil
		}
		if s := set.Status.ScaleSet; s == nil || s.AssignedJobs != 0 || s.RunningJobs != 0 {
			last = fmt.Sprintf("status.scaleSet is %+v, want no job assigned or running", s)
			return false, nil
		}
		c := meta.FindStatusCondition(set.Status.Conditions, octorunv1alpha1.RunnerSetConditionScaleSetReady)
		if c == nil || c.Status != metav1.ConditionTrue {
			last = fmt.Sprintf("ScaleSetReady is %+v", c)
			return false, nil
		}
		if _, _, ok := w.ScaleSetSession(set.ScaleSetName()); !ok {
			last = "the simulator's scale set has no session"
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("%v; last: %s", err, last)
	}
	return time.Since(start)
}

// checkJobsRanOnce checks that every job ran once, to success, on a runner
// of its own that one of the set's Runners registered.
func checkJobsRanOnce(t *testing.T, w *world.World, r *result) {
	t.Helper()
	registered := w.Tracker.RegisteredIDs()
	byRunner := map[int64][]int64{}
	unseen := 0
	for _, j := range w.Sim.Jobs() {
		if j.RunnerID == 0 {
			continue // audit reports a job that never ran
		}
		byRunner[j.RunnerID] = append(byRunner[j.RunnerID], j.ID)
		if registered[j.RunnerID] == 0 {
			t.Errorf("Job %d ran on GitHub runner %d (%s), which no Runner registered", j.ID, j.RunnerID, j.RunnerName)
		}
		if _, ok := w.Tracker.ActiveAt(j.RunnerID); !ok {
			unseen++
		}
	}
	for id, jobs := range byRunner {
		if len(jobs) > 1 {
			t.Errorf("GitHub runner %d ran %d jobs (%v); a scale set's runners are ephemeral", id, len(jobs), jobs)
		}
	}
	r.Figures["jobs whose Runner was never seen Active"] = unseen
}

// serviceFaults stands in front of the simulator and fails a share of the
// calls to the Actions service (its endpoints, and the exchange of a
// registration token for its URL and token), which the simulator's fault
// rates do not reach: they apply to its REST API only. A refused call is
// answered 503 before the service sees it; a lost answer is replaced by a
// 502 after the service acted on the call, as when a proxy in between
// times out.
type serviceFaults struct {
	// sim answers the calls; until it is set they are answered 503.
	sim atomic.Pointer[githubsim.Server]

	mu            sync.Mutex
	refuse, lose  float64
	refused, lost map[string]int // by endpoint
}

// startServiceFaults serves a serviceFaults on a local port for the test's
// duration and returns it with its URL, for Octorun's --github-api-url.
func startServiceFaults(t *testing.T) (*serviceFaults, string) {
	t.Helper()
	f := &serviceFaults{refused: map[string]int{}, lost: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return f, "http://" + ln.Addr().String() + "/"
}

// set changes the shares of the Actions service's calls refused and of
// its answers lost.
func (f *serviceFaults) set(refuse, lose float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refuse, f.lose = refuse, lose
}

// counts returns the calls refused and the answers lost so far, by
// endpoint.
func (f *serviceFaults) counts() (refused, lost map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.refused), maps.Clone(f.lost)
}

func (f *serviceFaults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sim := f.sim.Load()
	if sim == nil {
		http.Error(w, "GitHub is not up yet", http.StatusServiceUnavailable)
		return
	}
	// The client takes the simulator for a GitHub Enterprise Server: its
	// REST calls go under /api/v3.
	path := strings.TrimPrefix(r.URL.Path, "/api/v3")
	service := strings.HasPrefix(path, "/_actions/") || path == "/actions/runner-registration"
	if !service {
		sim.ServeHTTP(w, r)
		return
	}
	endpoint := serviceEndpoint(r)
	f.mu.Lock()
	refuse, lose := rand.Float64() < f.refuse, rand.Float64() < f.lose
	if refuse {
		f.refused[endpoint]++
	} else if lose {
		f.lost[endpoint]++
	}
	f.mu.Unlock()
	switch {
	case refuse:
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
	case lose:
		sim.ServeHTTP(discard{header: http.Header{}}, r)
		http.Error(w, "Bad Gateway", http.StatusBadGateway)
	default:
		sim.ServeHTTP(w, r)
	}
}

// serviceEndpoint names a call's endpoint, METHOD and path with the
// tenant, ids and session ids left out.
func serviceEndpoint(r *http.Request) string {
	path := strings.TrimPrefix(r.URL.Path, "/api/v3")
	if _, rest, ok := strings.Cut(path, "/_apis/"); ok {
		path = rest
	}
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if p != "" && (strings.Trim(p, "0123456789") == "" || len(p) == 36 && strings.Count(p, "-") == 4) {
			parts[i] = "{id}"
		}
	}
	return r.Method + " " + strings.Join(parts, "/")
}

// discard is a ResponseWriter that drops the answer.
type discard struct{ header http.Header }

func (d discard) Header() http.Header         { return d.header }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}

func describeCounts(n map[string]int) string {
	if len(n) == 0 {
		return "none"
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(n)) {
		out = append(out, fmt.Sprintf("%d× %s", n[k], k))
	}
	return strings.Join(out, ", ")
}

func sum(n map[string]int) int {
	total := 0
	for _, v := range n {
		total += v
	}
	return total
}
