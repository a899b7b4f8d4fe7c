// Package options holds Octorun's settings: flags, each also settable
// through an OCTORUN_<FLAG> environment variable, parsed strictly and
// validated before anything starts.
package options

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	cliflag "k8s.io/component-base/cli/flag"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/github"
	"github.com/octorun/octorun/pkg/githubevents"
)

// EnvPrefix starts the environment variable of every flag: --runner-workers
// is OCTORUN_RUNNER_WORKERS.
const EnvPrefix = "OCTORUN_"

// serviceAccountNamespaceFile holds the namespace of an in-cluster pod.
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// WebhookSecretEnv holds the GitHub webhook secret when
// --github-webhook-secret-file is not set.
const WebhookSecretEnv = EnvPrefix + "GITHUB_WEBHOOK_SECRET"

// MinWebhookSecretBytes is the shortest GitHub webhook secret Octorun
// takes: as long as the SHA-256 key it is (GitHub signs deliveries with
// HMAC-SHA256 and asks for a random string of high entropy), so that it
// cannot be guessed offline from one captured signature.
const MinWebhookSecretBytes = 32

// DefaultMaxRunnersPerRunnerSet is --max-runners-per-runnerset's default.
const DefaultMaxRunnersPerRunnerSet = 1000

// Options are Octorun's settings.
type Options struct {
	// Kubeconfig is the path of a kubeconfig; empty means the in-cluster
	// config.
	Kubeconfig string
	// Namespace is the namespace whose Runners Octorun manages; empty
	// means all.
	Namespace string
	// PodNamespace is the namespace Octorun runs in: its admission
	// certificate Secret and its ServiceAccount live there, and its leader
	// Lease by default.
	PodNamespace string
	// KubeQPS and KubeBurst limit each Kubernetes client: each control
	// loop, the job hints, the job store and the leader election have one
	// of their own, as kube-controller-manager's controllers do.
	KubeQPS   float64
	KubeBurst int
	// Resync is how often every cached object is handed to the control
	// loops again.
	Resync time.Duration

	// GitHubURL is github.com or a GitHub Enterprise Server;
	// GitHubAPIURL its REST API when not derived from it.
	GitHubURL, GitHubAPIURL string
	// CredentialsDir holds the GitHub credentials as files.
	CredentialsDir string
	// SecondaryLimit is GitHub's secondary rate limit in points a minute;
	// 0 turns pacing off.
	SecondaryLimit int
	// RunnerNamePrefix starts every GitHub runner name.
	RunnerNamePrefix string
	// SyncPeriod is how often each scope in use is synced with GitHub.
	SyncPeriod time.Duration

	// RunnerWorkers and RunnerSetWorkers are the control loops' workers.
	// A Runner's sync waits on the API server, and on GitHub when it
	// registers: the Runner controller needs workers enough for a job's
	// ten or so syncs at the API server's latency under load.
	RunnerWorkers, RunnerSetWorkers int
	// RegistrationRetryPeriod is how long a Runner waits before retrying a
	// registration that failed for a reason a user must fix.
	RegistrationRetryPeriod time.Duration
	// DefaultRunnerImage is the runner image of Runners that name none.
	DefaultRunnerImage string
	// DefaultRunnerArch is the architecture label of runners whose
	// placement does not pin kubernetes.io/arch.
	DefaultRunnerArch string
	// RunnerExitGracePeriod is how long a Runner whose runner exited with
	// no job seen waits for GitHub's late word of one.
	RunnerExitGracePeriod time.Duration
	// FailureBackoff is a RunnerSet's wait before replacing the first of
	// Runners failing in a row, doubling with each up to
	// MaxFailureBackoff.
	FailureBackoff, MaxFailureBackoff time.Duration
	// MaxRunnersPerRunnerSet caps the Runners of any one RunnerSet,
	// whatever its spec.runners or an autoscaler asks; 0 means no cap.
	MaxRunnersPerRunnerSet int

	// LeaderElect runs the control loops only while holding the Lease
	// LeaseNamespace/LeaseName.
	LeaderElect               bool
	LeaseName, LeaseNamespace string
	HealthProbeAddr           string
	MetricsAddr               string
	MetricsSecure             bool
	MetricsCertDir            string
	Profiling                 bool
	ServiceAccount            string
	WebhookAddr, WebhookPath  string
	WebhookSecretFile         string
	WebhookWorkers            int
	AdmissionAddr             string
	AdmissionService          string
	AdmissionSecret           string
	AdmissionConfig           string
	AdmissionCertFile         string
	AdmissionKeyFile          string
	AdmissionExtraNames       string

	// TLSMinVersion and TLSCipherSuites (comma-separated) are the TLS
	// settings of every HTTPS server, in the names of Kubernetes'
	// components' --tls-min-version and --tls-cipher-suites.
	TLSMinVersion, TLSCipherSuites string

	// flags names the flags AddFlags added, those with a variable.
	flags []string
}

