package e2e

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/controller/runner"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned"
	"github.com/octorun/octorun/pkg/githubevents/jobstore"
	"github.com/octorun/octorun/test/framework/access"
	"github.com/octorun/octorun/test/framework/install"
	"github.com/octorun/octorun/test/framework/octorunproc"
	"github.com/octorun/octorun/test/framework/runneragent"
	"github.com/octorun/octorun/test/githubsim"
)

// rbacUnseen are the permissions of manifests/rbac.yaml that
// TestShippedRBACIsWhatOctorunUses does not see used, each with the code
// that uses it and why the scenario does not get there: none today. Keep
// it short: a code path the scenario can reach belongs in the scenario. An
// entry the scenario does use fails the test, so the list never outlives
// its reason.
var rbacUnseen []struct{ group, resource, verb, why string }

// TestShippedRBACIsWhatOctorunUses runs Octorun as its ServiceAccount,
// bound to the shipped roles, behind a proxy that records every request it
// makes to the API server, through a scenario taking each code path of
// Octorun that calls the API server: a first start (Lease, admission
// certificate, job store created), a Runner whose pod name is taken, one
// whose pod the API server refuses (a repeated Event), a RunnerSet
// adopting a Runner and creating another, a job (job hints, the job store,
// the busy label and PodDisruptionBudget), a scrape of its metrics (token
// and access reviews), a restart onto a certificate Secret to renew and
// without streamed lists, a scale-down and deletions. It then holds the
// roles to the requests: none was refused, and every verb of every rule of
// manifests/rbac.yaml, on each of its resources, allowed one of them, but
// for rbacUnseen.
func TestShippedRBACIsWhatOctorunUses(t *testing.T) {
	client := InstallCRDs(t)
	ns := NewNamespace(t)
	ctx := context.Background()
	admissionAddr, hookAddr, metricsAddr, healthAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
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
	// What Octorun creates when it first starts, left by earlier tests.
	resetOctorunNamespace(t)

	recorder, err := access.NewRecorder(Config)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewTLSServer(recorder)
	t.Cleanup(proxy.Close) // after Octorun stopped: cleanups run last first

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
	const hookSecret = "e2e-rbac-webhook-secret-of-32-bytes-or-more"
	if err := os.WriteFile(secretFile, []byte(hookSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sim.SetWebhook("http://"+hookAddr+"/github/webhooks", hookSecret)
	args := append(withKubeconfig(t, inst.Args, proxiedKubeconfig(t, inst.Kubeconfig, proxy)),
		"--github-api-url", srv.URL+"/", "--namespace", ns, "--runner-name-prefix", "rbac-", "--registration-retry-period=1s",
		"--metrics-addr", metricsAddr, "--health-probe-addr", healthAddr,
		"--github-webhook-addr", hookAddr, "--github-webhook-secret-file", secretFile)

	// The first start: the Lease, the certificate Secret and the CA bundle
	// in the webhook configurations.
	p := startOctorun(t, args...)
	waitForAdmission(t, client, ns, p)
	e := &runnerEnv{ns: ns, sim: sim, client: client}

	// A pod of a Runner's name that is not Octorun's, and that Octorun's
	// cache, of labelled pods, does not show: its create fails, and the
	// read that follows finds the conflict.
	if _, err := Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "squatted"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.createRunner(t, "squatted", nil)
	Eventually(t, "Runner squatted to report the conflict", func(ctx context.Context) (bool, error) {
		r, err := client.OctorunV1alpha1().Runners(ns).Get(ctx, "squatted", metav1.GetOptions{})
		return err == nil && slices.ContainsFunc(r.Status.Conditions, func(c metav1.Condition) bool {
			return c.Reason == octorunv1alpha1.ReasonPodNameConflict
		}), err
	})

	// A Runner whose pod the API server refuses, again and again with the
	// same message: the recorder patches the Event's count.
	invalid := &octorunv1alpha1.Runner{
		ObjectMeta: metav1.ObjectMeta{Name: "invalid"},
		Spec: octorunv1alpha1.RunnerSpec{URL: "https://github.com/octo", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		}},
	}
	if _, err := client.OctorunV1alpha1().Runners(ns).Create(ctx, invalid, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "the Event of Runner invalid's refused pod to repeat", func(ctx context.Context) (bool, error) {
		events, err := Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=invalid"})
		return err == nil && slices.ContainsFunc(events.Items, func(e corev1.Event) bool {
			return e.Reason == runner.EventFailedCreatePod && e.Count > 1
		}), err
	})

	// A Runner whose GitHub name an offline registration holds (an
	// attempt whose Secret was never stored): registered after GitHub's
	// 409, once the live Runner and its Secret were read and the leftover
	// removed. And one whose own Secret records a registration gone from
	// GitHub, made while its organization is unknown to GitHub (so it is
	// not registered before its Secret is there): the Secret is replaced.
	held := sim.AddRunner("octo", "", octorunv1alpha1.GitHubRunnerName("rbac-", &octorunv1alpha1.Runner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "held"}}))
	e.createRunner(t, "held", nil)
	stale := e.createRunnerAt(t, "stale", "https://github.com/stale-org")
	if _, err := Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: "stale", Annotations: map[string]string{octorunv1alpha1.LabelPrefix + "runner-id": "999999"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(stale, octorunv1alpha1.SchemeGroupVersion.WithKind("Runner"))},
		},
		Data: map[string][]byte{"jitconfig": []byte("c3RhbGU=")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sim.AddOrganization("stale-org")
	for _, name := range []string{"held", "stale"} {
		Eventually(t, "Runner "+name+" to be registered", func(ctx context.Context) (bool, error) {
			r, err := client.OctorunV1alpha1().Runners(ns).Get(ctx, name, metav1.GetOptions{})
			return err == nil && r.Spec.ID != 0 && r.Spec.ID != held.ID, err
		})
	}
	if s, err := Client.CoreV1().Secrets(ns).Get(ctx, "stale", metav1.GetOptions{}); err != nil || s.Annotations[octorunv1alpha1.LabelPrefix+"runner-id"] == "999999" {
		t.Errorf("Secret stale = %v, %v; want it replaced", s.Annotations, err)
	}
	// Gone before the job below, which either could take.
	for _, name := range []string{"held", "stale"} {
		if err := client.OctorunV1alpha1().Runners(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitForRunnerGone(t, name)
	}

	// A RunnerSet adopting an orphan it selects.
	labels := map[string]string{octorunv1alpha1.LabelRunnerSet: "rbac"}
	e.createRunner(t, "orphan", labels)
	e.waitForPhase(t, "orphan", octorunv1alpha1.RunnerPhaseIdle) // in the cache the set adopts from
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
	// Adopted, the orphan is replaced, as it lacks the template's hash;
	// gone, it takes no job.
	e.waitForRunnerGone(t, "orphan")
	e.waitForIdle(t, "rbac", 2)

	// A job: a delivery to the receiver (job hint, job store), the busy
	// label and the PodDisruptionBudget of busy runners.
	job := sim.QueueJob(githubsim.JobRequest{Owner: "octo", Repo: "hello"})
	Eventually(t, "a runner to turn Active and its pod to be kept from evictions", func(ctx context.Context) (bool, error) {
		byPhase, _, err := e.setRunners(ctx, "rbac")
		if err != nil || len(byPhase[octorunv1alpha1.RunnerPhaseActive]) != 1 {
			return false, err
		}
		_, err = Client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, octorunv1alpha1.BusyRunnersPDB, metav1.GetOptions{})
		return err == nil, nil
	})
	owners := blockingOwners(t, client, ns)
	if err := sim.CompleteJob(job.ID); err != nil {
		t.Fatal(err)
	}
	e.waitForIdle(t, "rbac", 2)

	// A scrape, whose token and access Octorun has the API server review.
	scrapeMetrics(t, metricsAddr)

	// A restart onto a certificate Secret without a certificate: the new
	// process takes over the released Lease and renews the Secret.
	if err := p.Stop(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	cert, err := Client.CoreV1().Secrets(install.Namespace).Get(ctx, install.CertSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cert.Data = map[string][]byte{corev1.TLSCertKey: nil, corev1.TLSPrivateKeyKey: nil}
	if _, err := Client.CoreV1().Secrets(install.Namespace).Update(ctx, cert, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The first process streamed its informers' initial lists in watches
	// (client-go's WatchListClient); this one lists, as client-go does on
	// an API server that cannot stream them.
	t.Setenv("KUBE_FEATURE_WatchListClient", "false")
	p = startOctorun(t, args...)
	Eventually(t, "the certificate Secret to be renewed", func(ctx context.Context) (bool, error) {
		s, err := Client.CoreV1().Secrets(install.Namespace).Get(ctx, install.CertSecret, metav1.GetOptions{})
		return err == nil && len(s.Data[corev1.TLSCertKey]) > 0, err
	})
	waitForAdmission(t, client, ns, p)

	// A scale-set RunnerSet: its finalizer, spec.runners following a job,
	// its status, and its deletion.
	scaleSet := &octorunv1alpha1.RunnerSet{
		ObjectMeta: metav1.ObjectMeta{Name: "rbac-scale"},
		Spec: octorunv1alpha1.RunnerSetSpec{
			Runners:  ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"set": "rbac-scale"}},
			Template: octorunv1alpha1.RunnerTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"set": "rbac-scale"}},
				Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octo"},
			},
			ScaleSet: &octorunv1alpha1.RunnerScaleSetSpec{MaxRunners: ptr.To[int32](2)},
		},
	}
	if _, err := client.OctorunV1alpha1().RunnerSets(ns).Create(ctx, scaleSet, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "the scale set to listen", func(ctx context.Context) (bool, error) {
		s, err := client.OctorunV1alpha1().RunnerSets(ns).Get(ctx, "rbac-scale", metav1.GetOptions{})
		return err == nil && meta.IsStatusConditionTrue(s.Status.Conditions, octorunv1alpha1.RunnerSetConditionScaleSetReady), err
	})
	scaleJob := sim.QueueScaleSetJob("octo", "hello", "rbac-scale", 200*time.Millisecond)
	Eventually(t, "the scale set's job to complete", func(ctx context.Context) (bool, error) {
		j, ok := sim.Job(scaleJob.ID)
		return ok && j.Status == githubsim.JobCompleted, nil
	})
	if err := client.OctorunV1alpha1().RunnerSets(ns).Delete(ctx, "rbac-scale", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "the scale-set RunnerSet and its scale set to go", func(ctx context.Context) (bool, error) {
		_, err := client.OctorunV1alpha1().RunnerSets(ns).Get(ctx, "rbac-scale", metav1.GetOptions{})
		return apierrors.IsNotFound(err) && len(sim.ScaleSets()) == 0, nil
	})

	// A scale-down, then the rest deleted.
	scale := []byte(`{"spec":{"runners":1}}`)
	if _, err := client.OctorunV1alpha1().RunnerSets(ns).Patch(ctx, "rbac", types.MergePatchType, scale, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "the set to be scaled down, its runner's pod and Secret gone", func(ctx context.Context) (bool, error) {
		list, err := client.OctorunV1alpha1().Runners(ns).List(ctx, metav1.ListOptions{LabelSelector: octorunv1alpha1.LabelRunnerSet + "=rbac"})
		if err != nil || len(list.Items) != 1 {
			return false, err
		}
		pods, err := Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: octorunv1alpha1.LabelRunner})
		return err == nil && len(pods.Items) == 1, err
	})
	for _, name := range []string{"squatted", "invalid"} {
		if err := client.OctorunV1alpha1().Runners(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.OctorunV1alpha1().RunnerSets(ns).Delete(ctx, "rbac", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "the runners to be released", func(ctx context.Context) (bool, error) {
		list, err := client.OctorunV1alpha1().Runners(ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(list.Items) == 0, err
	})
	if n := len(sim.Runners()); n != 0 {
		t.Errorf("%d runners left registered on GitHub", n)
	}

	records := append(recorder.Records(), finalizerChecks(t, ns, owners)...)
	checkRBACAgainst(t, ns, records)
}

// checkRBACAgainst fails t for each request refused, each request allowed
// by no rule of the manifests, each permission (verb, group, resource of a
// rule) no request used unless rbacUnseen names it, and each permission
// rbacUnseen names that was used.
func checkRBACAgainst(t *testing.T, runnerNamespace string, records []access.Record) {
	t.Helper()
	m, err := access.LoadManifests(RepoPath(t))
	if err != nil {
		t.Fatal(err)
	}
	policy, err := m.Policy(runnerNamespace)
	if err != nil {
		t.Fatal(err)
	}
	used := map[access.Permission]bool{}
	seen := map[string]int{}
	for _, r := range records {
		seen[fmt.Sprintf("%s: %d", r.Request, r.Code)]++
		if r.Code == http.StatusForbidden {
			t.Errorf("Octorun was refused %s", r.Request)
			continue
		}
		if !r.IsResource() {
			continue
		}
		allowing := policy.Allowing(r.Request)
		if len(allowing) == 0 {
			t.Errorf("Octorun made %s (answered %d), which no rule of the manifests allows", r.Request, r.Code)
		}
		for _, perm := range allowing {
			used[perm] = true
		}
	}
	for _, perm := range policy.Permissions() {
		unseen := slices.ContainsFunc(rbacUnseen, func(u struct{ group, resource, verb, why string }) bool {
			return u.group == perm.Group && u.resource == perm.Resource && u.verb == perm.Verb
		})
		switch {
		case used[perm] && unseen:
			t.Errorf("%s was used: take it off rbacUnseen", perm)
		case !used[perm] && !unseen:
			t.Errorf("%s was never used: drop it from the manifests, or take its code path in this test", perm)
		}
	}
	lines := make([]string, 0, len(seen))
	for s, n := range seen {
		lines = append(lines, fmt.Sprintf("%s (%d×)", s, n))
	}
	sort.Strings(lines)
	t.Logf("Requests of Octorun:\n%s", strings.Join(lines, "\n"))
}

// scrapeMetrics gets Octorun's /metrics at addr over HTTPS with the
// admin's token, as a scraper does.
func scrapeMetrics(t *testing.T, addr string) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // self-signed, as scrapers accept
	}}
	req, err := http.NewRequest(http.MethodGet, "https://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+Config.BearerToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /metrics: %s", resp.Status)
	}
}

