package githubsim

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestJobAssignment(t *testing.T) {
	type runnerSpec struct {
		owner, repo, name string
		labels            []string
		offline           bool
	}
	tests := []struct {
		name       string
		runners    []runnerSpec
		job        JobRequest
		wantRunner string // "" = stays queued
	}{
		{
			name:       "org runner with the labels",
			runners:    []runnerSpec{{owner: "octo", name: "r", labels: []string{"linux", "x64"}}},
			job:        JobRequest{Owner: "octo", Repo: "hello", Labels: []string{"linux"}},
			wantRunner: "r",
		},
		{
			name:       "labels without regard to case, self-hosted implied",
			runners:    []runnerSpec{{owner: "octo", name: "r", labels: []string{"Linux"}}},
			job:        JobRequest{Owner: "octo", Repo: "hello", Labels: []string{"self-hosted", "LINUX"}},
			wantRunner: "r",
		},
		{
			name:       "no labels: any runner",
			runners:    []runnerSpec{{owner: "octo", name: "r"}},
			job:        JobRequest{Owner: "octo", Repo: "hello"},
			wantRunner: "r",
		},
		{
			name:    "a label missing",
			runners: []runnerSpec{{owner: "octo", name: "r", labels: []string{"linux"}}},
			job:     JobRequest{Owner: "octo", Repo: "hello", Labels: []string{"linux", "gpu"}},
		},
		{
			name:    "offline runner",
			runners: []runnerSpec{{owner: "octo", name: "r", labels: []string{"linux"}, offline: true}},
			job:     JobRequest{Owner: "octo", Repo: "hello", Labels: []string{"linux"}},
		},
		{
			name:       "repository runner, its repository",
			runners:    []runnerSpec{{owner: "octo", repo: "hello", name: "r", labels: []string{"linux"}}},
			job:        JobRequest{Owner: "octo", Repo: "hello", Labels: []string{"linux"}},
			wantRunner: "r",
		},
		{
			name:    "repository runner, another repository",
			runners: []runnerSpec{{owner: "octo", repo: "other", name: "r", labels: []string{"linux"}}},
			job:     JobRequest{Owner: "octo", Repo: "hello", Labels: []string{"linux"}},
		},
		{
			name:    "another organization's runner",
			runners: []runnerSpec{{owner: "acme", name: "r", labels: []string{"linux"}}},
			job:     JobRequest{Owner: "octo", Repo: "hello", Labels: []string{"linux"}},
		},
		{
			name: "lowest id of the eligible",
			runners: []runnerSpec{
				{owner: "octo", name: "offline", labels: []string{"linux"}, offline: true},
				{owner: "octo", name: "gpu-less", labels: []string{"linux"}},
				{owner: "octo", name: "gpu-1", labels: []string{"linux", "gpu"}},
				{owner: "octo", name: "gpu-2", labels: []string{"linux", "gpu"}},
			},
			job:        JobRequest{Owner: "octo", Repo: "hello", Labels: []string{"gpu"}},
			wantRunner: "gpu-1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := New(Options{Logf: t.Logf})
			defer sim.Close()
			for _, rs := range tt.runners {
				r := sim.AddRunner(rs.owner, rs.repo, rs.name, rs.labels...)
				if !rs.offline {
					if err := sim.SetRunnerOnline(r.ID, true); err != nil {
						t.Fatal(err)
					}
				}
			}
			job := sim.QueueJob(tt.job)
			if job.RunnerName != tt.wantRunner {
				t.Fatalf("job went to %q, want %q", job.RunnerName, tt.wantRunner)
			}
			wantStatus := JobInProgress
			if tt.wantRunner == "" {
				wantStatus = JobQueued
			}
			if job.Status != wantStatus {
				t.Errorf("status %s, want %s", job.Status, wantStatus)
			}
			for _, r := range sim.Runners() {
				if r.Busy != (r.Name == tt.wantRunner) {
					t.Errorf("runner %s busy = %v", r.Name, r.Busy)
				}
			}
		})
	}
}