// New returns the default Options.
func New() *Options {
	return &Options{
		KubeQPS:                 50,
		KubeBurst:               100,
		Resync:                  10 * time.Minute,
		GitHubURL:               "https://github.com",
		SecondaryLimit:          900,
		SyncPeriod:              5 * time.Minute,
		RunnerWorkers:           32,
		RunnerSetWorkers:        4,
		RegistrationRetryPeriod: time.Minute,
		DefaultRunnerImage:      octorunv1alpha1.DefaultRunnerImage,
		DefaultRunnerArch:       octorunv1alpha1.DefaultRunnerArch,
		RunnerExitGracePeriod:   10 * time.Second, // runner.DefaultExitGracePeriod
		FailureBackoff:          5 * time.Second,
		MaxFailureBackoff:       5 * time.Minute,
		MaxRunnersPerRunnerSet:  DefaultMaxRunnersPerRunnerSet,
		LeaderElect:             true,
		LeaseName:               "octorun",
		HealthProbeAddr:         ":8081",
		MetricsAddr:             ":8080",
		MetricsSecure:           true,
		ServiceAccount:          "octorun",
		WebhookPath:             "/github/webhooks",
		WebhookWorkers:          4,
		AdmissionService:        "octorun-webhook",
		AdmissionSecret:         "octorun-webhook-tls",
		AdmissionConfig:         "octorun",
		TLSMinVersion:           "VersionTLS12",
	}
}

