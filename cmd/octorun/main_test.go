package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHelpNamesEveryOptionAndItsVariable(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"--help"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run --help = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{
		"--github-url", "OCTORUN_GITHUB_URL", "--namespace", "--runner-name-prefix", "--runner-workers",
		"--runnerset-workers", "--sync-period", "--kube-api-qps", "--kube-api-burst", "--leader-elect",
		"--admission-addr", "--github-webhook-addr", "--metrics-addr", "GITHUB_TOKEN", "--profiling",
		"--github-secondary-limit", "OCTORUN_GITHUB_SECONDARY_LIMIT", "--github-webhook-workers",
	} {
		if !strings.Contains(out.String(), strings.TrimPrefix(want, "-")) {
			t.Errorf("--help does not mention %s", want)
		}
	}
}

func TestStartupErrorsAreClear(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "kubeconfig")
	config := "apiVersion: v1\nkind: Config\nclusters:\n- name: x\n  cluster: {server: \"https://127.0.0.1:1\"}\ncontexts:\n- name: x\n  context: {cluster: x}\ncurrent-context: x\n"
	if err := os.WriteFile(bad, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	shortSecret := filepath.Join(t.TempDir(), "webhook-secret")
	if err := os.WriteFile(shortSecret, []byte("webhook-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unreachable API server", []string{"--kubeconfig", bad}, nil, "cannot be reached"},
		{"missing kubeconfig", []string{"--kubeconfig", filepath.Join(t.TempDir(), "none")}, nil, "loading the Kubernetes client config"},
		{"stray argument", []string{"--kubeconfig", bad, "extra"}, nil, "unexpected arguments"},
		{"no webhook workers", []string{"--kubeconfig", bad, "--github-webhook-workers", "0"}, nil, "--github-webhook-workers is 0"},
		{"negative secondary limit", []string{"--kubeconfig", bad, "--github-secondary-limit", "-5"}, nil, "--github-secondary-limit is -5"},
		{"short webhook secret", []string{"--kubeconfig", bad, "--github-webhook-addr", "127.0.0.1:0", "--github-webhook-secret-file", shortSecret}, nil,
			"the GitHub webhook secret (--github-webhook-secret-file " + shortSecret + ") is 14 bytes: it must be at least 32"},
		{"malformed variable", []string{"--kubeconfig", bad}, map[string]string{"OCTORUN_RUNNER_WORKERS": "eight"}, "OCTORUN_RUNNER_WORKERS=\"eight\": want a whole number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := run(ctx, tc.args, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestProfilingIsServedOnlyWhenAsked(t *testing.T) {
	var h health
	for _, profiling := range []bool{false, true} {
		rec := httptest.NewRecorder()
		h.mux(http.NotFoundHandler(), profiling).ServeHTTP(rec, httptest.NewRequest("GET", "/debug/pprof/heap?debug=1", nil))
		if got := rec.Code == http.StatusOK; got != profiling {
			t.Errorf("profiling %v: GET /debug/pprof/heap = %d", profiling, rec.Code)
		}
	}
}
