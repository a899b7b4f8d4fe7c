package githubsim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v50/github"
)

func TestGenerateJITConfig(t *testing.T) {
	sim, ts := newSim(t, Options{})
	c := newClient(t, ts.URL, testToken)

	out, resp, err := generateJIT(t, c, "orgs/"+testOrg, jitRequest{
		Name:          "runner-a",
		RunnerGroupID: 1,
		Labels:        []string{"linux", "Self-Hosted", "gpu", "LINUX"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("status = %d, want 201", resp.StatusCode)
	}
	want := &github.Runner{
		ID:     github.Int64(1),
		Name:   github.String("runner-a"),
		OS:     github.String("unknown"),
		Status: github.String("offline"),
		Busy:   github.Bool(false),
		// Exactly the labels sent (without duplicates), all custom: a
		// just-in-time runner gets no default labels.
		Labels: []*github.RunnerLabels{
			{ID: github.Int64(2), Name: github.String("linux"), Type: github.String("custom")},
			{ID: github.Int64(1), Name: github.String("Self-Hosted"), Type: github.String("custom")},
			{ID: github.Int64(3), Name: github.String("gpu"), Type: github.String("custom")},
		},
	}
	if diff := cmp.Diff(want, out.Runner); diff != "" {
		t.Errorf("runner (-want +got):\n%s", diff)
	}

	id, name, err := DecodeJITConfig(out.EncodedJITConfig)
	if err != nil || id != 1 || name != "runner-a" {
		t.Errorf("DecodeJITConfig = %d, %q, %v; want 1, runner-a", id, name, err)
	}
	got, ok := sim.RunnerByJITConfig(out.EncodedJITConfig)
	wantRunner := Runner{
		ID: 1, Name: "runner-a", OS: "unknown", Status: "offline", Labels: []string{"linux", "Self-Hosted", "gpu"},
		Org: testOrg, GroupID: 1, JITConfig: out.EncodedJITConfig, Ephemeral: true,
	}
	if diff := cmp.Diff(wantRunner, got); !ok || diff != "" {
		t.Errorf("RunnerByJITConfig ok=%v (-want +got):\n%s", ok, diff)
	}
	if _, ok := sim.RunnerByJITConfig(out.EncodedJITConfig[:len(out.EncodedJITConfig)-4] + "AAA="); ok {
		t.Error("RunnerByJITConfig accepted a config it did not issue")
	}
	if err := sim.SetRunnerOnline(1, true); err != nil {
		t.Fatal(err)
	}
	if r, _ := sim.Runner(1); r.OS != "Linux" || r.Status != "online" {
		t.Errorf("online runner: OS %q status %q, want Linux online", r.OS, r.Status)
	}
}

func TestGenerateJITConfigErrors(t *testing.T) {
	sim, ts := newSim(t, Options{})
	gpu := sim.AddRunnerGroup(testOrg, "gpu")
	sim.AddRunner(testOrg, "", "taken", "linux")
	sim.AddRunner(testOrg, testRepo, "repo-taken", "linux")
	hundred := make([]string, 100)
	for i := range hundred {
		hundred[i] = fmt.Sprintf("l%d", i)
	}
	org := ts.URL + "/orgs/" + testOrg + "/actions/runners/generate-jitconfig"
	repo := ts.URL + "/repos/" + testOrg + "/" + testRepo + "/actions/runners/generate-jitconfig"

	tests := []struct {
		name       string
		url        string
		body       any
		wantStatus int
		wantMsg    string // substring of message; "" = no check
	}{
		{name: "org", url: org, body: jitRequest{Name: "a", RunnerGroupID: 1, Labels: []string{"x"}}, wantStatus: 201},
		{name: "org custom group", url: org, body: jitRequest{Name: "b", RunnerGroupID: gpu, Labels: []string{"x"}}, wantStatus: 201},
		{name: "repo", url: repo, body: jitRequest{Name: "a", RunnerGroupID: 1, Labels: []string{"x"}}, wantStatus: 201},
		{name: "100 labels", url: org, body: jitRequest{Name: "c", RunnerGroupID: 1, Labels: hundred}, wantStatus: 201},
		{name: "101 labels", url: org, body: jitRequest{Name: "d", RunnerGroupID: 1, Labels: append(hundred, "one-more")}, wantStatus: 422, wantMsg: "labels"},
		{name: "no labels", url: org, body: jitRequest{Name: "d", RunnerGroupID: 1, Labels: []string{}}, wantStatus: 422, wantMsg: "labels"},
		{name: "labels missing", url: org, body: map[string]any{"name": "d", "runner_group_id": 1}, wantStatus: 422, wantMsg: "missing required key: labels"},
		{name: "name missing", url: org, body: map[string]any{"runner_group_id": 1, "labels": []string{"x"}}, wantStatus: 422, wantMsg: "missing required key: name"},
		{name: "empty name", url: org, body: jitRequest{RunnerGroupID: 1, Labels: []string{"x"}}, wantStatus: 422, wantMsg: "name"},
		{name: "group missing", url: org, body: map[string]any{"name": "d", "labels": []string{"x"}}, wantStatus: 422, wantMsg: "missing required key: runner_group_id"},
		{name: "wrong type", url: org, body: map[string]any{"name": 7, "runner_group_id": 1, "labels": []string{"x"}}, wantStatus: 422},
		{name: "unknown group", url: org, body: jitRequest{Name: "d", RunnerGroupID: 99, Labels: []string{"x"}}, wantStatus: 422, wantMsg: "runner_group_id"},
		{name: "repo with org group", url: repo, body: jitRequest{Name: "d", RunnerGroupID: gpu, Labels: []string{"x"}}, wantStatus: 422, wantMsg: "runner_group_id"},
		{name: "label too long", url: org, body: jitRequest{Name: "d", RunnerGroupID: 1, Labels: []string{strings.Repeat("x", 257)}}, wantStatus: 422, wantMsg: "labels"},
		{name: "empty label", url: org, body: jitRequest{Name: "d", RunnerGroupID: 1, Labels: []string{""}}, wantStatus: 422, wantMsg: "labels"},
		{name: "duplicate org name", url: org, body: jitRequest{Name: "taken", RunnerGroupID: 1, Labels: []string{"x"}}, wantStatus: 409,
			wantMsg: "Already exists - A runner with the name taken already exists."},
		{name: "duplicate repo name", url: repo, body: jitRequest{Name: "repo-taken", RunnerGroupID: 1, Labels: []string{"x"}}, wantStatus: 409},
		{name: "org name free in repo", url: repo, body: jitRequest{Name: "taken", RunnerGroupID: 1, Labels: []string{"x"}}, wantStatus: 201},
		{name: "repo name free in org", url: org, body: jitRequest{Name: "repo-taken", RunnerGroupID: 1, Labels: []string{"x"}}, wantStatus: 201},
		{name: "unknown org", url: ts.URL + "/orgs/nope/actions/runners/generate-jitconfig", body: jitRequest{Name: "e", RunnerGroupID: 1, Labels: []string{"x"}}, wantStatus: 404},
		{name: "unknown repo", url: ts.URL + "/repos/octo/nope/actions/runners/generate-jitconfig", body: jitRequest{Name: "e", RunnerGroupID: 1, Labels: []string{"x"}}, wantStatus: 404},
		{name: "malformed JSON", url: org, body: "{", wantStatus: 400, wantMsg: "Problems parsing JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(sim.Runners())
			var resp *http.Response
			var body []byte
			if s, ok := tt.body.(string); ok {
				req, _ := http.NewRequest(http.MethodPost, tt.url, strings.NewReader(s))
				req.Header.Set("Authorization", "Bearer "+testToken)
				r, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				r.Body.Close()
				resp = r
			} else {
				resp, body = do(t, http.MethodPost, tt.url, testToken, tt.body)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			created := len(sim.Runners()) - before
			if wantCreated := map[bool]int{true: 1, false: 0}[tt.wantStatus == 201]; created != wantCreated {
				t.Errorf("%d runners created, want %d", created, wantCreated)
			}
			if tt.wantMsg != "" && body != nil {
				e := decodeBody[errorBody](t, body)
				text := e.Message
				for _, fe := range e.Errors {
					text += " " + fe.Field + ": " + fe.Message
				}
				if !strings.Contains(text, tt.wantMsg) || e.DocumentationURL == "" {
					t.Errorf("error = %+v, want message containing %q and a documentation_url", e, tt.wantMsg)
				}
			}
		})
	}
}

func TestListRunnersPagination(t *testing.T) {
	sim, ts := newSim(t, Options{})
	for i := 1; i <= 250; i++ {
		sim.AddRunner(testOrg, "", fmt.Sprintf("runner-%03d", i), "linux")
	}
	for i := 1; i <= 3; i++ {
		sim.AddRunner(testOrg, testRepo, fmt.Sprintf("repo-runner-%d", i))
	}
	c := newClient(t, ts.URL, testToken)
	ctx := context.Background()

	var names []string
	opts := &github.ListOptions{PerPage: 100}
	pages := 0
	for {
		list, resp, err := c.Actions.ListOrganizationRunners(ctx, testOrg, opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if list.TotalCount != 250 {
			t.Errorf("page %d: total_count = %d, want 250", opts.Page, list.TotalCount)
		}
		if pages == 1 && (resp.LastPage != 3 || resp.NextPage != 2 || resp.FirstPage != 0 || resp.PrevPage != 0) {
			t.Errorf("page 1: next %d prev %d first %d last %d, want next 2 last 3", resp.NextPage, resp.PrevPage, resp.FirstPage, resp.LastPage)
		}
		for _, r := range list.Runners {
			names = append(names, r.GetName())
		}
		if resp.NextPage == 0 {
			if resp.PrevPage != 2 || resp.FirstPage != 1 || resp.LastPage != 0 {
				t.Errorf("last page: prev %d first %d last %d, want prev 2 first 1", resp.PrevPage, resp.FirstPage, resp.LastPage)
			}
			break
		}
		opts.Page = resp.NextPage
	}
	if pages != 3 || len(names) != 250 || names[0] != "runner-001" || names[249] != "runner-250" {
		t.Errorf("got %d pages, %d runners (%v…), want 3 pages of runner-001…runner-250", pages, len(names), names[:min(3, len(names))])
	}

	// The Link header as GitHub writes it, keeping the request's query.
	resp, _ := do(t, http.MethodGet, ts.URL+"/orgs/octo/actions/runners?per_page=100&page=2", testToken, nil)
	base := ts.URL + "/orgs/octo/actions/runners"
	wantLink := fmt.Sprintf(`<%[1]s?page=1&per_page=100>; rel="prev", <%[1]s?page=3&per_page=100>; rel="next", <%[1]s?page=3&per_page=100>; rel="last", <%[1]s?page=1&per_page=100>; rel="first"`, base)
	if got := resp.Header.Get("Link"); got != wantLink {
		t.Errorf("Link =\n%s\nwant\n%s", got, wantLink)
	}

	pageTests := []struct {
		name      string
		query     string
		wantCount int
		wantFirst string
		wantLast  int // rel="last" page, 0 = none
	}{
		{name: "default per_page", query: "", wantCount: 30, wantFirst: "runner-001", wantLast: 9},
		{name: "per_page capped at 100", query: "?per_page=500", wantCount: 100, wantFirst: "runner-001", wantLast: 3},
		{name: "page 9 of 30", query: "?page=9", wantCount: 10, wantFirst: "runner-241"},
		{name: "past the end", query: "?page=10", wantCount: 0},
		{name: "bad values ignored", query: "?page=x&per_page=-1", wantCount: 30, wantFirst: "runner-001", wantLast: 9},
		{name: "name filter", query: "?name=runner-042", wantCount: 1, wantFirst: "runner-042"},
		{name: "name filter no match", query: "?name=nope", wantCount: 0},
	}
	for _, tt := range pageTests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, http.MethodGet, ts.URL+"/orgs/octo/actions/runners"+tt.query, testToken, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			list := decodeBody[github.Runners](t, body)
			if len(list.Runners) != tt.wantCount {
				t.Fatalf("%d runners, want %d", len(list.Runners), tt.wantCount)
			}
			if tt.wantCount > 0 && list.Runners[0].GetName() != tt.wantFirst {
				t.Errorf("first = %s, want %s", list.Runners[0].GetName(), tt.wantFirst)
			}
			if tt.wantLast != 0 && !strings.Contains(resp.Header.Get("Link"), fmt.Sprintf(`page=%d`, tt.wantLast)) {
				t.Errorf("Link %q has no last page %d", resp.Header.Get("Link"), tt.wantLast)
			}
		})
	}

	repoList, _, err := c.Actions.ListRunners(ctx, testOrg, testRepo, nil)
	if err != nil {
		t.Fatal(err)
	}
	if repoList.TotalCount != 3 || len(repoList.Runners) != 3 || repoList.Runners[0].GetName() != "repo-runner-1" {
		t.Errorf("repository runners = %d (%d listed), want its 3 only", repoList.TotalCount, len(repoList.Runners))
	}
}