// AddFlags adds the options' flags to fs, each naming its environment
// variable in its help.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	help := func(name, usage string) string {
		o.flags = append(o.flags, name)
		return usage + " (" + EnvName(name) + ")"
	}
	str := func(p *string, name, usage string) { fs.StringVar(p, name, *p, help(name, usage)) }
	num := func(p *int, name, usage string) { fs.IntVar(p, name, *p, help(name, usage)) }
	dur := func(p *time.Duration, name, usage string) { fs.DurationVar(p, name, *p, help(name, usage)) }
	boolean := func(p *bool, name, usage string) { fs.BoolVar(p, name, *p, help(name, usage)) }

	str(&o.Kubeconfig, "kubeconfig", "Path to a kubeconfig; empty means $KUBECONFIG, then the in-cluster config")
	str(&o.Namespace, "namespace", "Namespace whose Runners Octorun manages; empty means all namespaces")
	str(&o.PodNamespace, "pod-namespace", "Namespace Octorun runs in, where its admission certificate Secret and ServiceAccount are; "+
		"empty means $POD_NAMESPACE, then the in-cluster service account's namespace, then default")
	fs.Float64Var(&o.KubeQPS, "kube-api-qps", o.KubeQPS, help("kube-api-qps", "Kubernetes client queries per second, for each of Octorun's clients "+
		"(each control loop, the job hints, the job store and the leader election has its own)"))
	num(&o.KubeBurst, "kube-api-burst", "Kubernetes client burst, for each of Octorun's clients")
	dur(&o.Resync, "resync-period", "How often every object is looked at again even without a change")

	str(&o.GitHubURL, "github-url", "GitHub's URL: https://github.com or a GitHub Enterprise Server URL")
	str(&o.GitHubAPIURL, "github-api-url", "GitHub REST API URL, if not the one derived from --github-url (e.g. a GitHub simulator)")
	str(&o.CredentialsDir, "github-credentials-dir", "Directory with the GitHub credentials as files (a mounted Secret): token, or app-id and private-key (and installation-id, else each scope's installation is looked up); "+
		"if unset or missing a file, the environment variables "+github.TokenEnv+", "+github.AppIDEnv+", "+github.InstallationIDEnv+", "+github.PrivateKeyEnv+" are read")
	num(&o.SecondaryLimit, "github-secondary-limit", "GitHub's secondary rate limit in points per minute (a GET costs 1, a POST or DELETE 5), which Octorun paces its requests under; "+
		"0 turns pacing off, for a GitHub Enterprise Server with rate limiting disabled")
	str(&o.RunnerNamePrefix, "runner-name-prefix", "Prefix of every GitHub runner name, unique per cluster when clusters share an organization")
	dur(&o.SyncPeriod, "sync-period", "How often each GitHub organization or repository in use is synced with GitHub")

	num(&o.RunnerWorkers, "runner-workers", "Runners synced concurrently")
	num(&o.RunnerSetWorkers, "runnerset-workers", "RunnerSets synced concurrently")
	dur(&o.RegistrationRetryPeriod, "registration-retry-period", "How long a Runner waits before retrying a registration that failed for a reason a user must fix "+
		"(credentials, an unknown organization or runner group)")
	str(&o.DefaultRunnerImage, "default-runner-image", "Runner image of the Runners that name none (set at their creation); "+
		"GitHub refuses runners older than its minimum version, so keep it at a current ghcr.io/actions/actions-runner release")
	str(&o.DefaultRunnerArch, "default-runner-arch", "Architecture label (X64, ARM64, ARM or X86) of runners whose placement does not pin kubernetes.io/arch")
	dur(&o.RunnerExitGracePeriod, "runner-exit-grace-period", "How long a Runner whose runner exited without GitHub reporting a job waits for a late workflow_job delivery before it is Failed")
	dur(&o.FailureBackoff, "runnerset-failure-backoff", "How long a RunnerSet waits before replacing the first of Runners that fail in a row; the wait doubles with each")
	num(&o.MaxRunnersPerRunnerSet, "max-runners-per-runnerset", "The most Runners any one RunnerSet keeps, whatever its spec.runners or an autoscaler asks, so that no tenant's set takes the GitHub budget all share; the admission webhook refuses a higher spec.runners; 0 means no cap")
	dur(&o.MaxFailureBackoff, "runnerset-max-failure-backoff", "The longest a RunnerSet waits before replacing a failed Runner; after twice as long without a failure, the wait starts again from --runnerset-failure-backoff")

	boolean(&o.LeaderElect, "leader-elect", "Run the control loops only while holding the leader Lease, so replicas can run side by side")
	str(&o.LeaseName, "leader-election-lease", "Name of the leader Lease")
	str(&o.LeaseNamespace, "leader-election-namespace", "Namespace of the leader Lease; empty means --pod-namespace")
	str(&o.HealthProbeAddr, "health-probe-addr", "Address of the /healthz and /readyz server (plain HTTP, no authentication, for the kubelet's probes); 0 turns it off")
	str(&o.MetricsAddr, "metrics-addr", "Address of the metrics server (/metrics, and /debug/pprof/ with --profiling); 0 turns it off")
	boolean(&o.MetricsSecure, "metrics-secure", "Serve metrics over HTTPS, only to callers whose bearer token the Kubernetes API server authenticates (TokenReview) "+
		"and authorises for get on the path, a nonResourceURL (SubjectAccessReview); false serves plain HTTP to anyone, for local runs")
	str(&o.MetricsCertDir, "metrics-cert-dir", "Directory with the metrics server's tls.crt and tls.key (e.g. a mounted cert-manager Secret), reloaded when they change; "+
		"empty means a self-signed certificate made at start")
	boolean(&o.Profiling, "profiling", "Serve Go's profiles (net/http/pprof) under /debug/pprof/ on the metrics server, authorised as /metrics is")
	str(&o.ServiceAccount, "service-account", "Octorun's ServiceAccount (in --pod-namespace): the only user the admission webhook lets set spec.id and spec.os")

	str(&o.WebhookAddr, "github-webhook-addr", "Address of the server receiving GitHub's workflow_job webhooks, e.g. :8082; empty turns it off")
	str(&o.WebhookPath, "github-webhook-path", "Path of GitHub's webhooks")
	str(&o.WebhookSecretFile, "github-webhook-secret-file", fmt.Sprintf("File with the GitHub webhook secret (or %s), at least %d bytes (e.g. openssl rand -hex 32); required with --github-webhook-addr",
		WebhookSecretEnv, MinWebhookSecretBytes))
	num(&o.WebhookWorkers, "github-webhook-workers", "Webhook deliveries processed concurrently; each may write a job hint on a Runner")

	str(&o.AdmissionAddr, "admission-addr", "Address of the admission webhook server (HTTPS), e.g. :9443; empty turns it off")
	str(&o.AdmissionService, "admission-service", "Service of the admission webhook, named in its certificate")
	str(&o.AdmissionSecret, "admission-cert-secret", "Secret (in --pod-namespace) where Octorun keeps the webhook's CA and certificate")
	str(&o.AdmissionConfig, "admission-webhook-configuration", "Mutating and validating webhook configurations that get the CA bundle")
	str(&o.AdmissionCertFile, "admission-cert-file", "Serve this certificate (e.g. from cert-manager) instead of a self-managed one; reloaded when it changes")
	str(&o.AdmissionKeyFile, "admission-key-file", "Key of --admission-cert-file")
	str(&o.AdmissionExtraNames, "admission-extra-names", "Comma-separated extra DNS names and IPs of the self-managed certificate")

	str(&o.TLSMinVersion, "tls-min-version", "Minimum TLS version of the HTTPS servers (admission, metrics): "+strings.Join(cliflag.TLSPossibleVersions(), ", "))
	str(&o.TLSCipherSuites, "tls-cipher-suites", "Comma-separated cipher suites of the HTTPS servers up to TLS 1.2 (Go chooses TLS 1.3's itself); empty means Go's defaults. "+
		"Preferred values: "+strings.Join(cliflag.PreferredTLSCipherNames(), ", ")+". Insecure values: "+strings.Join(cliflag.InsecureTLSCipherNames(), ", "))
}

