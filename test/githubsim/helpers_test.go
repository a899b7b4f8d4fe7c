package githubsim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v50/github"
)

const (
	testToken = "ghp_test"
	testOrg   = "octo"
	testRepo  = "hello"
)

// newSim starts a simulator with testToken, testOrg and testOrg/testRepo on
// an httptest server.
func newSim(t *testing.T, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	sim := New(opts)
	sim.AddToken(testToken)
	sim.AddOrganization(testOrg)
	sim.AddRepository(testOrg, testRepo)
	ts := httptest.NewServer(sim)
	t.Cleanup(func() {
		ts.Close()
		sim.Close()
	})
	return sim, ts
}

// tokenTransport authenticates like a personal access token.
type tokenTransport struct{ token string }

func (tt tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+tt.token)
	return http.DefaultTransport.RoundTrip(r)
}

// newClient returns a go-github client for the simulator at base.
func newClient(t *testing.T, base, token string) *github.Client {
	t.Helper()
	c := github.NewClient(&http.Client{Transport: tokenTransport{token: token}, Timeout: 30 * time.Second})
	u, err := url.Parse(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = u
	return c
}

// jitRequest is the body of generate-jitconfig.
type jitRequest struct {
	Name          string   `json:"name"`
	RunnerGroupID int64    `json:"runner_group_id"`
	Labels        []string `json:"labels"`
	WorkFolder    string   `json:"work_folder,omitempty"`
}

// jitResponse is generate-jitconfig's answer, as a client reads it.
type jitResponse struct {
	Runner           *github.Runner `json:"runner"`
	EncodedJITConfig string         `json:"encoded_jit_config"`
}

// generateJIT calls generate-jitconfig through go-github; path is
// "orgs/ORG" or "repos/OWNER/REPO".
func generateJIT(t *testing.T, c *github.Client, path string, body any) (*jitResponse, *github.Response, error) {
	t.Helper()
	req, err := c.NewRequest(http.MethodPost, path+"/actions/runners/generate-jitconfig", body)
	if err != nil {
		t.Fatal(err)
	}
	out := new(jitResponse)
	resp, err := c.Do(context.Background(), req, out)
	return out, resp, err
}

// mustJIT creates an organization just-in-time runner and returns its id.
func mustJIT(t *testing.T, c *github.Client, name string, labels ...string) *jitResponse {
	t.Helper()
	out, _, err := generateJIT(t, c, "orgs/"+testOrg, jitRequest{Name: name, RunnerGroupID: 1, Labels: labels})
	if err != nil {
		t.Fatalf("generate-jitconfig %s: %v", name, err)
	}
	return out
}

// do sends a raw request and returns the response with its body read.
func do(t *testing.T, method, u, token string, body any, header ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "token "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func decodeBody[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Now().Truncate(time.Second)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
