package githubsim

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-github/v50/github"
)

func TestServerErrors(t *testing.T) {
	sim, ts := newSim(t, Options{ServerErrorRate: 1})
	c := newClient(t, ts.URL, testToken)

	for i := 0; i < 20; i++ {
		_, resp, err := generateJIT(t, c, "orgs/"+testOrg, jitRequest{Name: "r", RunnerGroupID: 1, Labels: []string{"x"}})
		var er *github.ErrorResponse
		if !errors.As(err, &er) || (resp.StatusCode != 502 && resp.StatusCode != 503) || er.Message == "" {
			t.Fatalf("err = %v, want a 502 or 503 with a message", err)
		}
	}
	if n := len(sim.Runners()); n != 0 {
		t.Errorf("failed calls registered %d runners", n)
	}
	byStatus := sim.CallsByStatus()
	if byStatus[502]+byStatus[503] != 20 || sim.Calls()["POST /orgs/{org}/actions/runners/generate-jitconfig"] != 20 {
		t.Errorf("counters: %v %v", byStatus, sim.Calls())
	}

	sim.SetServerErrorRate(0)
	_, resp, err := generateJIT(t, c, "orgs/"+testOrg, jitRequest{Name: "r", RunnerGroupID: 1, Labels: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("X-RateLimit-Used") != "1" {
		t.Errorf("used %s after 20 server errors, want 1: errors cost nothing", resp.Header.Get("X-RateLimit-Used"))
	}

	sim.SetServerErrorRate(0.5)
	sim.ResetCalls()
	for i := 0; i < 200; i++ {
		do(t, http.MethodGet, ts.URL+"/orgs/octo/actions/runners", testToken, nil)
	}
	byStatus = sim.CallsByStatus()
	if byStatus[200] < 60 || byStatus[200] > 140 || byStatus[502] == 0 || byStatus[503] == 0 {
		t.Errorf("with rate 0.5: %v", byStatus)
	}
}

func TestLatency(t *testing.T) {
	sim, ts := newSim(t, Options{Latency: 100 * time.Millisecond})
	start := time.Now()
	if resp, _ := do(t, http.MethodGet, ts.URL+"/orgs/octo/actions/runners", testToken, nil); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("answered in %v, want at least 100ms", d)
	}

	// A client that gives up is not kept waiting, and its call changes nothing.
	sim.SetLatency(time.Minute)
	c := newClient(t, ts.URL, testToken)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, _, err := generateJITCtx(ctx, c, jitRequest{Name: "r", RunnerGroupID: 1, Labels: []string{"x"}})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Errorf("err = %v after %v, want the deadline", err, time.Since(start))
	}
	eventually(t, "the abandoned call to be counted", func() bool { return sim.CallsByStatus()[statusClientClosedRequest] == 1 })
	if n := len(sim.Runners()); n != 0 {
		t.Errorf("an abandoned call registered %d runners", n)
	}
}

func generateJITCtx(ctx context.Context, c *github.Client, body jitRequest) (*jitResponse, *github.Response, error) {
	req, err := c.NewRequest(http.MethodPost, "orgs/"+testOrg+"/actions/runners/generate-jitconfig", body)
	if err != nil {
		return nil, nil, err
	}
	out := new(jitResponse)
	resp, err := c.Do(ctx, req, out)
	return out, resp, err
}