// EnvName is the environment variable of a flag.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse sets the options from the environment (getenv), then from args,
// which win; fs holds the flags of AddFlags. A variable is parsed as its
// flag is, strictly: a boolean is true or false (or 1, 0, t, f), a number a
// number, a duration a Go duration. Flags of fs that AddFlags did not add
// (klog's -v) take no variable.
func (o *Options) Parse(fs *flag.FlagSet, args []string, getenv func(string) (string, bool)) error {
	var errs []error
	for _, name := range o.flags {
		v, ok := getenv(EnvName(name))
		if !ok {
			continue
		}
		if err := fs.Set(name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %s", EnvName(name), v, want(fs.Lookup(name))))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	o.Complete(getenv)
	return nil
}

// want says what a flag's value must be.
func want(f *flag.Flag) string {
	getter, _ := f.Value.(flag.Getter)
	if getter == nil {
		return "not a valid value"
	}
	switch getter.Get().(type) {
	case bool:
		return "want true or false"
	case int:
		return "want a whole number"
	case float64:
		return "want a number"
	case time.Duration:
		return "want a duration such as 90s or 5m"
	}
	return "not a valid value"
}

// Complete fills what defaults to something else: the kubeconfig from
// $KUBECONFIG, the pod namespace from $POD_NAMESPACE or the in-cluster
// service account, the Lease namespace from the pod namespace. Parse calls
// it; options made in code call it before Validate.
func (o *Options) Complete(getenv func(string) (string, bool)) {
	if o.Kubeconfig == "" {
		o.Kubeconfig, _ = getenv("KUBECONFIG")
	}
	if o.PodNamespace == "" {
		o.PodNamespace, _ = getenv("POD_NAMESPACE")
	}
	if o.PodNamespace == "" {
		if b, err := os.ReadFile(serviceAccountNamespaceFile); err == nil {
			o.PodNamespace = strings.TrimSpace(string(b))
		}
	}
	if o.PodNamespace == "" {
		o.PodNamespace = "default"
	}
	if o.LeaseNamespace == "" {
		o.LeaseNamespace = o.PodNamespace
	}
	if arch, ok := runnerArch(o.DefaultRunnerArch); ok {
		o.DefaultRunnerArch = arch
	}
}

// Validate says what is wrong with the options, every problem at once.
func (o *Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, ns := range []struct{ flag, value string }{
		{"--namespace", o.Namespace}, {"--pod-namespace", o.PodNamespace}, {"--leader-election-namespace", o.LeaseNamespace},
	} {
		if ns.value == "" && ns.flag == "--namespace" {
			continue
		}
		if problems := validation.IsDNS1123Label(ns.value); len(problems) > 0 {
			bad("%s is %q: %s", ns.flag, ns.value, strings.Join(problems, "; "))
		}
	}
	if o.KubeQPS <= 0 {
		bad("--kube-api-qps is %g: it must be above 0", o.KubeQPS)
	}
	if o.KubeBurst < 1 {
		bad("--kube-api-burst is %d: it must be at least 1", o.KubeBurst)
	}
	if o.Resync < 0 {
		bad("--resync-period is %s: it must be 0 (never) or more", o.Resync)
	}
	if u, err := url.Parse(o.GitHubURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("--github-url is %q: it must be https://github.com or the URL of a GitHub Enterprise Server", o.GitHubURL)
	}
	if o.GitHubAPIURL != "" {
		if u, err := url.Parse(o.GitHubAPIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("--github-api-url is %q: it must be an http(s) URL", o.GitHubAPIURL)
		}
	}
	if o.SecondaryLimit < 0 {
		bad("--github-secondary-limit is %d: it must be 0 (no pacing) or a number of points per minute", o.SecondaryLimit)
	}
	if o.SyncPeriod < time.Second {
		bad("--sync-period is %s: it must be at least 1s", o.SyncPeriod)
	}
	if o.RunnerWorkers < 1 {
		bad("--runner-workers is %d: it must be at least 1", o.RunnerWorkers)
	}
	if o.RunnerSetWorkers < 1 {
		bad("--runnerset-workers is %d: it must be at least 1", o.RunnerSetWorkers)
	}
	if o.RegistrationRetryPeriod < time.Second {
		bad("--registration-retry-period is %s: it must be at least 1s", o.RegistrationRetryPeriod)
	}
	if o.DefaultRunnerImage == "" || strings.ContainsAny(o.DefaultRunnerImage, " \t\n") {
		bad("--default-runner-image is %q: it must be an image reference", o.DefaultRunnerImage)
	}
	if _, ok := runnerArch(o.DefaultRunnerArch); !ok {
		bad("--default-runner-arch is %q: it must be X64, ARM64, ARM or X86", o.DefaultRunnerArch)
	}
	if o.RunnerExitGracePeriod <= 0 {
		bad("--runner-exit-grace-period is %s: it must be above 0", o.RunnerExitGracePeriod)
	}
	if o.FailureBackoff <= 0 || o.MaxFailureBackoff < o.FailureBackoff {
		bad("--runnerset-failure-backoff is %s and --runnerset-max-failure-backoff %s: both must be above 0, the maximum at least the first",
			o.FailureBackoff, o.MaxFailureBackoff)
	}
	if o.MaxRunnersPerRunnerSet < 0 || o.MaxRunnersPerRunnerSet > math.MaxInt32 {
		bad("--max-runners-per-runnerset is %d: it must be 0 (no cap) or a positive number of runners", o.MaxRunnersPerRunnerSet)
	}
	if o.WebhookWorkers < 1 {
		bad("--github-webhook-workers is %d: it must be at least 1", o.WebhookWorkers)
	}
	if o.LeaderElect && o.LeaseName == "" {
		bad("--leader-election-lease is empty: leader election needs a Lease name")
	}
	for _, a := range []struct{ flag, value string }{
		{"--metrics-addr", o.MetricsAddr}, {"--health-probe-addr", o.HealthProbeAddr}, {"--github-webhook-addr", o.WebhookAddr}, {"--admission-addr", o.AdmissionAddr},
	} {
		if a.value == "" || a.value == "0" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.value); err != nil {
			bad("%s is %q: it must be host:port or :port", a.flag, a.value)
		}
	}
	if o.MetricsAddr == o.HealthProbeAddr && o.MetricsAddr != "" && o.MetricsAddr != "0" && !strings.HasSuffix(o.MetricsAddr, ":0") {
		bad("--metrics-addr and --health-probe-addr are both %q: the probes are served apart from the metrics", o.MetricsAddr)
	}
	if o.MetricsCertDir != "" && !o.MetricsSecure {
		bad("--metrics-cert-dir is set but --metrics-secure is false: plain HTTP takes no certificate")
	}
	if o.WebhookAddr != "" && !strings.HasPrefix(o.WebhookPath, "/") {
		bad("--github-webhook-path is %q: it must start with /", o.WebhookPath)
	}
	if (o.AdmissionCertFile == "") != (o.AdmissionKeyFile == "") {
		bad("--admission-cert-file and --admission-key-file go together")
	}
	if _, err := o.TLSConfig(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// TLSConfig returns the TLS settings of --tls-min-version and
// --tls-cipher-suites, for every HTTPS server to start from; each adds its
// certificates. The error names the flag and the values it takes.
func (o *Options) TLSConfig() (*tls.Config, error) {
	version, err := cliflag.TLSVersion(o.TLSMinVersion)
	if err != nil {
		return nil, fmt.Errorf("--tls-min-version is %q: it must be one of %s", o.TLSMinVersion, strings.Join(cliflag.TLSPossibleVersions(), ", "))
	}
	var names []string
	for _, name := range strings.Split(o.TLSCipherSuites, ",") {
		if name = strings.TrimSpace(name); name != "" {
			names = append(names, name)
		}
	}
	ciphers, err := cliflag.TLSCipherSuites(names)
	if err != nil {
		return nil, fmt.Errorf("--tls-cipher-suites is %q: %w; the possible values are %s", o.TLSCipherSuites, err, strings.Join(cliflag.TLSCipherPossibleValues(), ", "))
	}
	if version == tls.VersionTLS13 && len(ciphers) > 0 {
		// Go, like Kubernetes' components, chooses TLS 1.3's suites itself.
		return nil, fmt.Errorf("--tls-cipher-suites is %q: the cipher suites of TLS 1.3 (--tls-min-version=VersionTLS13) are not configurable", o.TLSCipherSuites)
	}
	if len(ciphers) > 0 && !slices.Contains(ciphers, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) && !slices.Contains(ciphers, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256) {
		// Go's HTTP/2 server refuses to start without one (RFC 7540, 9.2.2).
		return nil, fmt.Errorf("--tls-cipher-suites is %q: it must hold TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 or TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, which HTTP/2 requires",
			o.TLSCipherSuites)
	}
	return &tls.Config{MinVersion: version, CipherSuites: ciphers}, nil
}

// WebhookSecret reads the GitHub webhook secret, when the receiver is on
// (--github-webhook-addr): from --github-webhook-secret-file, else from
// OCTORUN_GITHUB_WEBHOOK_SECRET (read with getenv), a trailing newline
// dropped. A secret shorter than MinWebhookSecretBytes is an error naming
// where it came from and its length. Without the receiver it returns nil.
func (o *Options) WebhookSecret(getenv func(string) (string, bool)) ([]byte, error) {
	if o.WebhookAddr == "" {
		return nil, nil
	}
	secret, err := githubevents.LoadSecret(o.WebhookSecretFile, WebhookSecretEnv, func(k string) string { v, _ := getenv(k); return v })
	if err != nil {
		return nil, err
	}
	if len(secret) < MinWebhookSecretBytes {
		from := WebhookSecretEnv
		if o.WebhookSecretFile != "" {
			from = "--github-webhook-secret-file " + o.WebhookSecretFile
		}
		return nil, fmt.Errorf("the GitHub webhook secret (%s) is %d bytes: it must be at least %d, a random string such as openssl rand -hex 32 prints",
			from, len(secret), MinWebhookSecretBytes)
	}
	return secret, nil
}

// runnerArch returns GitHub's spelling of an architecture label, matched
// without regard to case; false for an unknown one.
func runnerArch(arch string) (string, bool) {
	for _, known := range []string{"X64", "ARM64", "ARM", "X86"} {
		if strings.EqualFold(arch, known) {
			return known, true
		}
	}
	return "", false
}

// SecondaryPointsPerMinute is --github-secondary-limit as pkg/github's
// budget takes it: 0 there means GitHub's default, a negative number no
// pacing.
func (o *Options) SecondaryPointsPerMinute() int {
	if o.SecondaryLimit == 0 {
		return -1
	}
	return o.SecondaryLimit
}

// AdmissionNames splits --admission-extra-names into DNS names and IPs.
func (o *Options) AdmissionNames() (dnsNames []string, ips []net.IP) {
	for _, name := range strings.Split(o.AdmissionExtraNames, ",") {
		name = strings.TrimSpace(name)
		switch ip := net.ParseIP(name); {
		case name == "":
		case ip != nil:
			ips = append(ips, ip)
		default:
			dnsNames = append(dnsNames, name)
		}
	}
	return dnsNames, ips
}