// waitForAdmission waits until the validating webhook of Octorun, process
// p, refuses what the CRD schema lets pass: its certificate is served and
// trusted.
func waitForAdmission(t *testing.T, client versioned.Interface, ns string, p *octorunproc.Process) {
	t.Helper()
	Eventually(t, "the admission webhook to refuse a Runner of an unknown GitHub host", func(ctx context.Context) (bool, error) {
		select {
		case <-p.Done():
			return false, fmt.Errorf("octorun exited: %v", p.Err())
		default:
		}
		_, err := client.OctorunV1alpha1().Runners(ns).Create(ctx, &octorunv1alpha1.Runner{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "bad-"},
			Spec:       octorunv1alpha1.RunnerSpec{URL: "https://example.com/octo"},
		}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), "spec.url"), nil
	})
}

// resetOctorunNamespace deletes what Octorun creates in its namespace on
// its first start: its Lease, its certificate Secret and the ConfigMaps
// of its job store.
func resetOctorunNamespace(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	err := Client.CoordinationV1().Leases(install.Namespace).Delete(ctx, "octorun", metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	err = Client.CoreV1().Secrets(install.Namespace).Delete(ctx, install.CertSecret, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	err = Client.CoreV1().ConfigMaps(install.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: jobstore.Label})
	if err != nil {
		t.Fatal(err)
	}
}

// proxiedKubeconfig writes a copy of the kubeconfig at path whose server
// is proxy, with the same credentials (which client-go sends over TLS
// only).
func proxiedKubeconfig(t *testing.T, path string, proxy *httptest.Server) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: proxy.Certificate().Raw})
	for _, c := range cfg.Clusters {
		c.Server, c.CertificateAuthority, c.CertificateAuthorityData = proxy.URL, "", ca
	}
	out := filepath.Join(t.TempDir(), "octorun-proxied.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// withKubeconfig returns args with the value of --kubeconfig replaced.
func withKubeconfig(t *testing.T, args []string, kubeconfig string) []string {
	t.Helper()
	i := slices.Index(args, "--kubeconfig")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("no --kubeconfig in %q", args)
	}
	out := slices.Clone(args)
	out[i+1] = kubeconfig
	return out
}

