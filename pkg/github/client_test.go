package github_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/octorun/octorun/pkg/github"
	"github.com/octorun/octorun/test/githubsim"
)

const token = "ghp_octorun_test"

var (
	orgScope  = github.Scope{Host: "github.com", Owner: "octo"}
	repoScope = github.Scope{Host: "github.com", Owner: "octo", Repo: "hello"}
)

// newSim starts an in-process GitHub simulator with organization octo and
// repository octo/hello, behind handler wrappers if given.
func newSim(t *testing.T, opts githubsim.Options, wrap ...func(http.Handler) http.Handler) (*githubsim.Server, *httptest.Server) {
	t.Helper()
	sim := githubsim.New(opts)
	sim.AddToken(token)
	sim.AddOrganization("octo")
	sim.AddRepository("octo", "hello")
	var h http.Handler = sim
	for _, w := range wrap {
		h = w(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		sim.Close()
	})
	return sim, srv
}

func newClient(t *testing.T, srv *httptest.Server, mutate ...func(*github.Options)) *github.Client {
	t.Helper()
	opts := github.Options{
		ServerURL:    "https://github.com",
		APIURL:       srv.URL + "/",
		Credentials:  github.Credentials{Token: token},
		RetryBackoff: time.Millisecond,
	}
	for _, m := range mutate {
		m(&opts)
	}
	c, err := github.New(opts)
	if err != nil {
		t.Fatalf("github.New: %v", err)
	}
	return c
}