func TestEphemeralRunnerLifecycle(t *testing.T) {
	sim, ts := newSim(t, Options{})
	c := newClient(t, ts.URL, testToken)
	jit := mustJIT(t, c, "ephemeral", "linux")
	id := jit.Runner.GetID()

	job := sim.QueueJob(JobRequest{Owner: testOrg, Repo: testRepo, Labels: []string{"linux"}, Duration: 50 * time.Millisecond})
	if job.Status != JobQueued {
		t.Fatalf("job %s before any runner is online", job.Status)
	}
	// The runner pod starts with its config.
	r, ok := sim.RunnerByJITConfig(jit.EncodedJITConfig)
	if !ok {
		t.Fatal("runner not found by its jit config")
	}
	if err := sim.SetRunnerOnline(r.ID, true); err != nil {
		t.Fatal(err)
	}
	got, _, err := c.Actions.GetOrganizationRunner(context.Background(), testOrg, id)
	if err != nil || got.GetStatus() != "online" || !got.GetBusy() {
		t.Fatalf("running runner = %v, %v; want online and busy", got, err)
	}
	jobs := sim.Jobs()
	if jobs[0].Status != JobInProgress || jobs[0].RunnerID != id || jobs[0].RunnerName != "ephemeral" || jobs[0].StartedAt.IsZero() {
		t.Errorf("job = %+v, want in_progress on the runner", jobs[0])
	}

	eventually(t, "the job to complete", func() bool { return sim.Jobs()[0].Status == JobCompleted })
	if j := sim.Jobs()[0]; j.Conclusion != ConclusionSuccess || j.CompletedAt.IsZero() {
		t.Errorf("job = %+v, want success", j)
	}
	if _, ok := sim.Runner(id); ok {
		t.Error("ephemeral runner still registered after its job")
	}
	if _, resp, _ := c.Actions.GetOrganizationRunner(context.Background(), testOrg, id); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET deregistered runner = %d, want 404", resp.StatusCode)
	}
	if err := sim.SetRunnerOnline(id, true); err == nil {
		t.Error("a deregistered runner came back online")
	}
}

func TestJobsFirstInFirstOut(t *testing.T) {
	sim := New(Options{})
	defer sim.Close()
	first := sim.QueueJob(JobRequest{Owner: "octo", Repo: "hello", Labels: []string{"linux"}})
	second := sim.QueueJob(JobRequest{Owner: "octo", Repo: "hello", Labels: []string{"linux"}})
	r := sim.AddRunner("octo", "", "persistent", "linux")
	if err := sim.SetRunnerOnline(r.ID, true); err != nil {
		t.Fatal(err)
	}
	statuses := func() []string {
		var out []string
		for _, j := range sim.Jobs() {
			out = append(out, j.Status)
		}
		return out
	}
	if diff := cmp.Diff([]string{JobInProgress, JobQueued}, statuses()); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s", diff)
	}
	if err := sim.CompleteJob(first.ID); err != nil {
		t.Fatal(err)
	}
	// A runner registered with config.sh is not ephemeral: it takes the next job.
	if diff := cmp.Diff([]string{JobCompleted, JobInProgress}, statuses()); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s", diff)
	}
	j, _ := sim.Job(second.ID)
	want := Job{
		ID: second.ID, RunID: second.RunID, Owner: "octo", Repo: "hello", Labels: []string{"linux"},
		Status: JobInProgress, RunnerID: r.ID, RunnerName: "persistent",
		Name: "build", WorkflowName: "CI", HeadBranch: "main", RunnerGroupID: 1, RunnerGroupName: "Default",
	}
	if diff := cmp.Diff(want, j, cmpopts.IgnoreFields(Job{}, "CreatedAt", "StartedAt")); diff != "" {
		t.Errorf("second job (-want +got):\n%s", diff)
	}
}

func TestRunnerOfflineMidJob(t *testing.T) {
	sim := New(Options{})
	defer sim.Close()
	r := sim.AddRunner("octo", "", "r")
	if err := sim.SetRunnerOnline(r.ID, true); err != nil {
		t.Fatal(err)
	}
	job := sim.QueueJob(JobRequest{Owner: "octo", Repo: "hello"})
	if err := sim.SetRunnerOnline(r.ID, false); err != nil {
		t.Fatal(err)
	}
	j, _ := sim.Job(job.ID)
	if j.Status != JobCompleted || j.Conclusion != ConclusionFailure {
		t.Errorf("job = %s/%s, want completed/failure", j.Status, j.Conclusion)
	}
	got, ok := sim.Runner(r.ID)
	if !ok || got.Busy || got.Status != "offline" {
		t.Errorf("runner = %+v (registered %v), want registered, offline, idle", got, ok)
	}
}

func TestCompleteJobErrors(t *testing.T) {
	sim := New(Options{})
	defer sim.Close()
	queued := sim.QueueJob(JobRequest{Owner: "octo", Repo: "hello", Labels: []string{"nobody"}})
	if err := sim.CompleteJob(queued.ID); err == nil {
		t.Error("completed a queued job")
	}
	if err := sim.CompleteJob(99); err == nil {
		t.Error("completed an unknown job")
	}
}

func TestCloseStopsJobTimers(t *testing.T) {
	sim := New(Options{})
	r := sim.AddRunner("octo", "", "r")
	if err := sim.SetRunnerOnline(r.ID, true); err != nil {
		t.Fatal(err)
	}
	job := sim.QueueJob(JobRequest{Owner: "octo", Repo: "hello", Duration: 20 * time.Millisecond})
	sim.Close()
	sim.Close() // idempotent
	time.Sleep(60 * time.Millisecond)
	if j, _ := sim.Job(job.ID); j.Status != JobInProgress {
		t.Errorf("job %s after Close, want in_progress", j.Status)
	}
}
