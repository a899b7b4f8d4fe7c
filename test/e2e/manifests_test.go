package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/framework/install"
	"github.com/octorun/octorun/test/framework/octorunproc"
	"github.com/octorun/octorun/test/framework/runneragent"
	"github.com/octorun/octorun/test/githubsim"
)

// ensureNamespace creates a namespace for real if it is missing, so
// server-side dry runs of objects in it can be judged.
func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	_, err := Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// TestManifestsAcceptedByAPIServer: every object of manifests/ and its
// samples is accepted by the real API server, the network policies with
// them (which the test control plane, without a network plugin, does not
// enforce).
func TestManifestsAcceptedByAPIServer(t *testing.T) {
	InstallCRDs(t)
	ensureNamespace(t, "octorun-system")
	ensureNamespace(t, "ci-runners")
	ensureNamespace(t, "ci-runners-dind")
	for dir, policy := range map[string]string{"manifests": "octorun", "manifests/samples": "runners"} {
		out := MustKubectl(t, "apply", "--server-side", "--dry-run=server", "-k", RepoPath(t, dir))
		if !strings.Contains(out, "(server dry run)") {
			t.Errorf("kubectl apply --dry-run=server -k %s:\n%s", dir, out)
		}
		if !strings.Contains(out, "networkpolicy.networking.k8s.io/"+policy+" ") {
			t.Errorf("kubectl apply -k %s applies no NetworkPolicy %s", dir, policy)
		}
		t.Logf("%s:\n%s", dir, out)
	}
	// The credentials example is valid too.
	MustKubectl(t, "apply", "--dry-run=server", "-f", RepoPath(t, "manifests", "github-credentials.example.yaml"))
}

// TestOctorunRunsWithShippedRBAC runs Octorun as a process with the token
// of its ServiceAccount bound to the shipped roles, not as cluster admin,
// with every server on: its admission webhook (self-managed certificate,
// CA bundle injected) defaults and validates, its GitHub webhook receiver
// turns a runner Active, and a RunnerSet comes up and goes away.
func TestOctorunRunsWithShippedRBAC(t *testing.T) {
	client := InstallCRDs(t)
	ns := NewNamespace(t)
	ctx := context.Background()
	metricsAddr, healthAddr, admissionAddr, hookAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	inst, err := install.Local(ctx, install.Options{
		Root: RepoPath(t), Config: Config, Client: Client, Kubectl: ControlPlane.KubectlPath, Kubeconfig: ControlPlane.KubeconfigPath,
		Dir: t.TempDir(), RunnerNamespaces: []string{ns}, AdmissionAddr: admissionAddr, WebhookNamespaces: []string{ns},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := inst.Uninstall(context.Background()); err != nil {
			t.Errorf("Uninstalling: %v", err)
		}
	})

	sim := githubsim.New(githubsim.Options{})
	sim.AddToken(simToken)
	sim.AddOrganization("octo")
	sim.AddRepository("octo", "hello")
	srv := httptest.NewServer(sim)
	defer srv.Close()
	defer sim.Close()
	agentCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go (&runneragent.Agent{Client: Client, Sim: sim, Namespace: ns}).Run(agentCtx)

	secretFile := filepath.Join(t.TempDir(), "webhook-secret")
	if err := os.WriteFile(secretFile, []byte(envWebhookSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sim.SetWebhook("http://"+hookAddr+"/github/webhooks", envWebhookSecret)
	p := startOctorun(t, append(inst.Args,
		"--github-api-url", srv.URL+"/", "--namespace", ns,
		"--metrics-addr", metricsAddr, "--metrics-secure=false", "--health-probe-addr", healthAddr, "--runner-name-prefix", "rbac-",
		"--github-webhook-addr", hookAddr, "--github-webhook-secret-file", secretFile)...)

	// The validating webhook refuses what the CRD schema lets pass.
	Eventually(t, "the admission webhook to refuse a Runner of an unknown GitHub host", func(ctx context.Context) (bool, error) {
		_, err := client.OctorunV1alpha1().Runners(ns).Create(ctx, &octorunv1alpha1.Runner{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "bad-"},
			Spec:       octorunv1alpha1.RunnerSpec{URL: "https://example.com/octo"},
		}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), "spec.url"), nil
	})

	labels := map[string]string{octorunv1alpha1.LabelRunnerSet: "rbac"}
	set := &octorunv1alpha1.RunnerSet{
		ObjectMeta: metav1.ObjectMeta{Name: "rbac"},
		Spec: octorunv1alpha1.RunnerSetSpec{
			Runners:  ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: octorunv1alpha1.RunnerTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octo"},
			},
		},
	}
	if _, err := client.OctorunV1alpha1().RunnerSets(ns).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e := &runnerEnv{ns: ns, sim: sim, client: client}
	e.waitForIdle(t, "rbac", 2)
	runners, err := client.OctorunV1alpha1().Runners(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r := runners.Items[0]; r.Spec.Workdir != octorunv1alpha1.DefaultWorkdir || r.Spec.Image.Name != octorunv1alpha1.DefaultRunnerImage {
		t.Errorf("Runner %s was not defaulted by the mutating webhook: %+v", r.Name, r.Spec)
	}

	// A job's in_progress delivery reaches the receiver: Active at once.
	job := sim.QueueJob(githubsim.JobRequest{Owner: "octo", Repo: "hello"})
	Eventually(t, "a runner to turn Active from the webhook delivery", func(ctx context.Context) (bool, error) {
		byPhase, _, err := e.setRunners(ctx, "rbac")
		return err == nil && len(byPhase[octorunv1alpha1.RunnerPhaseActive]) == 1, err
	})
	if err := sim.CompleteJob(job.ID); err != nil {
		t.Fatal(err)
	}

	// Its metrics and probes.
	Eventually(t, "/readyz to answer ok", func(context.Context) (bool, error) {
		resp, err := http.Get("http://" + healthAddr + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	want := []string{
		`octorun_runnerset_status_idle_runners{namespace="` + ns + `",runnerset="rbac"} 2`,
		`octorun_workqueue_adds_total{name="runner"}`,
		`octorun_github_requests_total{code="201",operation="GenerateJITConfig"}`,
		`octorun_githubevents_deliveries_total{action="in_progress",event="workflow_job",result="accepted"}`,
		`go_goroutines`,
	}
	Eventually(t, "/metrics to show the set, the queues and GitHub", func(context.Context) (bool, error) {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, w := range want {
			if !strings.Contains(string(body), w) {
				return false, nil
			}
		}
		return true, nil
	})

	if err := client.OctorunV1alpha1().RunnerSets(ns).Delete(ctx, "rbac", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "the runners to be released", func(ctx context.Context) (bool, error) {
		list, err := client.OctorunV1alpha1().Runners(ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(list.Items) == 0, err
	})
	if len(sim.Runners()) != 0 {
		t.Errorf("%d runners left registered on GitHub", len(sim.Runners()))
	}
	if p.LogContains("forbidden") {
		t.Error("Octorun was refused something by RBAC (see its log)")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := octorunproc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