func TestGenerateJITConfig(t *testing.T) {
	for _, scope := range []github.Scope{orgScope, repoScope} {
		t.Run(scope.String(), func(t *testing.T) {
			sim, srv := newSim(t, githubsim.Options{})
			c := newClient(t, srv)
			ctx := context.Background()

			cfg, err := c.GenerateJITConfig(ctx, scope, github.JITConfigRequest{
				Name: "octorun-runner-1", Labels: []string{"size=large", "gpu"}, WorkFolder: "_work",
			})
			if err != nil {
				t.Fatalf("GenerateJITConfig: %v", err)
			}
			if cfg.Runner.ID == 0 || cfg.Runner.Name != "octorun-runner-1" || cfg.EncodedJITConfig == "" {
				t.Fatalf("GenerateJITConfig = %+v", cfg)
			}
			for _, l := range []string{"size=large", "gpu"} {
				if !contains(cfg.Runner.Labels, l) {
					t.Errorf("runner labels %v lack %q", cfg.Runner.Labels, l)
				}
			}
			got, ok := sim.RunnerByJITConfig(cfg.EncodedJITConfig)
			if !ok || got.ID != cfg.Runner.ID {
				t.Errorf("The simulator does not know the runner of the JIT config: %+v", got)
			}
			if got.Repo != scope.Repo || got.Org != scope.Owner && got.Repo == "" {
				t.Errorf("Runner registered in %s/%s, want %s", got.Org, got.Repo, scope)
			}

			found, err := c.FindRunnerByName(ctx, scope, "octorun-runner-1")
			if err != nil || found.ID != cfg.Runner.ID {
				t.Errorf("FindRunnerByName = %+v, %v; want runner %d", found, err, cfg.Runner.ID)
			}
			if _, err := c.FindRunnerByName(ctx, scope, "octorun-runner"); !errors.Is(err, github.ErrNotFound) {
				t.Errorf("FindRunnerByName of a prefix: error = %v, want ErrNotFound", err)
			}

			_, err = c.GenerateJITConfig(ctx, scope, github.JITConfigRequest{Name: "octorun-runner-1", Labels: []string{"x"}})
			if !errors.Is(err, github.ErrRunnerNameTaken) {
				t.Errorf("Second registration of the name: error = %v, want ErrRunnerNameTaken", err)
			}
			if _, err := c.GenerateJITConfig(ctx, scope, github.JITConfigRequest{Name: "no-labels"}); err == nil {
				t.Error("GenerateJITConfig without labels succeeded")
			}
			unknown := scope
			unknown.Owner = "nobody"
			if _, err := c.GenerateJITConfig(ctx, unknown, github.JITConfigRequest{Name: "r", Labels: []string{"x"}}); !errors.Is(err, github.ErrNotFound) {
				t.Errorf("Registering in an unknown owner: error = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestEnterpriseServer(t *testing.T) {
	_, srv := newSim(t, githubsim.Options{})
	c := newClient(t, srv, func(o *github.Options) {
		o.ServerURL = "https://ghe.example.com"
		o.APIURL = srv.URL + "/api/v3/"
	})
	scope, err := github.ParseScope("https://ghe.example.com/octo/hello")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.GenerateJITConfig(ctx, scope, github.JITConfigRequest{Name: "ghes-1", Labels: []string{"x"}}); err != nil {
		t.Fatalf("GenerateJITConfig on GHES: %v", err)
	}
	runners, err := c.ListRunners(ctx, scope)
	if err != nil || len(runners) != 1 {
		t.Fatalf("ListRunners on GHES = %v, %v; want one runner", runners, err)
	}
	if _, err := c.ListRunners(ctx, repoScope); err == nil || !strings.Contains(err.Error(), "not on the configured GitHub host") {
		t.Errorf("ListRunners of a github.com scope through a GHES client: error = %v", err)
	}
}

func TestListRunnersPaginatesAndUsesConditionalRequests(t *testing.T) {
	sim, srv := newSim(t, githubsim.Options{})
	for i := range 250 {
		sim.AddRunner("octo", "", "runner-"+itoa(i), "linux")
	}
	sim.AddRunner("octo", "hello", "repo-runner", "linux")
	c := newClient(t, srv)
	ctx := context.Background()

	runners, err := c.ListRunners(ctx, orgScope)
	if err != nil {
		t.Fatalf("ListRunners: %v", err)
	}
	if len(runners) != 250 {
		t.Fatalf("ListRunners returned %d runners, want the 250 organization runners", len(runners))
	}
	seen := map[int64]bool{}
	for _, r := range runners {
		seen[r.ID] = true
	}
	if len(seen) != 250 {
		t.Errorf("ListRunners returned %d distinct runners, want 250", len(seen))
	}
	if got := sim.Calls()["GET /orgs/{org}/actions/runners"]; got != 3 {
		t.Errorf("ListRunners of 250 runners made %d requests, want 3 pages of 100", got)
	}

	// Unchanged pages are answered 304, which costs no primary limit.
	sim.ResetCalls()
	if again, err := c.ListRunners(ctx, orgScope); err != nil || len(again) != 250 {
		t.Fatalf("second ListRunners = %d runners, %v", len(again), err)
	}
	if got := sim.CallsByStatus()[http.StatusNotModified]; got != 3 {
		t.Errorf("second ListRunners got %d answers 304, want 3 (calls by status %v)", got, sim.CallsByStatus())
	}

	repoRunners, err := c.ListRunners(ctx, repoScope)
	if err != nil || len(repoRunners) != 1 || repoRunners[0].Name != "repo-runner" {
		t.Errorf("ListRunners of the repository = %v, %v", repoRunners, err)
	}
}

func TestRunnerGroupID(t *testing.T) {
	sim, srv := newSim(t, githubsim.Options{})
	gpu := sim.AddRunnerGroup("octo", "GPU")
	for i := range 120 {
		sim.AddRunnerGroup("octo", "group-"+itoa(i))
	}
	c := newClient(t, srv)
	ctx := context.Background()

	id, err := c.RunnerGroupID(ctx, orgScope, "gpu")
	if err != nil || id != gpu {
		t.Fatalf("RunnerGroupID(gpu) = %d, %v; want %d", id, err, gpu)
	}
	calls := sim.Calls()["GET /orgs/{org}/actions/runner-groups"]
	if id, err := c.RunnerGroupID(ctx, orgScope, "group-119"); err != nil || id == 0 {
		t.Errorf("RunnerGroupID(group-119) on page 2 = %d, %v", id, err)
	}
	if got := sim.Calls()["GET /orgs/{org}/actions/runner-groups"]; got != calls {
		t.Errorf("A cached group cost %d more requests", got-calls)
	}
	if _, err := c.RunnerGroupID(ctx, orgScope, "missing"); !errors.Is(err, github.ErrRunnerGroupNotFound) {
		t.Errorf("RunnerGroupID(missing) error = %v, want ErrRunnerGroupNotFound", err)
	}
	if id, err := c.RunnerGroupID(ctx, repoScope, ""); err != nil || id != 1 {
		t.Errorf("RunnerGroupID of a repository's default = %d, %v; want 1", id, err)
	}
	if _, err := c.RunnerGroupID(ctx, repoScope, "gpu"); !errors.Is(err, github.ErrRunnerGroupNotFound) {
		t.Errorf("RunnerGroupID(gpu) of a repository: error = %v, want ErrRunnerGroupNotFound", err)
	}

	cfg, err := c.GenerateJITConfig(ctx, orgScope, github.JITConfigRequest{Name: "gpu-1", RunnerGroupID: gpu, Labels: []string{"gpu"}})
	if err != nil {
		t.Fatalf("GenerateJITConfig in group gpu: %v", err)
	}
	if r, _ := sim.Runner(cfg.Runner.ID); r.GroupID != gpu {
		t.Errorf("Runner registered in group %d, want %d", r.GroupID, gpu)
	}
}

func TestGetAndDeleteRunner(t *testing.T) {
	for _, scope := range []github.Scope{orgScope, repoScope} {
		t.Run(scope.String(), func(t *testing.T) {
			sim, srv := newSim(t, githubsim.Options{})
			c := newClient(t, srv)
			ctx := context.Background()
			cfg, err := c.GenerateJITConfig(ctx, scope, github.JITConfigRequest{Name: "busy-1", Labels: []string{"busy"}})
			if err != nil {
				t.Fatal(err)
			}
			id := cfg.Runner.ID
			if err := sim.SetRunnerOnline(id, true); err != nil {
				t.Fatal(err)
			}
			job := sim.QueueJob(githubsim.JobRequest{Owner: "octo", Repo: "hello", Labels: []string{"busy"}})

			r, err := c.GetRunner(ctx, scope, id)
			if err != nil {
				t.Fatalf("GetRunner: %v", err)
			}
			if !r.Busy || r.Status != "online" {
				t.Fatalf("GetRunner = %+v, want an online busy runner", r)
			}
			if err := c.DeleteRunner(ctx, scope, id); !errors.Is(err, github.ErrRunnerBusy) {
				t.Fatalf("DeleteRunner of a busy runner: error = %v, want ErrRunnerBusy", err)
			}
			if err := sim.CompleteJob(job.ID); err != nil {
				t.Fatal(err)
			}
			// The ephemeral runner removed itself after its job.
			if _, err := c.GetRunner(ctx, scope, id); !errors.Is(err, github.ErrNotFound) {
				t.Errorf("GetRunner after the job: error = %v, want ErrNotFound", err)
			}
			if err := c.DeleteRunner(ctx, scope, id); !errors.Is(err, github.ErrNotFound) {
				t.Errorf("DeleteRunner of a gone runner: error = %v, want ErrNotFound", err)
			}

			idle, err := c.GenerateJITConfig(ctx, scope, github.JITConfigRequest{Name: "idle-1", Labels: []string{"idle"}})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.DeleteRunner(ctx, scope, idle.Runner.ID); err != nil {
				t.Errorf("DeleteRunner of an idle runner: %v", err)
			}
			if _, ok := sim.Runner(idle.Runner.ID); ok {
				t.Error("The deleted runner is still registered")
			}
		})
	}
}

func TestAppAuthentication(t *testing.T) {
	keyPEM, key := newPrivateKeyPEM(t)
	sim, srv := newSim(t, githubsim.Options{})
	sim.AddApp(4242, &key.PublicKey)
	sim.AddInstallation(4242, 99, "octo")
	c := newClient(t, srv, func(o *github.Options) {
		o.Credentials = github.Credentials{AppID: 4242, InstallationID: 99, PrivateKey: keyPEM}
	})
	ctx := context.Background()
	for range 3 {
		if _, err := c.ListRunners(ctx, orgScope); err != nil {
			t.Fatalf("ListRunners as a GitHub App: %v", err)
		}
	}
	if got := sim.Calls()["POST /app/installations/{id}/access_tokens"]; got != 1 {
		t.Errorf("%d installation token requests, want 1 (the token is reused)", got)
	}

	wrong := newClient(t, srv, func(o *github.Options) {
		o.Credentials = github.Credentials{AppID: 4242, InstallationID: 100, PrivateKey: keyPEM}
	})
	if _, err := wrong.ListRunners(ctx, orgScope); err == nil {
		t.Error("ListRunners with an unknown installation succeeded")
	}
}

func TestUnauthorized(t *testing.T) {
	_, srv := newSim(t, githubsim.Options{})
	c := newClient(t, srv, func(o *github.Options) { o.Credentials = github.Credentials{Token: "ghp_wrong"} })
	if _, err := c.ListRunners(context.Background(), orgScope); !errors.Is(err, github.ErrUnauthorized) {
		t.Errorf("ListRunners with a wrong token: error = %v, want ErrUnauthorized", err)
	}
}

func TestPrimaryRateLimit(t *testing.T) {
	// A short window on the real clock: go-github keeps its own record of
	// the limit, by the real clock.
	sim, srv := newSim(t, githubsim.Options{PrimaryLimit: 5, PrimaryWindow: 2 * time.Second})
	var ids []int64
	for i := range 10 {
		ids = append(ids, sim.AddRunner("octo", "", "runner-"+itoa(i)).ID)
	}
	c := newClient(t, srv)
	ctx := context.Background()

	for _, id := range ids[:5] {
		if _, err := c.GetRunner(ctx, orgScope, id); err != nil {
			t.Fatalf("GetRunner within the limit: %v", err)
		}
	}
	// GitHub said 0 remaining: the budget refuses without asking GitHub.
	_, err := c.GetRunner(ctx, orgScope, ids[5])
	d, ok := github.RetryAfter(err)
	if !ok || d <= 0 || d > 4*time.Second {
		t.Fatalf("GetRunner over the limit: error = %v, want retry after the window's reset", err)
	}
	if got := sim.Calls()["GET /orgs/{org}/actions/runners/{id}"]; got != 5 {
		t.Errorf("%d requests reached GitHub, want 5: none may be sent while the budget says wait", got)
	}

	// A client that did not see the headers learns it from GitHub's 403,
	// and then sends nothing more until the reset.
	other := newClient(t, srv)
	if _, err := other.GetRunner(ctx, orgScope, ids[6]); err == nil {
		t.Fatal("GetRunner over the limit succeeded")
	} else if _, ok := github.RetryAfter(err); !ok {
		t.Fatalf("GetRunner answered 403: error = %v, want a *RetryAfterError", err)
	}
	_, err = other.GetRunner(ctx, orgScope, ids[7])
	otherWait, ok := github.RetryAfter(err)
	if !ok {
		t.Fatalf("second GetRunner over the limit: error = %v, want a *RetryAfterError", err)
	}
	if got := sim.Calls()["GET /orgs/{org}/actions/runners/{id}"]; got != 6 {
		t.Errorf("%d requests reached GitHub, want 6", got)
	}

	// After the reset both clients work again.
	time.Sleep(max(d, otherWait))
	if _, err := c.GetRunner(ctx, orgScope, ids[8]); err != nil {
		t.Errorf("GetRunner after the reset: %v", err)
	}
	if _, err := other.GetRunner(ctx, orgScope, ids[9]); err != nil {
		t.Errorf("GetRunner after the reset (other client): %v", err)
	}
}

func TestSecondaryRateLimit(t *testing.T) {
	sim, srv := newSim(t, githubsim.Options{SecondaryPointsPerMinute: 12, SecondaryRetryAfter: 30 * time.Second})
	// Pacing off, so the client runs into GitHub's limit.
	c := newClient(t, srv, func(o *github.Options) { o.Budget.SecondaryPointsPerMinute = -1 })
	ctx := context.Background()
	register := func(name string) error {
		_, err := c.GenerateJITConfig(ctx, orgScope, github.JITConfigRequest{Name: name, Labels: []string{"x"}})
		return err
	}
	for _, name := range []string{"a", "b"} {
		if err := register(name); err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
	}
	err := register("c")
	d, ok := github.RetryAfter(err)
	if !ok || d != 30*time.Second {
		t.Fatalf("third registration: error = %v, want retry after Retry-After's 30s", err)
	}
	calls := sim.Calls()["POST /orgs/{org}/actions/runners/generate-jitconfig"]
	if err := register("d"); err == nil {
		t.Fatal("registration during Retry-After succeeded")
	}
	if got := sim.Calls()["POST /orgs/{org}/actions/runners/generate-jitconfig"]; got != calls {
		t.Errorf("A request was sent during Retry-After")
	}
	if len(sim.Runners()) != 2 {
		t.Errorf("%d runners registered, want 2", len(sim.Runners()))
	}
}

// failFirst answers the first n API requests with 502.
func failFirst(n int32) func(http.Handler) http.Handler {
	var count atomic.Int32
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasPrefix(r.URL.Path, "/_sim/") && count.Add(1) <= n {
				http.Error(w, `{"message":"Server Error"}`, http.StatusBadGateway)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func TestServerErrorsAreRetriedWithBackoff(t *testing.T) {
	sim, srv := newSim(t, githubsim.Options{}, failFirst(2))
	r := sim.AddRunner("octo", "", "runner-1")
	reg := prometheus.NewPedanticRegistry()
	metrics := github.NewMetrics(reg)
	c := newClient(t, srv, func(o *github.Options) { o.Metrics = metrics })
	ctx := context.Background()

	if _, err := c.GetRunner(ctx, orgScope, r.ID); err != nil {
		t.Fatalf("GetRunner after two 502s: %v", err)
	}
	if got := counterValue(t, reg, "octorun_github_requests_total", map[string]string{"operation": "GetRunner", "code": "502"}); got != 2 {
		t.Errorf("requests_total{GetRunner,502} = %v, want 2", got)
	}
	if got := counterValue(t, reg, "octorun_github_requests_total", map[string]string{"operation": "GetRunner", "code": "200"}); got != 1 {
		t.Errorf("requests_total{GetRunner,200} = %v, want 1", got)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("metrics lint: %v %v", problems, err)
	}

	// Always failing: 1 + 3 retries, then ErrServer.
	sim.SetServerErrorRate(1)
	if _, err := c.GetRunner(ctx, orgScope, r.ID+1000); !errors.Is(err, github.ErrServer) {
		t.Errorf("GetRunner against a failing GitHub: error = %v, want ErrServer", err)
	}
	// A registration is not retried: a 5xx may have registered it.
	sim.ResetCalls()
	if _, err := c.GenerateJITConfig(ctx, orgScope, github.JITConfigRequest{Name: "x", Labels: []string{"x"}}); !errors.Is(err, github.ErrServer) {
		t.Errorf("GenerateJITConfig against a failing GitHub: error = %v, want ErrServer", err)
	}
	if got := sim.Calls()["POST /orgs/{org}/actions/runners/generate-jitconfig"]; got != 1 {
		t.Errorf("GenerateJITConfig sent %d times, want 1", got)
	}
}

// counterValue returns the value of the series of a metric family with
// exactly the given labels.
func counterValue(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// atomicClock is a fake clock shared by the simulator and the client.
type atomicClock struct{ ns atomic.Int64 }

func (c *atomicClock) Now() time.Time       { return time.Unix(0, c.ns.Load()) }
func (c *atomicClock) Set(t time.Time)      { c.ns.Store(t.UnixNano()) }
func (c *atomicClock) Add(d time.Duration)  { c.ns.Add(int64(d)) }
func itoa(i int) string                     { return strconv.Itoa(i) }
func contains(list []string, s string) bool { return slices.Contains(list, s) }
