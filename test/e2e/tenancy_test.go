package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned"
	"github.com/octorun/octorun/test/framework/install"
	"github.com/octorun/octorun/test/framework/runneragent"
	"github.com/octorun/octorun/test/githubsim"
)

// TestTenantsStayApart runs Octorun as its ServiceAccount over the whole
// cluster, with its admission webhook on two tenants' namespaces, and a
// third namespace of tenant A outside the webhook's reach, as if the
// webhook were off there. ScopeGrants give tenant A organization org-a and
// tenant B org-b. The namespaces enforce Pod Security "baseline".
//
//   - Tenant A cannot register into B's scope: admission refuses the
//     Runner, and without admission the controller refuses it, with no
//     GitHub call for that scope; the refusals name no other scope.
//   - Tenant A cannot make Octorun remove a GitHub runner it does not own
//     by writing its id into spec.id.
//   - Runners of namespaces "P" and "P-b", named "b-c" and "c", get GitHub
//     runners of their own, where both were once named "P-b-c".
//   - Runner pods are admitted where baseline is enforced.
func TestTenantsStayApart(t *testing.T) {
	client := InstallCRDs(t)
	ctx := context.Background()
	a, b, aOff := NewNamespace(t), NewNamespace(t), NewNamespace(t)
	aDash := a + "-b" // "P-b" to a's "P"
	ensureNamespace(t, aDash)
	t.Cleanup(func() { _ = Client.CoreV1().Namespaces().Delete(context.Background(), aDash, metav1.DeleteOptions{}) })
	for _, ns := range []string{a, b, aOff, aDash} {
		MustKubectl(t, "label", "--overwrite", "namespace", ns, "pod-security.kubernetes.io/enforce=baseline")
	}
	grant(t, client, "tenant-a", []string{a, aOff, aDash}, "https://github.com/org-a")
	grant(t, client, "tenant-b", []string{b}, "https://github.com/org-b")

	admissionAddr := freeAddr(t)
	inst, err := install.Local(ctx, install.Options{
		Root: RepoPath(t), Config: Config, Client: Client, Kubectl: ControlPlane.KubectlPath, Kubeconfig: ControlPlane.KubeconfigPath,
		Dir: t.TempDir(), RunnerNamespaces: []string{a, b, aOff, aDash}, NoGrant: true,
		AdmissionAddr: admissionAddr, WebhookNamespaces: []string{a, b, aDash},
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
	sim.AddOrganization("org-a")
	sim.AddOrganization("org-b")
	var pathsMu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pathsMu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		pathsMu.Unlock()
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(sim.Close)
	agentCtx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	for _, ns := range []string{a, b, aOff, aDash} {
		go (&runneragent.Agent{Client: Client, Sim: sim, Namespace: ns}).Run(agentCtx)
	}
	startOctorun(t, append(inst.Args,
		"--github-api-url", srv.URL+"/", "--runner-name-prefix", "tenancy-",
		"--metrics-addr", freeAddr(t), "--metrics-secure=false", "--health-probe-addr", freeAddr(t),
		"--registration-retry-period", "1s")...)

	runnerOf := func(ns, name, url string) *octorunv1alpha1.Runner {
		return &octorunv1alpha1.Runner{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{octorunv1alpha1.LabelRunner: name}},
			Spec:       octorunv1alpha1.RunnerSpec{URL: url},
		}
	}
	envA := &runnerEnv{ns: a, sim: sim, client: client}

	// Tenant A's own scope works, and its pod passes baseline.
	Eventually(t, "the admission webhook to admit a Runner of tenant A's own scope", func(ctx context.Context) (bool, error) {
		_, err := client.OctorunV1alpha1().Runners(a).Create(ctx, runnerOf(a, "b-c", "https://github.com/org-a"), metav1.CreateOptions{})
		return err == nil, nil
	})
	envA.waitForPhase(t, "b-c", octorunv1alpha1.RunnerPhaseIdle)

	// Admission refuses B's scope, and says nothing of what A may use.
	Eventually(t, "the admission webhook to refuse tenant A a Runner of org-b", func(ctx context.Context) (bool, error) {
		_, err := client.OctorunV1alpha1().Runners(a).Create(ctx, runnerOf(a, "steal", "https://github.com/org-b"), metav1.CreateOptions{})
		if err == nil {
			return false, client.OctorunV1alpha1().Runners(a).Delete(ctx, "steal", metav1.DeleteOptions{})
		}
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "ScopeGrant") {
			return false, nil
		}
		if strings.Contains(err.Error(), "org-a") {
			t.Errorf("The refusal tells tenant A's other scopes: %v", err)
		}
		return true, nil
	})
	set := &octorunv1alpha1.RunnerSet{
		ObjectMeta: metav1.ObjectMeta{Name: "steal"},
		Spec: octorunv1alpha1.RunnerSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{octorunv1alpha1.LabelRunnerSet: "steal"}},
			Template: octorunv1alpha1.RunnerTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{octorunv1alpha1.LabelRunnerSet: "steal"}},
				Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/org-b"},
			},
		},
	}
	if _, err := client.OctorunV1alpha1().RunnerSets(a).Create(ctx, set, metav1.CreateOptions{}); err == nil || !strings.Contains(err.Error(), "ScopeGrant") {
		t.Errorf("Creating a RunnerSet of org-b in tenant A's namespace: error %v, want a ScopeGrant refusal", err)
	}

	// Without admission, the controller refuses, and GitHub hears nothing.
	if _, err := client.OctorunV1alpha1().Runners(aOff).Create(ctx, runnerOf(aOff, "steal", "https://github.com/org-b"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("Creating a Runner where no webhook runs: %v", err)
	}
	Eventually(t, "the controller to refuse tenant A a Runner of org-b", func(ctx context.Context) (bool, error) {
		r, err := client.OctorunV1alpha1().Runners(aOff).Get(ctx, "steal", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		cond := meta.FindStatusCondition(r.Status.Conditions, octorunv1alpha1.RunnerConditionRegistered)
		return cond != nil && cond.Reason == octorunv1alpha1.ReasonScopeNotGranted, nil
	})
	for _, r := range sim.Runners() {
		if r.Org == "org-b" {
			t.Errorf("GitHub runner %d (%s) was registered in org-b for tenant A", r.ID, r.Name)
		}
	}
	pathsMu.Lock()
	for _, call := range paths {
		if strings.Contains(call, "org-b") {
			t.Errorf("Octorun called GitHub for org-b on tenant A's behalf: %s", call)
		}
	}
	pathsMu.Unlock()

	// A spec.id naming another's runner, and Octorun's finalizer, written
	// by the tenant: deleting the Runner leaves that runner on GitHub.
	victim := sim.AddRunner("org-a", "", "someone-elses-runner")
	forged := runnerOf(aOff, "forged", "https://github.com/org-a")
	forged.Spec.ID = victim.ID
	forged.Finalizers = []string{octorunv1alpha1.RunnerFinalizer}
	if _, err := client.OctorunV1alpha1().Runners(aOff).Create(ctx, forged, metav1.CreateOptions{}); err != nil {
		t.Fatalf("Creating a Runner with a forged spec.id: %v", err)
	}
	if err := client.OctorunV1alpha1().Runners(aOff).Delete(ctx, "forged", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "the Runner with a forged spec.id to be released", func(ctx context.Context) (bool, error) {
		_, err := client.OctorunV1alpha1().Runners(aOff).Get(ctx, "forged", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if _, ok := sim.Runner(victim.ID); !ok {
		t.Errorf("GitHub runner %d, not Octorun's, was removed when a Runner forging its id was deleted", victim.ID)
	}

	// "P"/"b-c" and "P-b"/"c": one GitHub runner each.
	if _, err := client.OctorunV1alpha1().Runners(aDash).Create(ctx, runnerOf(aDash, "c", "https://github.com/org-a"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	(&runnerEnv{ns: aDash, sim: sim, client: client}).waitForPhase(t, "c", octorunv1alpha1.RunnerPhaseIdle)
	envA.waitForPhase(t, "b-c", octorunv1alpha1.RunnerPhaseIdle)
	var names []string
	for _, r := range sim.Runners() {
		if strings.HasPrefix(r.Name, "tenancy-") {
			names = append(names, r.Name)
		}
	}
	slices.Sort(names)
	want := []string{"tenancy-" + a + ".b-c", "tenancy-" + aDash + ".c"}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("GitHub runners %v, want %v", names, want)
	}

	// Their pods passed baseline.
	for _, p := range []struct{ ns, name string }{{a, "b-c"}, {aDash, "c"}} {
		pod, err := Client.CoreV1().Pods(p.ns).Get(ctx, p.name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("Runner pod %s/%s in a namespace enforcing baseline: %v", p.ns, p.name, err)
			continue
		}
		if sc := pod.Spec.SecurityContext; sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("Runner pod %s/%s has no RuntimeDefault seccomp profile: %+v", p.ns, p.name, sc)
		}
	}
}

// grant makes a ScopeGrant of url (any runner group) to the namespaces
// until the test ends.
func grant(t *testing.T, client versioned.Interface, name string, namespaces []string, url string) {
	t.Helper()
	_, err := client.OctorunV1alpha1().ScopeGrants().Create(context.Background(), &octorunv1alpha1.ScopeGrant{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: octorunv1alpha1.ScopeGrantSpec{
			Namespaces: namespaces,
			Scopes:     []octorunv1alpha1.GrantedScope{{URL: url, RunnerGroups: []string{"*"}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Creating ScopeGrant %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = client.OctorunV1alpha1().ScopeGrants().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}
