package githubsim

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCompareRunnerVersions(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{name: "equal", a: "2.329.0", b: "2.329.0", want: 0},
		{name: "older patch", a: "2.328.9", b: "2.329.0", want: -1},
		{name: "numeric, not lexical", a: "2.1000.0", b: "2.329.0", want: 1},
		{name: "leading v", a: "v2.336.0", b: "2.336.0", want: 0},
		{name: "unparsable is oldest", a: "latest", b: "0.0.1", want: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CompareRunnerVersions(tt.a, tt.b); got != tt.want {
				t.Errorf("CompareRunnerVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestConnectRunner(t *testing.T) {
	sim := New(Options{})
	defer sim.Close()
	if got := sim.MinRunnerVersion(); got != DefaultMinRunnerVersion {
		t.Errorf("default minimum = %q, want %q", got, DefaultMinRunnerVersion)
	}
	old := sim.AddRunner("octo", "", "old")
	if err := sim.ConnectRunner(old.ID, "2.328.0"); !errors.Is(err, ErrRunnerVersionDeprecated) {
		t.Errorf("connect 2.328.0 = %v, want ErrRunnerVersionDeprecated", err)
	}
	if r, _ := sim.Runner(old.ID); r.Status != "offline" {
		t.Errorf("refused runner is %s, want offline", r.Status)
	}
	current := sim.AddRunner("octo", "", "current")
	if err := sim.ConnectRunner(current.ID, "2.329.0"); err != nil {
		t.Errorf("connect 2.329.0 = %v", err)
	}
	if r, _ := sim.Runner(current.ID); r.Status != "online" || r.Version != "2.329.0" {
		t.Errorf("runner = %s version %q, want online 2.329.0", r.Status, r.Version)
	}
	// A second process with the same runner (two pods, one JIT config).
	if err := sim.ConnectRunner(current.ID, "2.329.0"); !errors.Is(err, ErrSessionConflict) {
		t.Errorf("second connect = %v, want ErrSessionConflict", err)
	}
	if err := sim.ConnectRunner(999, ""); !errors.Is(err, ErrRunnerNotFound) {
		t.Errorf("connect unknown = %v, want ErrRunnerNotFound", err)
	}
	latest := sim.AddRunner("octo", "", "latest")
	if err := sim.ConnectRunner(latest.ID, ""); err != nil {
		t.Errorf("connect without version = %v", err)
	}
	if r, _ := sim.Runner(latest.ID); r.Version != LatestRunnerVersion {
		t.Errorf("version = %q, want %q", r.Version, LatestRunnerVersion)
	}
	want := ConnectionCounts{Accepted: 2, VersionDeprecated: 1, SessionConflict: 1, NotFound: 1}
	if diff := cmp.Diff(want, sim.Connections()); diff != "" {
		t.Errorf("Connections (-want +got):\n%s", diff)
	}

	if err := sim.SetMinRunnerVersion(""); err != nil {
		t.Fatal(err)
	}
	if err := sim.ConnectRunner(old.ID, "2.300.0"); err != nil {
		t.Errorf("connect 2.300.0 without a minimum = %v", err)
	}
	if err := sim.SetMinRunnerVersion("latest"); err == nil {
		t.Error("SetMinRunnerVersion accepted a non-version")
	}
}

func TestControlConnect(t *testing.T) {
	sim, ts := newSim(t, Options{MinRunnerVersion: NoMinRunnerVersion})
	ctl := func(method, path string, body any, want int) []byte {
		t.Helper()
		resp, b := do(t, method, ts.URL+"/_sim"+path, "", body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, b, want)
		}
		return b
	}
	if got := decodeBody[ConfigJSON](t, ctl("GET", "/config", nil, 200)); *got.MinRunnerVersion != "" {
		t.Errorf("min_runner_version = %q, want none", *got.MinRunnerVersion)
	}
	ctl("PUT", "/config", map[string]any{"min_runner_version": "2.329.0", "never_connected_ttl": "30s"}, 200)
	cfg := decodeBody[ConfigJSON](t, ctl("GET", "/config", nil, 200))
	if *cfg.MinRunnerVersion != "2.329.0" || time.Duration(*cfg.NeverConnectedTTL) != 30*time.Second {
		t.Errorf("config = %q %v, want 2.329.0 30s", *cfg.MinRunnerVersion, time.Duration(*cfg.NeverConnectedTTL))
	}
	ctl("PUT", "/config", map[string]any{"min_runner_version": "new"}, 400)

	r := sim.AddRunner(testOrg, "", "r")
	path := fmt.Sprintf("/runners/%d", r.ID)
	refused := decodeBody[map[string]string](t, ctl("POST", path+"/connect", map[string]string{"version": "2.327.1"}, 403))
	if refused["reason"] != "version_deprecated" {
		t.Errorf("refusal = %v, want reason version_deprecated", refused)
	}
	ctl("POST", path+"/online", map[string]string{"version": "2.300.0"}, 403)
	got := decodeBody[RunnerJSON](t, ctl("POST", path+"/connect", map[string]string{"version": "2.330.0"}, 200))
	if got.Status != "online" || got.Version != "2.330.0" {
		t.Errorf("runner = %+v, want online 2.330.0", got)
	}
	ctl("POST", path+"/connect", nil, 409)
	ctl("POST", path+"/online", nil, 200) // idempotent
	ctl("POST", "/runners/999/connect", nil, 404)
	counts := decodeBody[ConnectionCounts](t, ctl("GET", "/connections", nil, 200))
	if diff := cmp.Diff(ConnectionCounts{Accepted: 1, VersionDeprecated: 2, SessionConflict: 1, NotFound: 1}, counts); diff != "" {
		t.Errorf("connections (-want +got):\n%s", diff)
	}
}

func TestEphemeralRunnerRemovedWhateverTheConclusion(t *testing.T) {
	for _, conclusion := range []string{ConclusionSuccess, ConclusionFailure, ConclusionCancelled} {
		t.Run(conclusion, func(t *testing.T) {
			sim, ts := newSim(t, Options{})
			c := newClient(t, ts.URL, testToken)
			jit := mustJIT(t, c, "ephemeral", "linux")
			id := jit.Runner.GetID()
			if err := sim.ConnectRunner(id, ""); err != nil {
				t.Fatal(err)
			}
			job := sim.QueueJob(JobRequest{Owner: testOrg, Repo: testRepo, Labels: []string{"linux"}})
			if err := sim.FinishJob(job.ID, conclusion); err != nil {
				t.Fatal(err)
			}
			if j, _ := sim.Job(job.ID); j.Status != JobCompleted || j.Conclusion != conclusion {
				t.Errorf("job = %s/%s, want completed/%s", j.Status, j.Conclusion, conclusion)
			}
			if _, ok := sim.Runner(id); ok {
				t.Errorf("ephemeral runner still registered after a %s job", conclusion)
			}
		})
	}
}

func TestCancelQueuedJob(t *testing.T) {
	sim := New(Options{})
	defer sim.Close()
	job := sim.QueueJob(JobRequest{Owner: "octo", Repo: "hello", Labels: []string{"nobody"}})
	if err := sim.FinishJob(job.ID, ConclusionSuccess); err == nil {
		t.Error("a queued job succeeded")
	}
	if err := sim.FinishJob(job.ID, ConclusionCancelled); err != nil {
		t.Fatal(err)
	}
	if j, _ := sim.Job(job.ID); j.Conclusion != ConclusionCancelled || j.RunnerID != 0 {
		t.Errorf("job = %+v, want cancelled without a runner", j)
	}
	if err := sim.FinishJob(job.ID, ConclusionCancelled); err == nil {
		t.Error("cancelled a completed job")
	}
}

func TestNeverConnectedRunnersAreRemoved(t *testing.T) {
	clock := newFakeClock()
	sim, ts := newSim(t, Options{Now: clock.Now, NeverConnectedTTL: 30 * time.Second})
	c := newClient(t, ts.URL, testToken)
	never := mustJIT(t, c, "never", "linux").Runner.GetID()
	lost := mustJIT(t, c, "lost", "linux").Runner.GetID()
	persistent := sim.AddRunner(testOrg, "", "config-sh").ID
	if err := sim.ConnectRunner(lost, ""); err != nil {
		t.Fatal(err)
	}
	clock.Step(20 * time.Second)
	if err := sim.SetRunnerOnline(lost, false); err != nil {
		t.Fatal(err)
	}
	clock.Step(15 * time.Second) // never: 35s since registration; lost: 15s offline
	if _, ok := sim.Runner(never); ok {
		t.Error("a runner that never connected is still registered after the TTL")
	}
	if _, ok := sim.Runner(lost); !ok {
		t.Error("a runner offline for less than the TTL was removed")
	}
	clock.Step(20 * time.Second)
	runners, _, err := c.Actions.ListOrganizationRunners(t.Context(), testOrg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if runners.TotalCount != 1 || runners.Runners[0].GetID() != persistent {
		t.Errorf("runners = %d, want only the config.sh runner (kept 14 days)", runners.TotalCount)
	}
	clock.Step(offlineRunnerTTL)
	if _, ok := sim.Runner(persistent); ok {
		t.Error("a config.sh runner offline for 14 days is still registered")
	}
}
