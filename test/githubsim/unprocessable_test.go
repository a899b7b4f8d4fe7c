package githubsim

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-github/v50/github"
)

func TestJITSpammed(t *testing.T) {
	sim, ts := newSim(t, Options{JITSpammedRate: 1})
	c := newClient(t, ts.URL, testToken)
	_, resp, err := generateJIT(t, c, "orgs/"+testOrg, jitRequest{Name: "a", RunnerGroupID: 1, Labels: []string{"x"}})
	var er *github.ErrorResponse
	if !errors.As(err, &er) || resp.StatusCode != http.StatusUnprocessableEntity || er.Message != jitSpammedMessage {
		t.Fatalf("generate-jitconfig = %v, want 422 %q", err, jitSpammedMessage)
	}
	if n := len(sim.Runners()); n != 0 {
		t.Errorf("%d runners registered by a refused call", n)
	}
	sim.SetJITSpammedRate(0)
	if _, _, err := generateJIT(t, c, "orgs/"+testOrg, jitRequest{Name: "a", RunnerGroupID: 1, Labels: []string{"x"}}); err != nil {
		t.Errorf("generate-jitconfig after the rate went to 0: %v", err)
	}
}

func TestDeleteUnprocessable(t *testing.T) {
	sim, ts := newSim(t, Options{})
	c := newClient(t, ts.URL, testToken)
	busy := sim.AddRunner(testOrg, "", "busy")
	if err := sim.ConnectRunner(busy.ID, ""); err != nil {
		t.Fatal(err)
	}
	sim.QueueJob(JobRequest{Owner: testOrg, Repo: testRepo})
	idle := sim.AddRunner(testOrg, "", "idle")

	resp, b := do(t, http.MethodPut, ts.URL+"/_sim/config", "", map[string]float64{"delete_unprocessable_rate": 1})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT config = %d %s", resp.StatusCode, b)
	}

	var er *github.ErrorResponse
	resp2, err := c.Actions.RemoveOrganizationRunner(t.Context(), testOrg, idle.ID)
	if !errors.As(err, &er) || resp2.StatusCode != 422 || er.Message != "Validation Failed" {
		t.Errorf("delete idle = %v, want 422 Validation Failed", err)
	}
	if _, ok := sim.Runner(idle.ID); !ok {
		t.Error("a refused delete removed the runner")
	}
	resp2, err = c.Actions.RemoveOrganizationRunner(t.Context(), testOrg, busy.ID)
	want := fmt.Sprintf("Bad request - Runner %q is still running a job\"", "busy")
	if !errors.As(err, &er) || resp2.StatusCode != 422 || er.Message != want {
		t.Errorf("delete busy = %v, want 422 %s", err, want)
	}
}
