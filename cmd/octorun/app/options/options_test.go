package options

import (
	"crypto/tls"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// parse parses args and env (as OCTORUN_* and other variables) into
// options.
func parse(args []string, env map[string]string) (*Options, error) {
	o := New()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.AddFlags(fs)
	fs.Int("v", 0, "a flag options do not own (klog's)")
	err := o.Parse(fs, args, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	return o, err
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(o *Options) string
		wantErr string
	}{
		{
			name: "defaults",
			check: func(o *Options) string {
				return cmp.Diff([]any{true, 32, 4, 50.0, 100, "default", "default", 5 * time.Minute, 900, ":8080", ":8081", true},
					[]any{o.LeaderElect, o.RunnerWorkers, o.RunnerSetWorkers, o.KubeQPS, o.KubeBurst, o.PodNamespace, o.LeaseNamespace, o.SyncPeriod, o.SecondaryLimit,
						o.MetricsAddr, o.HealthProbeAddr, o.MetricsSecure})
			},
		},
		{
			name: "variables",
			env: map[string]string{"OCTORUN_GITHUB_URL": "https://ghe.example.com", "OCTORUN_RUNNER_WORKERS": "3",
				"OCTORUN_SYNC_PERIOD": "90s", "OCTORUN_LEADER_ELECT": "false", "OCTORUN_KUBE_API_QPS": "20.5"},
			check: func(o *Options) string {
				return cmp.Diff([]any{"https://ghe.example.com", 3, 90 * time.Second, false, 20.5},
					[]any{o.GitHubURL, o.RunnerWorkers, o.SyncPeriod, o.LeaderElect, o.KubeQPS})
			},
		},
		{
			// strconv.ParseBool's forms: "1" means true, never false.
			name:  "a boolean variable of 1 is true",
			env:   map[string]string{"OCTORUN_LEADER_ELECT": "1", "OCTORUN_PROFILING": "1"},
			check: func(o *Options) string { return cmp.Diff([]bool{true, true}, []bool{o.LeaderElect, o.Profiling}) },
		},
		{
			name: "a flag wins over its variable",
			args: []string{"--github-url", "https://github.com", "--runner-workers=2"},
			env:  map[string]string{"OCTORUN_GITHUB_URL": "https://ghe.example.com", "OCTORUN_RUNNER_WORKERS": "3"},
			check: func(o *Options) string {
				return cmp.Diff([]any{"https://github.com", 2}, []any{o.GitHubURL, o.RunnerWorkers})
			},
		},
		{
			name:    "a malformed boolean is an error",
			env:     map[string]string{"OCTORUN_LEADER_ELECT": "yes"},
			wantErr: `OCTORUN_LEADER_ELECT="yes": want true or false`,
		},
		{
			name:    "a malformed number is an error",
			env:     map[string]string{"OCTORUN_RUNNER_WORKERS": "8x"},
			wantErr: `OCTORUN_RUNNER_WORKERS="8x": want a whole number`,
		},
		{
			name:    "a malformed duration is an error",
			env:     map[string]string{"OCTORUN_SYNC_PERIOD": "5"},
			wantErr: `OCTORUN_SYNC_PERIOD="5": want a duration`,
		},
		{
			name:  "klog's flags take no variable",
			env:   map[string]string{"OCTORUN_V": "not a number"},
			check: func(*Options) string { return "" },
		},
		{
			name:    "stray arguments",
			args:    []string{"run"},
			wantErr: "unexpected arguments: [run]",
		},
		{
			name: "the pod namespace comes from POD_NAMESPACE, and the Lease's from it",
			env:  map[string]string{"POD_NAMESPACE": "octorun-system"},
			check: func(o *Options) string {
				return cmp.Diff([]string{"octorun-system", "octorun-system"}, []string{o.PodNamespace, o.LeaseNamespace})
			},
		},
		{
			name: "a Lease elsewhere leaves the pod namespace alone",
			args: []string{"--leader-election-namespace", "leases"},
			env:  map[string]string{"OCTORUN_POD_NAMESPACE": "octorun-system", "POD_NAMESPACE": "ignored"},
			check: func(o *Options) string {
				return cmp.Diff([]string{"octorun-system", "leases"}, []string{o.PodNamespace, o.LeaseNamespace})
			},
		},
		{
			name:  "the kubeconfig comes from KUBECONFIG",
			env:   map[string]string{"KUBECONFIG": "/tmp/kubeconfig"},
			check: func(o *Options) string { return cmp.Diff("/tmp/kubeconfig", o.Kubeconfig) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parse(tt.args, tt.env)
			switch {
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Parse error = %v, want one containing %q", err, tt.wantErr)
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Parse error = %v", err)
			}
			if tt.check != nil && err == nil {
				if diff := tt.check(o); diff != "" {
					t.Errorf("options differ (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestParseNamesEveryMalformedVariable(t *testing.T) {
	_, err := parse(nil, map[string]string{"OCTORUN_KUBE_API_QPS": "fast", "OCTORUN_KUBE_API_BURST": "-"})
	for _, want := range []string{"OCTORUN_KUBE_API_QPS", "OCTORUN_KUBE_API_BURST"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse error = %v, want it to name %s", err, want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(o *Options)
		want   string // "" for valid
	}{
		{name: "defaults", modify: func(*Options) {}},
		{name: "one namespace", modify: func(o *Options) { o.Namespace = "ci" }},
		{name: "no pacing", modify: func(o *Options) { o.SecondaryLimit = 0 }},
		{name: "bad namespace", modify: func(o *Options) { o.Namespace = "CI_Runners" }, want: `--namespace is "CI_Runners"`},
		{name: "bad Lease namespace", modify: func(o *Options) { o.LeaseNamespace = "a.b" }, want: `--leader-election-namespace is "a.b"`},
		{name: "negative secondary limit", modify: func(o *Options) { o.SecondaryLimit = -5 }, want: "--github-secondary-limit is -5"},
		{name: "no workers", modify: func(o *Options) { o.RunnerWorkers = 0 }, want: "--runner-workers is 0"},
		{name: "no set workers", modify: func(o *Options) { o.RunnerSetWorkers = -1 }, want: "--runnerset-workers is -1"},
		{name: "no webhook workers", modify: func(o *Options) { o.WebhookWorkers = 0 }, want: "--github-webhook-workers is 0"},
		{name: "zero QPS", modify: func(o *Options) { o.KubeQPS = 0 }, want: "--kube-api-qps is 0"},
		{name: "zero burst", modify: func(o *Options) { o.KubeBurst = 0 }, want: "--kube-api-burst is 0"},
		{name: "GitHub URL without scheme", modify: func(o *Options) { o.GitHubURL = "github.com" }, want: `--github-url is "github.com"`},
		{name: "API URL not a URL", modify: func(o *Options) { o.GitHubAPIURL = "::" }, want: `--github-api-url is "::"`},
		{name: "sync period too short", modify: func(o *Options) { o.SyncPeriod = time.Millisecond }, want: "--sync-period is 1ms"},
		{name: "bad address", modify: func(o *Options) { o.AdmissionAddr = "9443" }, want: `--admission-addr is "9443"`},
		{name: "metrics off", modify: func(o *Options) { o.MetricsAddr = "0" }},
		{name: "probes off", modify: func(o *Options) { o.HealthProbeAddr = "0" }},
		{name: "bad probe address", modify: func(o *Options) { o.HealthProbeAddr = "8081" }, want: `--health-probe-addr is "8081"`},
		{name: "probes and metrics on one port", modify: func(o *Options) { o.HealthProbeAddr = ":8080" }, want: `--metrics-addr and --health-probe-addr are both ":8080"`},
		{name: "both on free ports", modify: func(o *Options) { o.HealthProbeAddr, o.MetricsAddr = "127.0.0.1:0", "127.0.0.1:0" }},
		{name: "plain metrics", modify: func(o *Options) { o.MetricsSecure = false }},
		{name: "a certificate for plain metrics", modify: func(o *Options) { o.MetricsSecure, o.MetricsCertDir = false, "/certs" }, want: "--metrics-cert-dir is set but --metrics-secure is false"},
		{name: "certificate without key", modify: func(o *Options) { o.AdmissionCertFile = "tls.crt" }, want: "--admission-key-file go together"},
		{name: "backoff above its maximum", modify: func(o *Options) { o.FailureBackoff = time.Hour }, want: "--runnerset-failure-backoff is 1h0m0s"},
		{name: "arm64 runners", modify: func(o *Options) { o.DefaultRunnerArch = "arm64" }},
		{name: "unknown arch", modify: func(o *Options) { o.DefaultRunnerArch = "amd64" }, want: `--default-runner-arch is "amd64": it must be X64, ARM64, ARM or X86`},
		{name: "no default image", modify: func(o *Options) { o.DefaultRunnerImage = "" }, want: `--default-runner-image is ""`},
		{name: "no exit grace", modify: func(o *Options) { o.RunnerExitGracePeriod = 0 }, want: "--runner-exit-grace-period is 0s"},
		{name: "every problem at once", modify: func(o *Options) { o.RunnerWorkers, o.KubeBurst = 0, 0 }, want: "--kube-api-burst is 0: it must be at least 1\n--runner-workers is 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parse(nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			tt.modify(o)
			err = o.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestHelpNamesEveryVariable(t *testing.T) {
	o := New()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	o.AddFlags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(f.Usage, "("+EnvName(f.Name)+")") {
			t.Errorf("The help of --%s does not name %s", f.Name, EnvName(f.Name))
		}
	})
}

func TestSecondaryPointsPerMinute(t *testing.T) {
	for _, tc := range []struct{ flag, want int }{
		{900, 900},   // github.com
		{3000, 3000}, // a GitHub Enterprise Server with a higher limit
		{0, -1},      // no pacing
	} {
		o := New()
		o.SecondaryLimit = tc.flag
		if got := o.SecondaryPointsPerMinute(); got != tc.want {
			t.Errorf("SecondaryPointsPerMinute() with --github-secondary-limit=%d = %d, want %d", tc.flag, got, tc.want)
		}
	}
}

func TestWebhookSecret(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	long := strings.Repeat("s", MinWebhookSecretBytes)
	short := file("short", "e2e-webhook-secret\n")
	tests := []struct {
		name       string
		addr, file string
		env        map[string]string
		want       string // the secret
		wantErr    string
	}{
		{name: "no receiver, no secret"},
		{name: "from the file, the newline dropped", addr: ":8082", file: file("long", long+"\n"), want: long},
		{name: "from the variable", addr: ":8082", env: map[string]string{WebhookSecretEnv: long}, want: long},
		{name: "the file wins", addr: ":8082", file: file("long2", long), env: map[string]string{WebhookSecretEnv: "x"}, want: long},
		{
			name: "a short file", addr: ":8082", file: short,
			wantErr: "the GitHub webhook secret (--github-webhook-secret-file " + short + ") is 18 bytes: it must be at least 32",
		},
		{
			name: "one byte short", addr: ":8082", env: map[string]string{WebhookSecretEnv: long[1:]},
			wantErr: "the GitHub webhook secret (OCTORUN_GITHUB_WEBHOOK_SECRET) is 31 bytes: it must be at least 32",
		},
		{name: "none", addr: ":8082", wantErr: "is empty"},
		{name: "a missing file", addr: ":8082", file: filepath.Join(dir, "none"), wantErr: "reading the GitHub webhook secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := New()
			o.WebhookAddr, o.WebhookSecretFile = tt.addr, tt.file
			got, err := o.WebhookSecret(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			switch {
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("WebhookSecret error = %v, want one containing %q", err, tt.wantErr)
			case tt.wantErr == "" && err != nil:
				t.Fatalf("WebhookSecret error = %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("WebhookSecret = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTLSConfig(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		env         map[string]string
		wantVersion uint16
		wantCiphers []uint16
		wantErr     string
	}{
		{name: "defaults: TLS 1.2, Go's suites", wantVersion: tls.VersionTLS12},
		{name: "TLS 1.3", args: []string{"--tls-min-version=VersionTLS13"}, wantVersion: tls.VersionTLS13},
		{
			name:        "suites",
			env:         map[string]string{"OCTORUN_TLS_CIPHER_SUITES": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"},
			wantVersion: tls.VersionTLS12,
			wantCiphers: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
		},
		{
			name:    "an unknown version",
			args:    []string{"--tls-min-version=1.2"},
			wantErr: `--tls-min-version is "1.2": it must be one of VersionTLS10, VersionTLS11, VersionTLS12, VersionTLS13`,
		},
		{
			name:    "an unknown suite",
			args:    []string{"--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_RSA_WITH_NULL_SHA"},
			wantErr: `--tls-cipher-suites is "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_RSA_WITH_NULL_SHA": Cipher suite TLS_RSA_WITH_NULL_SHA not supported or doesn't exist; the possible values are TLS_AES_128_GCM_SHA256,`,
		},
		{
			name:    "no suite HTTP/2 requires",
			args:    []string{"--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"},
			wantErr: "it must hold TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 or TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, which HTTP/2 requires",
		},
		{
			name:    "suites with TLS 1.3",
			args:    []string{"--tls-min-version=VersionTLS13", "--tls-cipher-suites=TLS_AES_128_GCM_SHA256"},
			wantErr: "the cipher suites of TLS 1.3 (--tls-min-version=VersionTLS13) are not configurable",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parse(tt.args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			got, err := o.TLSConfig()
			if verr := o.Validate(); (err == nil) != (verr == nil) {
				t.Errorf("TLSConfig error %v, but Validate error %v", err, verr)
			}
			switch {
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("TLSConfig error = %v, want one containing %q", err, tt.wantErr)
			case tt.wantErr == "" && err != nil:
				t.Fatalf("TLSConfig error = %v", err)
			case err != nil:
				return
			}
			if diff := cmp.Diff([]any{tt.wantVersion, tt.wantCiphers}, []any{got.MinVersion, got.CipherSuites}); diff != "" {
				t.Errorf("TLS settings (-want +got):\n%s", diff)
			}
		})
	}
}
