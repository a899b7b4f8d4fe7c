package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2/ktesting"

	"github.com/octorun/octorun/cmd/octorun/app"
	"github.com/octorun/octorun/cmd/octorun/app/options"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned"
	"github.com/octorun/octorun/pkg/github"
	"github.com/octorun/octorun/test/framework/install"
	"github.com/octorun/octorun/test/framework/runneragent"
	"github.com/octorun/octorun/test/githubsim"
)

const (
	// envPrefix is the runner name prefix of every test's Octorun.
	envPrefix = "e2e-"
	// envWebhookSecret is the secret of the simulator's webhooks, as
	// long as Octorun requires (options.MinWebhookSecretBytes).
	envWebhookSecret = "e2e-webhook-secret-0123456789abcdef"
)

// runnerEnv is one test's world: a namespace, a GitHub simulator, Octorun's
// control loops on the namespace, built as cmd/octorun builds them
// (app.NewControllers, on app.NewInformers), and the agent playing the
// runner processes of its pods.
type runnerEnv struct {
	ns     string
	sim    *githubsim.Server
	client versioned.Interface
	// hookURL is the webhook receiver's URL; empty without webhooks.
	hookURL string
}

// envOptions configure startEnv.
type envOptions struct {
	// webhooks serves Octorun's GitHub webhook receiver and has the
	// simulator deliver workflow_job events to it.
	webhooks bool
	// syncPeriod is the GitHub sync's period; 0 means an hour, so it runs
	// once, when the controllers start.
	syncPeriod time.Duration
	// app, when set, runs Octorun as this GitHub App instead of with the
	// token; the test installs it where it wants (sim.AddInstallation…).
	app *envApp
}

// envApp is a GitHub App: startEnv gives the simulator its public key and
// Octorun its id and private key, and no installation id, so Octorun finds
// each scope's installation itself.
type envApp struct {
	id  int64
	key *rsa.PrivateKey
}

// newEnvApp returns App id with a new RSA key.
func newEnvApp(t *testing.T, id int64) *envApp {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &envApp{id: id, key: key}
}

// credentials are the App's id and private key (PEM), with no
// installation id.
func (a *envApp) credentials() github.Credentials {
	key := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(a.key)})
	return github.Credentials{AppID: a.id, PrivateKey: key}
}

func startRunnerEnv(t *testing.T) *runnerEnv {
	t.Helper()
	return startEnv(t, envOptions{})
}

// startEnv starts a test's world; the test's cleanup stops it, after
// deleting the RunnerSets and Runners the test left while Octorun still
// runs to release them.
func startEnv(t *testing.T, eo envOptions) *runnerEnv {
	t.Helper()
	client := InstallCRDs(t)
	ns := NewNamespace(t)
	grantAll(t, ns)

	sim := githubsim.New(githubsim.Options{Logf: t.Logf})
	sim.AddToken(simToken)
	sim.AddOrganization("octo")
	sim.AddRepository("octo", "hello")
	srv := httptest.NewServer(sim)

	// Octorun's options, as from its flags: fast retries for the tests.
	o := options.New()
	o.Namespace, o.RunnerNamePrefix = ns, envPrefix
	o.RegistrationRetryPeriod, o.FailureBackoff = time.Second, time.Second
	o.RunnerExitGracePeriod = time.Second
	if eo.webhooks {
		// As cmd/octorun with a receiver; the test serves it itself.
		o.WebhookAddr = "127.0.0.1:0"
	}
	o.SyncPeriod = eo.syncPeriod
	if o.SyncPeriod == 0 {
		o.SyncPeriod = time.Hour
	}
	o.KubeQPS, o.KubeBurst = 200, 400
	o.PodNamespace = ns
	o.Complete(func(string) (string, bool) { return "", false })
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	creds := github.Credentials{Token: simToken}
	if eo.app != nil {
		sim.AddApp(eo.app.id, &eo.app.key.PublicKey)
		creds = eo.app.credentials()
	}
	gh, err := github.New(github.Options{
		ServerURL: o.GitHubURL, APIURL: srv.URL + "/", Credentials: creds,
	})
	if err != nil {
		t.Fatal(err)
	}
	clients, err := app.NewClients(Config, o)
	if err != nil {
		t.Fatal(err)
	}
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	informers := app.NewInformers(clients, o)
	registry := prometheus.NewRegistry()
	var stops []func()
	env := &runnerEnv{ns: ns, sim: sim, client: client}
	if eo.webhooks {
		receiver, err := app.NewReceiver(clients, informers, []byte(envWebhookSecret), registry, o)
		if err != nil {
			t.Fatal(err)
		}
		hookSrv := httptest.NewServer(receiver)
		stops = append(stops, hookSrv.Close)
		env.hookURL = hookSrv.URL + receiver.Path()
		sim.SetWebhook(env.hookURL, envWebhookSecret)
		go receiver.Run(ctx)
	}
	o.GitHubAPIURL = srv.URL + "/"
	scaleSets, err := app.NewScaleSetClients(gh, creds, o)
	if err != nil {
		t.Fatal(err)
	}
	controllers, err := app.NewControllers(ctx, clients, informers, gh, scaleSets, registry, o)
	if err != nil {
		t.Fatal(err)
	}
	informers.Start(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := controllers.Run(ctx); err != nil {
			t.Errorf("Octorun's control loops: %v", err)
		}
	}()
	agent := &runneragent.Agent{Client: Client, Sim: sim, Namespace: ns, Errorf: t.Logf}
	go agent.Run(ctx)

	t.Cleanup(func() {
		// Runners left by the test go first, while the controllers still
		// run to release them; jobs still running end.
		for _, j := range sim.Jobs() {
			if j.Status == githubsim.JobInProgress {
				_ = sim.CompleteJob(j.ID)
			}
		}
		_ = client.OctorunV1alpha1().RunnerSets(ns).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{})
		Eventually(t, "the test's RunnerSets to be gone", func(ctx context.Context) (bool, error) {
			list, err := client.OctorunV1alpha1().RunnerSets(ns).List(ctx, metav1.ListOptions{})
			return err == nil && len(list.Items) == 0, err
		})
		_ = client.OctorunV1alpha1().Runners(ns).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{})
		Eventually(t, "the test's Runners to be released", func(ctx context.Context) (bool, error) {
			list, err := client.OctorunV1alpha1().Runners(ns).List(ctx, metav1.ListOptions{})
			return err == nil && len(list.Items) == 0, err
		})
		cancel()
		<-done
		informers.Shutdown()
		for _, stop := range stops {
			stop()
		}
		srv.Close()
		sim.Close()
	})
	return env
}

// grantAll lets namespace ns register runners anywhere on GitHub, in any
// runner group, until the test ends: Octorun registers nothing without a
// ScopeGrant.
func grantAll(t *testing.T, ns string) {
	t.Helper()
	name := "e2e-" + ns
	if err := install.Grant(context.Background(), Config, name, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client, err := versioned.NewForConfig(Config)
		if err == nil {
			err = client.OctorunV1alpha1().ScopeGrants().Delete(context.Background(), name, metav1.DeleteOptions{})
		}
		if err != nil {
			t.Logf("Deleting ScopeGrant %s: %v", name, err)
		}
	})
}