// ownerRef is an owner that blocks the deletion of an object of a runner
// namespace until the object is gone.
type ownerRef struct {
	group, kind, name string
}

// blockingOwners returns the owners that block their deletion of the pods,
// Secrets and Runners of ns: setting such a reference, with the
// OwnerReferencesPermissionEnforcement admission plugin on, needs update
// on the owner's finalizers.
func blockingOwners(t *testing.T, client versioned.Interface, ns string) []ownerRef {
	t.Helper()
	ctx := context.Background()
	var metas []metav1.ObjectMeta
	pods, err := Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range pods.Items {
		metas = append(metas, o.ObjectMeta)
	}
	secrets, err := Client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range secrets.Items {
		metas = append(metas, o.ObjectMeta)
	}
	runners, err := client.OctorunV1alpha1().Runners(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range runners.Items {
		metas = append(metas, o.ObjectMeta)
	}
	var owners []ownerRef
	for _, m := range metas {
		for _, ref := range m.OwnerReferences {
			if ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
				continue
			}
			gv, err := schema.ParseGroupVersion(ref.APIVersion)
			if err != nil {
				t.Fatal(err)
			}
			o := ownerRef{group: gv.Group, kind: ref.Kind, name: ref.Name}
			if !slices.ContainsFunc(owners, func(x ownerRef) bool { return x.group == o.group && x.kind == o.kind }) {
				owners = append(owners, o)
			}
		}
	}
	return owners
}

