package github_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/octorun/octorun/pkg/github"
)

// appGitHub plays GitHub for an App installed on organizations (and an
// enterprise): it answers installation lookups (App JWT), installation
// tokens, and runner lists (installation tokens, each only on its own
// installation's scope, with an ETag per token).
type appGitHub struct {
	mu            sync.Mutex
	installations map[string]int64 // scope path, e.g. "orgs/octo", to installation id
	lookups       map[string]int
	tokens        map[int64]int
	ifNoneMatch   []string // "token etag" of conditional requests
	limited       map[int64]bool
}

func newAppGitHub() *appGitHub {
	return &appGitHub{
		installations: map[string]int64{"orgs/octo": 11, "repos/octo/hello": 11, "orgs/other": 22, "enterprises/octo-corp": 33},
		lookups:       map[string]int{}, tokens: map[int64]int{}, limited: map[int64]bool{},
	}
}

func (g *appGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	auth := r.Header.Get("Authorization")
	path := strings.TrimPrefix(r.URL.Path, "/")
	switch {
	case strings.HasSuffix(path, "/installation"):
		if !strings.HasPrefix(auth, "Bearer ") {
			http.Error(w, `{"message":"A JSON web token could not be decoded"}`, http.StatusUnauthorized)
			return
		}
		scope := strings.TrimSuffix(path, "/installation")
		g.lookups[scope]++
		id, ok := g.installations[scope]
		if !ok {
			http.Error(w, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest/apps/apps#get-an-organization-installation-for-the-authenticated-app"}`, http.StatusNotFound)
			return
		}
		fmt.Fprintf(w, `{"id":%d,"app_id":4242}`, id)
	case r.Method == http.MethodPost && strings.HasPrefix(path, "app/installations/"):
		var id int64
		fmt.Sscanf(path, "app/installations/%d/access_tokens", &id)
		g.tokens[id]++
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"token":"ghs_%d","expires_at":%q}`, id, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	case strings.HasSuffix(r.URL.Path, "/actions/runners"):
		scope := strings.TrimSuffix(path, "/actions/runners")
		want := fmt.Sprintf("token ghs_%d", g.installations[scope])
		if auth != want {
			http.Error(w, `{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com/rest/actions/self-hosted-runners"}`, http.StatusForbidden)
			return
		}
		if g.limited[g.installations[scope]] {
			http.Error(w, `{"message":"You have exceeded a secondary rate limit.","documentation_url":"https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`, http.StatusForbidden)
			return
		}
		etag := `"` + strings.TrimPrefix(auth, "token ") + `"`
		if inm := r.Header.Get("If-None-Match"); inm != "" {
			g.ifNoneMatch = append(g.ifNoneMatch, strings.TrimPrefix(auth, "token ")+" "+inm)
			if inm == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		w.Header().Set("ETag", etag)
		fmt.Fprintf(w, `{"total_count":1,"runners":[{"id":1,"name":%q}]}`, scope)
	default:
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
	}
}

func newAppClient(t *testing.T, g *appGitHub, installationID int64) *github.Client {
	t.Helper()
	keyPEM, _ := newPrivateKeyPEM(t)
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return newClient(t, srv, func(o *github.Options) {
		o.Credentials = github.Credentials{AppID: 4242, InstallationID: installationID, PrivateKey: keyPEM}
		o.Retries = -1
	})
}

func TestAppAcrossInstallations(t *testing.T) {
	g := newAppGitHub()
	c := newAppClient(t, g, 0)
	ctx := context.Background()
	other := github.Scope{Host: "github.com", Owner: "other"}
	enterprise := github.Scope{Host: "github.com", Owner: "octo-corp", Enterprise: true}

	// GitHub's enterprise runner endpoints take no App token (REST docs):
	// Octorun says so without asking.
	if _, err := c.ListRunners(ctx, enterprise); !errors.Is(err, github.ErrUnauthorized) || !strings.Contains(err.Error(), "manage_runners:enterprise") {
		t.Errorf("ListRunners of an enterprise with an App: error = %v, want ErrUnauthorized naming the token it needs", err)
	}

	for range 3 {
		for _, scope := range []github.Scope{orgScope, repoScope, other} {
			runners, err := c.ListRunners(ctx, scope)
			if err != nil || len(runners) != 1 {
				t.Fatalf("ListRunners(%s) = %v, %v", scope, runners, err)
			}
		}
	}
	g.mu.Lock()
	for scope, n := range g.lookups {
		if n != 1 {
			t.Errorf("%d lookups of the installation on %s, want 1 (cached)", n, scope)
		}
	}
	for id, n := range g.tokens {
		if n != 1 {
			t.Errorf("%d tokens of installation %d, want 1 (one token source per installation)", n, id)
		}
	}
	if len(g.tokens) != 2 || g.lookups["enterprises/octo-corp"] != 0 {
		t.Errorf("tokens of installations %v, lookups %v: want 11 and 22, and no enterprise lookup", g.tokens, g.lookups)
	}
	for _, c := range g.ifNoneMatch {
		token, etag, _ := strings.Cut(c, " ")
		if etag != `"`+token+`"` {
			t.Errorf("Token %s sent the ETag %s of another", token, etag)
		}
	}
	g.mu.Unlock()

	// Not installed: ErrNotInstalled, saying where to install, and the
	// answer is remembered.
	nobody := github.Scope{Host: "github.com", Owner: "nobody"}
	for range 2 {
		_, err := c.ListRunners(ctx, nobody)
		if !errors.Is(err, github.ErrNotInstalled) || !strings.Contains(err.Error(), "not installed on organization nobody") {
			t.Fatalf("ListRunners of an organization without the App: error = %v, want ErrNotInstalled naming it", err)
		}
	}
	if _, err := c.GenerateJITConfig(ctx, github.Scope{Host: "github.com", Owner: "octo", Repo: "other"},
		github.JITConfigRequest{Name: "r", Labels: []string{"x"}}); !errors.Is(err, github.ErrNotInstalled) {
		t.Errorf("GenerateJITConfig in a repository not given to the App: error = %v, want ErrNotInstalled", err)
	}
	g.mu.Lock()
	if n := g.lookups["orgs/nobody"]; n != 1 {
		t.Errorf("%d lookups of organization nobody, want 1 (a miss is cached too)", n)
	}
	// A secondary limit of one installation holds back that one only.
	g.limited[11] = true
	g.mu.Unlock()
	if _, err := c.ListRunners(ctx, orgScope); err == nil {
		t.Fatal("ListRunners of a limited installation succeeded")
	}
	if _, ok := github.RetryAfter(func() error { _, err := c.ListRunners(ctx, repoScope); return err }()); !ok {
		t.Error("The limited installation's other scope was not held back")
	}
	if _, err := c.ListRunners(ctx, other); err != nil {
		t.Errorf("ListRunners of another installation during the limit: %v", err)
	}
}

// TestAppReinstalled: when the App is installed anew, the scope's
// installation token gets "Resource not accessible by integration"; that is
// ErrNotInstalled, and the next call finds the new installation, without
// sending it the old one's ETags.
func TestAppReinstalled(t *testing.T) {
	g := newAppGitHub()
	c := newAppClient(t, g, 0)
	ctx := context.Background()
	for range 2 {
		if _, err := c.ListRunners(ctx, orgScope); err != nil {
			t.Fatal(err)
		}
	}
	g.mu.Lock()
	g.installations["orgs/octo"] = 44
	g.mu.Unlock()
	_, err := c.ListRunners(ctx, orgScope)
	if !errors.Is(err, github.ErrNotInstalled) || !strings.Contains(github.Message(err), "Resource not accessible by integration") {
		t.Fatalf("ListRunners with the old installation: error = %v, want ErrNotInstalled with GitHub's message", err)
	}
	if runners, err := c.ListRunners(ctx, orgScope); err != nil || len(runners) != 1 {
		t.Fatalf("ListRunners after the reinstallation = %v, %v", runners, err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lookups["orgs/octo"] != 2 || g.tokens[44] != 1 {
		t.Errorf("lookups %v, tokens %v: want the installation found again and a token of 44", g.lookups, g.tokens)
	}
	for _, c := range g.ifNoneMatch {
		if strings.HasPrefix(c, "ghs_44 ") {
			t.Errorf("Installation 44 sent an ETag: %s", c)
		}
	}
}

// TestAppFixedInstallation: a fixed installation id serves every scope,
// without lookups.
func TestAppFixedInstallation(t *testing.T) {
	g := newAppGitHub()
	c := newAppClient(t, g, 11)
	ctx := context.Background()
	if _, err := c.ListRunners(ctx, orgScope); err != nil {
		t.Fatalf("ListRunners with the fixed installation: %v", err)
	}
	if _, err := c.ListRunners(ctx, github.Scope{Host: "github.com", Owner: "other"}); !errors.Is(err, github.ErrNotInstalled) {
		t.Errorf("ListRunners of a scope outside the fixed installation: error = %v, want ErrNotInstalled", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.lookups) != 0 || g.tokens[11] != 1 || len(g.tokens) != 1 {
		t.Errorf("lookups %v, tokens %v; want none and one token of 11", g.lookups, g.tokens)
	}
}

// TestAppLooksUpAScopeOnce: callers of a new scope at once cost one lookup.
func TestAppLooksUpAScopeOnce(t *testing.T) {
	g := newAppGitHub()
	c := newAppClient(t, g, 0)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.ListRunners(context.Background(), orgScope); err != nil {
				t.Errorf("ListRunners: %v", err)
			}
		}()
	}
	wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := g.lookups["orgs/octo"]; n != 1 {
		t.Errorf("%d lookups of organization octo by 20 callers, want 1", n)
	}
}
