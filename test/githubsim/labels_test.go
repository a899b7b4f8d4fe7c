package githubsim

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestJobLabelsMatchWithoutRegardToCase(t *testing.T) {
	sim, ts := newSim(t, Options{})
	c := newClient(t, ts.URL, testToken)
	jit := mustJIT(t, c, "r", "self-hosted", "Linux", "X64")
	if diff := cmp.Diff([]string{"self-hosted", "Linux", "X64"}, mustRunner(t, sim, jit.Runner.GetID()).Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if err := sim.ConnectRunner(jit.Runner.GetID(), ""); err != nil {
		t.Fatal(err)
	}
	job := sim.QueueJob(JobRequest{Owner: testOrg, Repo: testRepo, Labels: []string{"self-hosted", "linux", "x64"}})
	if j, _ := sim.Job(job.ID); j.Status != JobInProgress || j.RunnerID != jit.Runner.GetID() {
		t.Errorf("job = %s on runner %d, want in_progress on %d", j.Status, j.RunnerID, jit.Runner.GetID())
	}
}

func TestJITRunnerGetsNoDefaultLabels(t *testing.T) {
	sim, ts := newSim(t, Options{})
	c := newClient(t, ts.URL, testToken)
	jit := mustJIT(t, c, "custom-only", "size=large")
	if err := sim.ConnectRunner(jit.Runner.GetID(), ""); err != nil {
		t.Fatal(err)
	}
	// "self-hosted" is a label like any other: this runner lacks it.
	job := sim.QueueJob(JobRequest{Owner: testOrg, Repo: testRepo, Labels: []string{"self-hosted", "size=large"}})
	if j, _ := sim.Job(job.ID); j.Status != JobQueued {
		t.Errorf("job = %s, want queued: the runner has no self-hosted label", j.Status)
	}
	other := sim.QueueJob(JobRequest{Owner: testOrg, Repo: testRepo, Labels: []string{"SIZE=LARGE"}})
	if j, _ := sim.Job(other.ID); j.Status != JobInProgress {
		t.Errorf("job = %s, want in_progress", j.Status)
	}
}

func mustRunner(t *testing.T, sim *Server, id int64) Runner {
	t.Helper()
	r, ok := sim.Runner(id)
	if !ok {
		t.Fatalf("runner %d is not registered", id)
	}
	return r
}