func TestEnterprisePrefix(t *testing.T) {
	sim, ts := newSim(t, Options{})
	for i := 0; i < 5; i++ {
		sim.AddRunner(testOrg, "", fmt.Sprintf("r%d", i))
	}
	c, err := github.NewEnterpriseClient(ts.URL, ts.URL, &http.Client{Transport: tokenTransport{token: testToken}})
	if err != nil {
		t.Fatal(err)
	}
	list, resp, err := c.Actions.ListOrganizationRunners(context.Background(), testOrg, &github.ListOptions{PerPage: 2})
	if err != nil {
		t.Fatal(err)
	}
	if list.TotalCount != 5 || resp.NextPage != 2 || resp.LastPage != 3 {
		t.Errorf("total %d next %d last %d, want 5, 2, 3", list.TotalCount, resp.NextPage, resp.LastPage)
	}
	if link := resp.Header.Get("Link"); !strings.HasPrefix(link, "<"+ts.URL+"/api/v3/orgs/octo/actions/runners?") {
		t.Errorf("Link %q does not keep the /api/v3 prefix", link)
	}
	if got := sim.Calls()["GET /orgs/{org}/actions/runners"]; got != 1 {
		t.Errorf("calls counted without prefix = %d, want 1", got)
	}
}

func TestGetAndDeleteRunner(t *testing.T) {
	sim, ts := newSim(t, Options{})
	c := newClient(t, ts.URL, testToken)
	ctx := context.Background()
	orgRunner := sim.AddRunner(testOrg, "", "org-runner", "linux")
	repoRunner := sim.AddRunner(testOrg, testRepo, "repo-runner")

	r, resp, err := c.Actions.GetOrganizationRunner(ctx, testOrg, orgRunner.ID)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("get: %v", err)
	}
	want := &github.Runner{
		ID: github.Int64(orgRunner.ID), Name: github.String("org-runner"), OS: github.String("Linux"),
		Status: github.String("offline"), Busy: github.Bool(false),
		// config.sh's system labels; "linux" is "Linux" already.
		Labels: []*github.RunnerLabels{
			{ID: github.Int64(1), Name: github.String("self-hosted"), Type: github.String("read-only")},
			{ID: github.Int64(2), Name: github.String("Linux"), Type: github.String("read-only")},
			{ID: github.Int64(3), Name: github.String("X64"), Type: github.String("read-only")},
		},
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("runner (-want +got):\n%s", diff)
	}

	notFound := []struct {
		name string
		call func() (*github.Response, error)
	}{
		{"repo runner via org", func() (*github.Response, error) {
			_, resp, err := c.Actions.GetOrganizationRunner(ctx, testOrg, repoRunner.ID)
			return resp, err
		}},
		{"org runner via repo", func() (*github.Response, error) {
			_, resp, err := c.Actions.GetRunner(ctx, testOrg, testRepo, orgRunner.ID)
			return resp, err
		}},
		{"unknown id", func() (*github.Response, error) {
			_, resp, err := c.Actions.GetOrganizationRunner(ctx, testOrg, 999)
			return resp, err
		}},
		{"unknown org", func() (*github.Response, error) {
			_, resp, err := c.Actions.GetOrganizationRunner(ctx, "nope", orgRunner.ID)
			return resp, err
		}},
		{"delete unknown", func() (*github.Response, error) { return c.Actions.RemoveOrganizationRunner(ctx, testOrg, 999) }},
		{"delete repo runner via org", func() (*github.Response, error) {
			return c.Actions.RemoveOrganizationRunner(ctx, testOrg, repoRunner.ID)
		}},
	}
	for _, tt := range notFound {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.call()
			var er *github.ErrorResponse
			if !errors.As(err, &er) || resp.StatusCode != 404 || er.Message != "Not Found" || er.DocumentationURL != "https://docs.github.com/rest" {
				t.Errorf("got %v, want 404 Not Found", err)
			}
		})
	}

	resp, err = c.Actions.RemoveRunner(ctx, testOrg, testRepo, repoRunner.ID)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete repo runner: %v", err)
	}
	if _, ok := sim.Runner(repoRunner.ID); ok {
		t.Error("deleted runner still registered")
	}

	// A busy runner cannot be deleted.
	if err := sim.SetRunnerOnline(orgRunner.ID, true); err != nil {
		t.Fatal(err)
	}
	job := sim.QueueJob(JobRequest{Owner: testOrg, Repo: testRepo, Labels: []string{"linux"}})
	resp, err = c.Actions.RemoveOrganizationRunner(ctx, testOrg, orgRunner.ID)
	var er *github.ErrorResponse
	if !errors.As(err, &er) || resp.StatusCode != 422 || er.Message != `Bad request - Runner "org-runner" is still running a job"` {
		t.Fatalf("delete busy runner: %v, want 422", err)
	}
	if err := sim.CompleteJob(job.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Actions.RemoveOrganizationRunner(ctx, testOrg, orgRunner.ID); err != nil {
		t.Fatalf("delete idle runner: %v", err)
	}
}

