package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
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
// samples is accepted by the real API server.
func TestManifestsAcceptedByAPIServer(t *testing.T) {
	InstallCRDs(t)
	ensureNamespace(t, "octorun-system")
	ensureNamespace(t, "ci-runners")
	for _, dir := range []string{"manifests", "manifests/samples"} {
		out := MustKubectl(t, "apply", "--dry-run=server", "-k", RepoPath(t, dir))
		if !strings.Contains(out, "(server dry run)") {
			t.Errorf("kubectl apply --dry-run=server -k %s:\n%s", dir, out)
		}
		t.Logf("%s:\n%s", dir, out)
	}
	// The credentials example is valid too.
	MustKubectl(t, "apply", "--dry-run=server", "-f", RepoPath(t, "manifests", "github-credentials.example.yaml"))
}

// TestOctorunRunsWithShippedRBAC runs Octorun as a process with the token
// of its ServiceAccount bound to the shipped roles, not as cluster admin:
// a RunnerSet comes up and goes away.
func TestOctorunRunsWithShippedRBAC(t *testing.T) {
	client := InstallCRDs(t)
	ensureNamespace(t, "octorun-system")
	MustKubectl(t, "apply", "-f", RepoPath(t, "manifests", "rbac.yaml"))
	ns := NewNamespace(t)
	ctx := context.Background()
	// What samples/runner-namespace.yaml does, in the test's namespace.
	_, err := Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "octorun"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "octorun:runner-namespace"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "octorun", Namespace: "octorun-system"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Client.CoreV1().ServiceAccounts("octorun-system").CreateToken(ctx, "octorun", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Creating a token of the octorun ServiceAccount: %v", err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: Config.Host, CertificateAuthority: Config.CAFile, CertificateAuthorityData: Config.CAData}
	cfg.AuthInfos["octorun"] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	cfg.Contexts["octorun"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "octorun"}
	cfg.CurrentContext = "octorun"
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}

	sim := githubsim.New(githubsim.Options{})
	sim.AddToken(simToken)
	sim.AddOrganization("octo")
	srv := httptest.NewServer(sim)
	defer srv.Close()
	defer sim.Close()
	agentCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go (&runneragent.Agent{Client: Client, Sim: sim, Namespace: ns}).Run(agentCtx)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := ln.Addr().String()
	ln.Close()
	p := startOctorun(t, buildOctorun(t), []string{"GITHUB_TOKEN=" + simToken},
		"--kubeconfig", kubeconfig, "--github-api-url", srv.URL+"/", "--namespace", ns,
		"--leader-election-namespace", "octorun-system", "--leader-election-lease", "octorun-"+ns,
		"--metrics-addr", metricsAddr, "--runner-name-prefix", "rbac-")

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

	// Its metrics and probes.
	Eventually(t, "/readyz to answer ok", func(context.Context) (bool, error) {
		resp, err := http.Get("http://" + metricsAddr + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	want := []string{
		`octorun_runnerset_status_idle_runners{namespace="` + ns + `",runnerset="rbac"} 2`,
		`octorun_workqueue_adds_total{name="runner"}`,
		`octorun_github_requests_total{code="201",operation="GenerateJITConfig"} 2`,
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
	if p.saw("forbidden") {
		t.Error("Octorun was refused something by RBAC (see its log)")
	}
	_ = os.Remove(kubeconfig)
}
