package github_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/octorun/octorun/pkg/github"
)

// routes answers requests by "METHOD path?query" with canned JSON answers
// (status 200 unless given), and records the requests.
type routes struct {
	mu       sync.Mutex
	answers  map[string]cannedAnswer
	requests []string
}

type cannedAnswer struct {
	status int
	body   string
}

func (rt *routes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.Path
	if r.URL.RawQuery != "" {
		key += "?" + r.URL.RawQuery
	}
	rt.mu.Lock()
	rt.requests = append(rt.requests, key)
	a, ok := rt.answers[key]
	rt.mu.Unlock()
	if !ok {
		a = cannedAnswer{status: http.StatusNotFound, body: `{"message":"Not Found"}`}
	}
	if a.status == 0 {
		a.status = http.StatusOK
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, _ = w.Write([]byte(a.body))
}

func TestEnterpriseScope(t *testing.T) {
	scope, err := github.ParseScope("https://github.com/enterprises/octo-corp")
	if err != nil {
		t.Fatal(err)
	}
	if !scope.IsEnterprise() || scope.IsOrganization() || scope.Owner != "octo-corp" {
		t.Fatalf("ParseScope = %+v, want the enterprise octo-corp", scope)
	}
	const base = "/enterprises/octo-corp/actions/"
	rt := &routes{answers: map[string]cannedAnswer{
		"POST " + base + "runners/generate-jitconfig": {status: http.StatusCreated,
			body: `{"runner":{"id":7,"name":"ent-1","os":"linux","status":"offline","labels":[{"name":"gpu"}]},"encoded_jit_config":"c2VjcmV0"}`},
		"GET " + base + "runner-groups?per_page=100&page=1": {body: `{"total_count":2,"runner_groups":[{"id":1,"name":"Default"},{"id":9,"name":"GPU"}]}`},
		"GET " + base + "runners?per_page=100&page=1":       {body: `{"total_count":1,"runners":[{"id":7,"name":"ent-1","busy":true,"status":"online"}]}`},
		"GET " + base + "runners?per_page=100&name=ent-1":   {body: `{"total_count":1,"runners":[{"id":7,"name":"ent-1"}]}`},
		"GET " + base + "runners/7":                         {body: `{"id":7,"name":"ent-1","busy":true,"status":"online"}`},
		"DELETE " + base + "runners/7":                      {status: http.StatusNoContent},
	}}
	c := newCannedClient(t, rt)
	ctx := context.Background()

	group, err := c.RunnerGroupID(ctx, scope, "gpu")
	if err != nil || group != 9 {
		t.Fatalf("RunnerGroupID(gpu) = %d, %v; want 9", group, err)
	}
	if id, err := c.RunnerGroupID(ctx, scope, ""); err != nil || id != 1 {
		t.Errorf("RunnerGroupID(Default) = %d, %v; want 1", id, err)
	}
	if _, err := c.RunnerGroupID(ctx, scope, "missing"); !errors.Is(err, github.ErrRunnerGroupNotFound) {
		t.Errorf("RunnerGroupID(missing) error = %v, want ErrRunnerGroupNotFound", err)
	}
	// An organization of the same name is another scope, with other groups.
	if _, err := c.RunnerGroupID(ctx, github.Scope{Host: "github.com", Owner: "octo-corp"}, "gpu"); !errors.Is(err, github.ErrNotFound) {
		t.Errorf("RunnerGroupID of the organization octo-corp: error = %v, want ErrNotFound from its own list", err)
	}
	cfg, err := c.GenerateJITConfig(ctx, scope, github.JITConfigRequest{Name: "ent-1", RunnerGroupID: group, Labels: []string{"gpu"}})
	if err != nil || cfg.Runner.ID != 7 || cfg.EncodedJITConfig != "c2VjcmV0" {
		t.Fatalf("GenerateJITConfig = %+v, %v", cfg, err)
	}
	if runners, err := c.ListRunners(ctx, scope); err != nil || len(runners) != 1 || !runners[0].Busy {
		t.Errorf("ListRunners = %+v, %v", runners, err)
	}
	if r, err := c.FindRunnerByName(ctx, scope, "ent-1"); err != nil || r.ID != 7 {
		t.Errorf("FindRunnerByName = %+v, %v", r, err)
	}
	if r, err := c.GetRunner(ctx, scope, 7); err != nil || r.Name != "ent-1" {
		t.Errorf("GetRunner = %+v, %v", r, err)
	}
	if err := c.DeleteRunner(ctx, scope, 7); err != nil {
		t.Errorf("DeleteRunner: %v", err)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, req := range rt.requests {
		if req == "GET /orgs/octo-corp/actions/runner-groups?per_page=100&page=1" {
			continue
		}
		if _, ok := rt.answers[req]; !ok {
			t.Errorf("Unexpected request %s", req)
		}
	}
}
