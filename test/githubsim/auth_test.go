package githubsim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/golang-jwt/jwt/v4"
	"github.com/google/go-github/v50/github"
)

func TestAuthentication(t *testing.T) {
	_, ts := newSim(t, Options{})
	u := ts.URL + "/orgs/octo/actions/runners"
	tests := []struct {
		name          string
		authorization string
		wantStatus    int
		wantMessage   string
	}{
		{name: "bearer", authorization: "Bearer " + testToken, wantStatus: 200},
		{name: "token", authorization: "token " + testToken, wantStatus: 200},
		{name: "scheme case", authorization: "bearer " + testToken, wantStatus: 200},
		{name: "missing", wantStatus: 401, wantMessage: "Requires authentication"},
		{name: "unknown token", authorization: "Bearer nope", wantStatus: 401, wantMessage: "Bad credentials"},
		{name: "basic", authorization: "Basic dXNlcjpwYXNz", wantStatus: 401, wantMessage: "Bad credentials"},
		{name: "empty bearer", authorization: "Bearer", wantStatus: 401, wantMessage: "Bad credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, http.MethodGet, u, "", nil, "Authorization", tt.authorization)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus == 401 {
				if e := decodeBody[errorBody](t, body); e.Message != tt.wantMessage {
					t.Errorf("message %q, want %q", e.Message, tt.wantMessage)
				}
				if resp.Header.Get("X-RateLimit-Limit") != "" {
					t.Error("401 carries rate-limit headers")
				}
			} else if resp.Header.Get("X-RateLimit-Limit") == "" {
				t.Error("authenticated answer without rate-limit headers")
			}
		})
	}
}

