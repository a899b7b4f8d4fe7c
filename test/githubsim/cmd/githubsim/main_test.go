package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/octorun/octorun/test/githubsim"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRun(t *testing.T) {
	hooks := make(chan *http.Request, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		hooks <- r
	}))
	defer receiver.Close()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})

	args := []string{
		"--addr", "127.0.0.1:0",
		"--token-file", writeFile(t, "tokens", "# playground\nghp_one\n\nghp_two\n"),
		"--org", "octo", "--repo", "octo/hello", "--runner-group", "octo/gpu",
		"--webhook-url", receiver.URL, "--webhook-secret-file", writeFile(t, "secret", "s3cret\n"),
		"--secondary-points-per-minute", "900",
		"--app-id", "12", "--app-key-file", writeFile(t, "key.pem", string(keyPEM)), "--installation-id", "34",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdoutR, stdoutW := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		err := run(ctx, args, stdoutW, &stderr)
		stdoutW.Close()
		done <- err
	}()

	line, err := bufio.NewReader(stdoutR).ReadString('\n')
	if err != nil {
		t.Fatalf("read first line: %v (stderr %s)", err, stderr.String())
	}
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok || !strings.HasPrefix(base, "http://127.0.0.1:") || strings.HasSuffix(base, ":0") {
		t.Fatalf("first line %q, want listening on http://127.0.0.1:PORT", line)
	}

	get := func(path, token string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	for _, tt := range []struct {
		path, token string
		want        int
	}{
		{"/orgs/octo/actions/runners", "ghp_one", 200},
		{"/api/v3/repos/octo/hello/actions/runners", "ghp_two", 200},
		{"/orgs/octo/actions/runners", "ghp_three", 401},
		{"/_sim/runners", "", 200},
	} {
		if got, body := get(tt.path, tt.token); got != tt.want {
			t.Errorf("GET %s = %d, want %d: %s", tt.path, got, tt.want, body)
		}
	}
	_, body := get("/orgs/octo/actions/runner-groups", "ghp_one")
	if !strings.Contains(string(body), `"name":"gpu"`) {
		t.Errorf("runner groups %s lack gpu", body)
	}

	// The webhook flags: a queued job is delivered, signed.
	resp, err := http.Post(base+"/_sim/jobs", "application/json", strings.NewReader(`{"owner":"octo","repo":"hello","labels":["linux"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case r := <-hooks:
		payload, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Hub-Signature-256") != githubsim.Sign([]byte("s3cret"), payload) {
			t.Errorf("delivery signature %q does not match", r.Header.Get("X-Hub-Signature-256"))
		}
		var ev struct{ Action string }
		if err := json.Unmarshal(payload, &ev); err != nil || ev.Action != "queued" {
			t.Errorf("delivery %s", payload)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook delivery")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancellation")
	}
	if _, err := http.Get(base + "/_sim/runners"); err == nil {
		t.Error("still serving after shutdown")
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	tokens := writeFile(t, "tokens", "ghp_one\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--nope"}, "flag provided but not defined"},
		{"argument", []string{"extra"}, "unexpected arguments"},
		{"bad repo", []string{"--repo", "hello"}, "OWNER/NAME"},
		{"bad group", []string{"--runner-group", "gpu"}, "ORG/NAME"},
		{"error rate", []string{"--server-error-rate", "2"}, "[0,1]"},
		{"missing token file", []string{"--token-file", "/nonexistent"}, "read tokens"},
		{"empty token file", []string{"--token-file", writeFile(t, "empty", "# none\n")}, "no token"},
		{"app without key", []string{"--token-file", tokens, "--app-id", "1"}, "go together"},
		{"bad key", []string{"--app-id", "1", "--app-key-file", writeFile(t, "k", "junk")}, "app key"},
		{"bad address", []string{"--addr", "256.0.0.1:bad"}, "listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}