func TestRunnerGroups(t *testing.T) {
	sim, ts := newSim(t, Options{})
	gpu := sim.AddRunnerGroup(testOrg, "gpu")
	if again := sim.AddRunnerGroup(testOrg, "gpu"); again != gpu {
		t.Errorf("AddRunnerGroup again = %d, want %d", again, gpu)
	}
	c := newClient(t, ts.URL, testToken)
	groups, resp, err := c.Actions.ListOrganizationRunnerGroups(context.Background(), testOrg, nil)
	if err != nil {
		t.Fatal(err)
	}
	runnersURL := func(id int64) *string {
		return github.String(fmt.Sprintf("%s/orgs/octo/actions/runner-groups/%d/runners", ts.URL, id))
	}
	want := &github.RunnerGroups{
		TotalCount: 2,
		RunnerGroups: []*github.RunnerGroup{
			{ID: github.Int64(1), Name: github.String("Default"), Visibility: github.String("all"), Default: github.Bool(true),
				RunnersURL: runnersURL(1), Inherited: github.Bool(false), AllowsPublicRepositories: github.Bool(false),
				RestrictedToWorkflows: github.Bool(false), SelectedWorkflows: []string{}, WorkflowRestrictionsReadOnly: github.Bool(false)},
			{ID: github.Int64(gpu), Name: github.String("gpu"), Visibility: github.String("all"), Default: github.Bool(false),
				RunnersURL: runnersURL(gpu), Inherited: github.Bool(false), AllowsPublicRepositories: github.Bool(false),
				RestrictedToWorkflows: github.Bool(false), SelectedWorkflows: []string{}, WorkflowRestrictionsReadOnly: github.Bool(false)},
		},
	}
	if diff := cmp.Diff(want, groups); diff != "" || resp.Header.Get("Link") != "" {
		t.Errorf("groups (-want +got):\n%s\nLink %q", diff, resp.Header.Get("Link"))
	}

	page, resp, err := c.Actions.ListOrganizationRunnerGroups(context.Background(), testOrg,
		&github.ListOrgRunnerGroupOptions{ListOptions: github.ListOptions{PerPage: 1, Page: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.RunnerGroups) != 1 || page.RunnerGroups[0].GetName() != "gpu" || resp.PrevPage != 1 || resp.NextPage != 0 {
		t.Errorf("page 2 of 1 = %v, prev %d next %d", page.RunnerGroups, resp.PrevPage, resp.NextPage)
	}

	g, _, err := c.Actions.GetOrganizationRunnerGroup(context.Background(), testOrg, gpu)
	if err != nil || g.GetName() != "gpu" {
		t.Errorf("get group = %v, %v", g, err)
	}
	if _, resp, err := c.Actions.ListOrganizationRunnerGroups(context.Background(), "nope", nil); err == nil || resp.StatusCode != 404 {
		t.Errorf("unknown org: %v, want 404", err)
	}
}

func TestUnknownEndpoints(t *testing.T) {
	sim, ts := newSim(t, Options{})
	tests := []struct {
		name, method, path, token string
		wantStatus                int
	}{
		{"unknown path", "GET", "/user/repos", testToken, 404},
		{"unknown path without token", "GET", "/nothing", "", 404},
		{"unknown path bad token", "GET", "/nothing", "bad", 401},
		{"wrong method", "PUT", "/orgs/octo/actions/runners", testToken, 404},
		{"non-numeric id", "GET", "/orgs/octo/actions/runners/abc", testToken, 404},
		{"prefix root", "GET", "/api/v3", testToken, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, tt.method, ts.URL+tt.path, tt.token, nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == 404 && string(body) != `{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}` {
				t.Errorf("body %s", body)
			}
		})
	}
	if got := sim.Calls()["GET "+UnmatchedPattern]; got != 4 {
		t.Errorf("unmatched GET calls = %d, want 4", got)
	}
}

func TestCaseInsensitiveNames(t *testing.T) {
	sim, ts := newSim(t, Options{})
	sim.AddRunner(testOrg, testRepo, "r")
	for _, path := range []string{"/orgs/OCTO/actions/runners", "/repos/Octo/HELLO/actions/runners"} {
		if resp, body := do(t, "GET", ts.URL+path, testToken, nil); resp.StatusCode != 200 {
			t.Errorf("GET %s = %d %s", path, resp.StatusCode, body)
		}
	}
}

func TestConcurrentRequests(t *testing.T) {
	sim, ts := newSim(t, Options{})
	c := newClient(t, ts.URL, testToken)
	const workers, each = 8, 20
	var wg sync.WaitGroup
	statuses := make(chan int, workers*(each+1))
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, _, err := generateJIT(t, c, "orgs/"+testOrg, jitRequest{Name: fmt.Sprintf("w%d-%d", w, i), RunnerGroupID: 1, Labels: []string{"x"}}); err != nil {
					t.Error(err)
				}
				if _, _, err := c.Actions.ListOrganizationRunners(context.Background(), testOrg, nil); err != nil {
					t.Error(err)
				}
			}
			_, resp, _ := generateJIT(t, c, "orgs/"+testOrg, jitRequest{Name: "shared", RunnerGroupID: 1, Labels: []string{"x"}})
			statuses <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if diff := cmp.Diff(map[int]int{201: 1, 409: workers - 1}, count); diff != "" {
		t.Errorf("racing for one name (-want +got):\n%s", diff)
	}
	runners := sim.Runners()
	if len(runners) != workers*each+1 {
		t.Fatalf("%d runners, want %d", len(runners), workers*each+1)
	}
	for i, r := range runners {
		if r.ID != int64(i+1) {
			t.Fatalf("ids not sequential: runner %d has id %d", i, r.ID)
		}
	}
}
