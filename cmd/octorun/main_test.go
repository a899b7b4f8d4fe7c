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

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
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

func TestFlagsFromEnvironment(t *testing.T) {
	t.Setenv("OCTORUN_GITHUB_URL", "https://ghe.example.com")
	t.Setenv("OCTORUN_RUNNER_WORKERS", "3")
	t.Setenv("OCTORUN_SYNC_PERIOD", "90s")
	t.Setenv("OCTORUN_LEADER_ELECT", "false")
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var o options
	o.register(fs)
	if err := fs.Parse([]string{"--runner-name-prefix", "eu-"}); err != nil {
		t.Fatal(err)
	}
	if o.githubURL != "https://ghe.example.com" || o.runnerWorkers != 3 || o.syncPeriod != 90*time.Second || o.leaderElect || o.runnerNamePrefix != "eu-" {
		t.Errorf("options = %+v", o)
	}
	// A flag wins over the environment.
	fs = flag.NewFlagSet("test", flag.ContinueOnError)
	o = options{}
	o.register(fs)
	if err := fs.Parse([]string{"--github-url", "https://github.com"}); err != nil {
		t.Fatal(err)
	}
	if o.githubURL != "https://github.com" {
		t.Errorf("--github-url = %q, want the flag's value", o.githubURL)
	}
}

func TestStartupErrorsAreClear(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "kubeconfig")
	config := "apiVersion: v1\nkind: Config\nclusters:\n- name: x\n  cluster: {server: \"https://127.0.0.1:1\"}\ncontexts:\n- name: x\n  context: {cluster: x}\ncurrent-context: x\n"
	if err := os.WriteFile(bad, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unreachable API server", []string{"--kubeconfig", bad}, "cannot be reached"},
		{"missing kubeconfig", []string{"--kubeconfig", filepath.Join(t.TempDir(), "none")}, "loading the Kubernetes client config"},
		{"stray argument", []string{"--kubeconfig", bad, "extra"}, "unexpected arguments"},
		{"no webhook workers", []string{"--kubeconfig", bad, "--github-webhook-workers", "0"}, "--github-webhook-workers is 0"},
		{"negative secondary limit", []string{"--kubeconfig", bad, "--github-secondary-limit", "-5"}, "--github-secondary-limit is -5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := run(ctx, tc.args, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestSecondaryLimitFlag(t *testing.T) {
	for _, tc := range []struct{ flag, want int }{
		{900, 900},   // github.com
		{3000, 3000}, // a GitHub Enterprise Server with a higher limit
		{0, -1},      // no pacing
	} {
		if got := secondaryPointsPerMinute(tc.flag); got != tc.want {
			t.Errorf("secondaryPointsPerMinute(%d) = %d, want %d", tc.flag, got, tc.want)
		}
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

func TestStripManagedFields(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}}
	got, err := stripManagedFields(pod)
	if err != nil || got.(*corev1.Pod).ManagedFields != nil || got.(*corev1.Pod).Name != "p" {
		t.Errorf("stripManagedFields = %+v, %v; want the pod without managedFields", got, err)
	}
	// What is no object passes unchanged.
	tombstone := cache.DeletedFinalStateUnknown{Key: "ns/p", Obj: pod}
	if got, err := stripManagedFields(tombstone); err != nil || got != any(tombstone) {
		t.Errorf("stripManagedFields(tombstone) = %v, %v", got, err)
	}
}