// finalizerChecks asks the API server, for each owner, what the
// OwnerReferencesPermissionEnforcement admission plugin asks before it
// admits a reference to it blocking its deletion, which the test control
// plane does not run: may Octorun update the owner's finalizers? The
// answers are records as if Octorun had made those requests.
func finalizerChecks(t *testing.T, ns string, owners []ownerRef) []access.Record {
	t.Helper()
	resources := map[string]string{"Runner": "runners", "RunnerSet": "runnersets"}
	var records []access.Record
	for _, o := range owners {
		resource, ok := resources[o.kind]
		if !ok {
			t.Errorf("Octorun set a reference blocking the deletion of a %s: add its resource to finalizerChecks", o.kind)
			continue
		}
		req := access.Request{Verb: "update", Group: o.group, Resource: resource, Subresource: "finalizers", Namespace: ns, Name: o.name}
		review, err := Client.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User:   "system:serviceaccount:" + access.ServiceAccountNamespace + ":" + access.ServiceAccountName,
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + access.ServiceAccountNamespace, "system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: ns, Verb: req.Verb, Group: req.Group, Resource: req.Resource, Subresource: req.Subresource, Name: req.Name,
				},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		code := http.StatusOK
		if !review.Status.Allowed {
			code = http.StatusForbidden
		}
		records = append(records, access.Record{Request: req, Code: code})
	}
	if len(owners) < 2 {
		t.Errorf("Want references blocking the deletion of Runners and of RunnerSets, got %v", owners)
	}
	return records
}