// appKey is a GitHub App's private key for the tests.
func appKey(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

func signJWT(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAppInstallationToken(t *testing.T) {
	clock := newFakeClock()
	sim, ts := newSim(t, Options{Now: clock.Now})
	key, _ := appKey(t)
	other, _ := appKey(t)
	const appID, installationID = 42, 7
	sim.AddApp(appID, &key.PublicKey)
	sim.AddApp(43, &other.PublicKey)
	sim.AddInstallation(appID, installationID, testOrg)
	sim.AddInstallation(43, 8, testOrg)
	sim.AddRepository("other", "repo")
	now := clock.Now()
	valid := jwt.MapClaims{"iss": fmt.Sprint(appID), "iat": now.Add(-30 * time.Second).Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	tokenURL := fmt.Sprintf("%s/app/installations/%d/access_tokens", ts.URL, installationID)

	exchange := func(t *testing.T, jwtString string, u string) (*http.Response, []byte) {
		t.Helper()
		return do(t, http.MethodPost, u, "", nil, "Authorization", "Bearer "+jwtString)
	}

	resp, body := exchange(t, signJWT(t, jwt.SigningMethodRS256, key, valid), tokenURL)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	tok := decodeBody[github.InstallationToken](t, body)
	if !strings.HasPrefix(tok.GetToken(), "ghs_") || !tok.GetExpiresAt().Time.Equal(now.Add(time.Hour)) {
		t.Errorf("token %q expires %v, want ghs_… expiring %v", tok.GetToken(), tok.GetExpiresAt(), now.Add(time.Hour))
	}

	t.Run("bad JWTs", func(t *testing.T) {
		claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
			c := jwt.MapClaims{}
			for k, v := range valid {
				c[k] = v
			}
			edit(c)
			return c
		}
		tests := []struct {
			name       string
			jwt        string
			url        string
			wantStatus int
		}{
			{"numeric iss", signJWT(t, jwt.SigningMethodRS256, key, claims(func(c jwt.MapClaims) { c["iss"] = appID })), tokenURL, 201},
			{"expired", signJWT(t, jwt.SigningMethodRS256, key, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Second).Unix() })), tokenURL, 401},
			{"too long", signJWT(t, jwt.SigningMethodRS256, key, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(time.Hour).Unix() })), tokenURL, 401},
			{"no exp", signJWT(t, jwt.SigningMethodRS256, key, claims(func(c jwt.MapClaims) { delete(c, "exp") })), tokenURL, 401},
			{"issued in the future", signJWT(t, jwt.SigningMethodRS256, key, claims(func(c jwt.MapClaims) { c["iat"] = now.Add(5 * time.Minute).Unix() })), tokenURL, 401},
			{"other app's key", signJWT(t, jwt.SigningMethodRS256, other, valid), tokenURL, 401},
			{"unknown app", signJWT(t, jwt.SigningMethodRS256, key, claims(func(c jwt.MapClaims) { c["iss"] = "99" })), tokenURL, 401},
			{"HS256", signJWT(t, jwt.SigningMethodHS256, []byte("secret"), valid), tokenURL, 401},
			{"not a JWT", testToken, tokenURL, 401},
			{"unknown installation", signJWT(t, jwt.SigningMethodRS256, key, valid), ts.URL + "/app/installations/9/access_tokens", 404},
			{"other app's installation", signJWT(t, jwt.SigningMethodRS256, key, valid), ts.URL + "/app/installations/8/access_tokens", 404},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := exchange(t, tt.jwt, tt.url)
				if resp.StatusCode != tt.wantStatus {
					t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
				}
			})
		}
		if resp, _ := do(t, http.MethodPost, tokenURL, "", nil); resp.StatusCode != 401 {
			t.Errorf("no credentials: %d, want 401", resp.StatusCode)
		}
	})

	t.Run("installation token scope", func(t *testing.T) {
		tests := []struct {
			path       string
			wantStatus int
		}{
			{"/orgs/octo/actions/runners", 200},
			{"/repos/octo/hello/actions/runners", 200},
			{"/orgs/other/actions/runners", 403},
			{"/repos/other/repo/actions/runners", 403}, // "Resource not accessible by integration"
		}
		for _, tt := range tests {
			resp, body := do(t, http.MethodGet, ts.URL+tt.path, tok.GetToken(), nil)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("GET %s = %d, want %d: %s", tt.path, resp.StatusCode, tt.wantStatus, body)
			}
		}
	})

	t.Run("org installation", func(t *testing.T) {
		resp, body := do(t, http.MethodGet, ts.URL+"/orgs/octo/installation", "", nil,
			"Authorization", "Bearer "+signJWT(t, jwt.SigningMethodRS256, key, valid))
		inst := decodeBody[github.Installation](t, body)
		if resp.StatusCode != 200 || inst.GetID() != installationID || inst.GetAppID() != appID || inst.GetAccount().GetLogin() != testOrg {
			t.Errorf("GET /orgs/octo/installation = %d %s", resp.StatusCode, body)
		}
	})

	t.Run("expiry", func(t *testing.T) {
		clock.Step(time.Hour)
		resp, body := do(t, http.MethodGet, ts.URL+"/orgs/octo/actions/runners", tok.GetToken(), nil)
		if resp.StatusCode != 401 || decodeBody[errorBody](t, body).Message != "Bad credentials" {
			t.Errorf("expired token: %d %s, want 401 Bad credentials", resp.StatusCode, body)
		}
	})
}

// TestGHInstallation drives App authentication with the transport Octorun
// uses, over the Enterprise prefix.
func TestGHInstallation(t *testing.T) {
	sim, ts := newSim(t, Options{})
	key, keyPEM := appKey(t)
	sim.AddApp(5, &key.PublicKey)
	sim.AddInstallation(5, 55, testOrg)
	sim.AddRunner(testOrg, "", "r1")

	tr, err := ghinstallation.New(http.DefaultTransport, 5, 55, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	tr.BaseURL = ts.URL + "/api/v3"
	c, err := github.NewEnterpriseClient(ts.URL, ts.URL, &http.Client{Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		list, _, err := c.Actions.ListOrganizationRunners(context.Background(), testOrg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if list.TotalCount != 1 {
			t.Errorf("total_count %d, want 1", list.TotalCount)
		}
	}
	calls := sim.Calls()
	if calls["POST /app/installations/{id}/access_tokens"] != 1 || calls["GET /orgs/{org}/actions/runners"] != 2 {
		t.Errorf("calls = %v, want one token exchange and two lists", calls)
	}

	// The installation's rate limit is shared by its tokens and named after it.
	sim.SetPrimaryLimit(2)
	_, _, err = c.Actions.ListOrganizationRunners(context.Background(), testOrg, nil)
	var rle *github.RateLimitError
	if !errors.As(err, &rle) || rle.Message != "API rate limit exceeded for installation ID 55." {
		t.Errorf("err = %v, want the installation's rate limit", err)
	}
}
