package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2/ktesting"

	"github.com/octorun/octorun/cmd/octorun/app/options"
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
		"--health-probe-addr", "--metrics-secure", "--metrics-cert-dir", "--tls-min-version", "--tls-cipher-suites",
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
	for _, profiling := range []bool{false, true} {
		rec := httptest.NewRecorder()
		metricsMux(http.NotFoundHandler(), profiling).ServeHTTP(rec, httptest.NewRequest("GET", "/debug/pprof/heap?debug=1", nil))
		if got := rec.Code == http.StatusOK; got != profiling {
			t.Errorf("profiling %v: GET /debug/pprof/heap = %d", profiling, rec.Code)
		}
	}
}

// TestProbesApartFromMetrics: the probes answer anyone on their own
// server, which serves neither the metrics nor the profiles.
func TestProbesApartFromMetrics(t *testing.T) {
	var h health
	h.ready.Store(true)
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/readyz": http.StatusOK, "/metrics": http.StatusNotFound, "/debug/pprof/": http.StatusNotFound} {
		rec := httptest.NewRecorder()
		h.mux().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("GET %s from the probe server: %d, want %d", path, rec.Code, want)
		}
	}
}

// TestSecureMetricsServer serves the metrics as run does with
// --metrics-secure: over TLS at --tls-min-version, refusing older clients,
// and only with a bearer token.
func TestSecureMetricsServer(t *testing.T) {
	o := options.New()
	o.MetricsAddr = freeAddr(t)
	o.Complete(func(string) (string, bool) { return "", false })
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	errs := make(chan error, 1)
	handler, tlsConfig, err := secureMetrics(ctx, fake.NewClientset(), o, metricsMux(http.NotFoundHandler(), false))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); serve(ctx, "metrics", o.MetricsAddr, handler, tlsConfig, errs) }()
	t.Cleanup(func() { cancel(); <-served })

	dial := func(client *tls.Config) error {
		var err error
		for range 50 { // until it listens
			var conn *tls.Conn
			conn, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", o.MetricsAddr, client)
			if err == nil {
				return conn.Close()
			}
			if !strings.Contains(err.Error(), "connection refused") {
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
		return err
	}
	if err := dial(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("A TLS 1.1 client was served")
	}
	if err := dial(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12}); err != nil {
		t.Errorf("A TLS 1.2 client was refused: %v", err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get("https://" + o.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /metrics without a token: %d, want 401", resp.StatusCode)
	}
	select {
	case err := <-errs:
		t.Errorf("The metrics server failed: %v", err)
	default:
	}
}

// TestPlainMetrics: without --metrics-secure the metrics are served as they
// are, over HTTP.
func TestPlainMetrics(t *testing.T) {
	o := options.New()
	o.MetricsSecure = false
	metrics := metricsMux(http.NotFoundHandler(), false)
	handler, tlsConfig, err := secureMetrics(context.Background(), fake.NewClientset(), o, metrics)
	if err != nil || tlsConfig != nil || handler != http.Handler(metrics) {
		t.Errorf("secureMetrics without --metrics-secure = %v, %v, %v; want the handler, no TLS", handler, tlsConfig, err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
