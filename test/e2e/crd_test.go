package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned"
)

var (
	crdsOnce sync.Once
	crdsErr  error
)

// InstallCRDs applies manifests/crd with the built kubectl (server-side
// apply, as a user would) once per package, and returns Octorun's clientset.
func InstallCRDs(t *testing.T) versioned.Interface {
	t.Helper()
	crdsOnce.Do(func() {
		if _, crdsErr = Kubectl("apply", "--server-side", "-f", RepoPath(t, "manifests", "crd")); crdsErr != nil {
			return
		}
		_, crdsErr = Kubectl("wait", "--for=condition=Established", "--timeout=60s",
			"crd/runners.octorun.github.io", "crd/runnersets.octorun.github.io", "crd/scopegrants.octorun.github.io")
	})
	if crdsErr != nil {
		t.Fatalf("Installing the CRDs: %v", crdsErr)
	}
	client, err := versioned.NewForConfig(Config)
	if err != nil {
		t.Fatalf("Creating the Octorun clientset: %v", err)
	}
	return client
}

func testRunnerSet(name string) *octorunv1alpha1.RunnerSet {
	labels := map[string]string{octorunv1alpha1.LabelRunnerSet: name}
	return &octorunv1alpha1.RunnerSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: octorunv1alpha1.RunnerSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: octorunv1alpha1.RunnerTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octorun"},
			},
		},
	}
}

// TestRunnerSetScaleSubresource creates a RunnerSet, scales it with kubectl
// and reads and writes the scale subresource through the typed client.
func TestRunnerSetScaleSubresource(t *testing.T) {
	client := InstallCRDs(t)
	ns := NewNamespace(t)
	ctx := context.Background()
	sets := client.OctorunV1alpha1().RunnerSets(ns)

	set, err := sets.Create(ctx, testRunnerSet("scaled"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Creating a RunnerSet: %v", err)
	}
	// Defaults of the CRD schema.
	if set.Spec.Runners == nil || *set.Spec.Runners != 1 {
		t.Errorf("spec.runners defaulted to %v, want 1", set.Spec.Runners)
	}
	if got := set.Spec.Template.Spec.Group; got != "Default" {
		t.Errorf("spec.template.spec.group defaulted to %q, want Default", got)
	}
	if got := set.Spec.Template.Labels[octorunv1alpha1.LabelRunnerSet]; got != "scaled" {
		t.Errorf("spec.template.metadata.labels were pruned: %v", set.Spec.Template.Labels)
	}

	MustKubectl(t, "scale", "-n", ns, "runnerset/scaled", "--replicas=3")
	scale, err := sets.GetScale(ctx, "scaled", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("GetScale: %v", err)
	}
	if scale.Spec.Replicas != 3 {
		t.Errorf("Scale spec.replicas = %d after kubectl scale, want 3", scale.Spec.Replicas)
	}

	// The status subresource feeds the scale's status and selector.
	set, err = sets.Get(ctx, "scaled", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set.Status = octorunv1alpha1.RunnerSetStatus{
		Runners: 3, IdleRunners: 2, ActiveRunners: 1,
		Selector: octorunv1alpha1.LabelRunnerSet + "=scaled", ObservedGeneration: set.Generation,
	}
	if _, err := sets.UpdateStatus(ctx, set, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("UpdateStatus: %v", err)
	}
	scale, err = sets.GetScale(ctx, "scaled", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("GetScale: %v", err)
	}
	if scale.Status.Replicas != 3 || scale.Status.Selector != set.Status.Selector {
		t.Errorf("Scale status = %+v, want 3 replicas and selector %q", scale.Status, set.Status.Selector)
	}

	scale.Spec.Replicas = 0
	if _, err := sets.UpdateScale(ctx, "scaled", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("UpdateScale to 0: %v", err)
	}
	set, err = sets.Get(ctx, "scaled", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *set.Spec.Runners != 0 {
		t.Errorf("spec.runners = %d after scaling to 0, want 0", *set.Spec.Runners)
	}

	// Printer columns and the category.
	out := MustKubectl(t, "get", "-n", ns, "octorun")
	for _, column := range []string{"DESIRED", "CURRENT", "IDLE", "ACTIVE", "AGE", "runnerset.octorun.github.io/scaled"} {
		if !strings.Contains(out, column) {
			t.Errorf("kubectl get octorun does not show %q:\n%s", column, out)
		}
	}

	// No idle or active runner shows 0, not an empty cell, also when a
	// status writer leaves the counts out.
	MustKubectl(t, "patch", "-n", ns, "runnerset/scaled", "--subresource=status", "--type=merge",
		"-p", `{"status":{"runners":0,"idleRunners":null,"activeRunners":null}}`)
	out = MustKubectl(t, "get", "-n", ns, "runnerset/scaled", "--no-headers", "-o", "custom-columns=IDLE:.status.idleRunners,ACTIVE:.status.activeRunners")
	if got := strings.Fields(out); len(got) != 2 || got[0] != "0" || got[1] != "0" {
		t.Errorf("kubectl get runnerset shows idle and active runners as %q, want 0 and 0", out)
	}
	out = MustKubectl(t, "get", "-n", ns, "runnerset/scaled", "--no-headers")
	if got := strings.Fields(out); len(got) != 6 || got[3] != "0" || got[4] != "0" {
		t.Errorf("kubectl get runnerset = %q, want IDLE 0 and ACTIVE 0", out)
	}
}

// TestCRDValidation checks the schema rules a user meets without the
// admission webhook.
func TestCRDValidation(t *testing.T) {
	client := InstallCRDs(t)
	ns := NewNamespace(t)
	ctx := context.Background()

	for _, tc := range []struct {
		name    string
		mutate  func(*octorunv1alpha1.Runner)
		invalid string // field named in the rejection; "" when valid
	}{
		{name: "organization URL", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.URL = "https://github.com/octorun" }},
		{name: "repository URL", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.URL = "https://github.com/octorun/octorun" }},
		{name: "enterprise URL with port", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.URL = "https://ghe.example.com:8443/org/repo" }},
		{name: "http URL", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.URL = "http://github.com/octorun" }, invalid: "spec.url"},
		{name: "URL with extra path", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.URL = "https://github.com/octorun/octorun/tree" }, invalid: "spec.url"},
		{name: "URL with query", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.URL = "https://github.com/octorun?x=1" }, invalid: "spec.url"},
		{name: "URL with credentials", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.URL = "https://user:pw@github.com/octorun" }, invalid: "spec.url"},
		{name: "host only", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.URL = "https://github.com" }, invalid: "spec.url"},
		{name: "missing URL", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.URL = "" }, invalid: "spec.url"},
		{name: "bad pull policy", mutate: func(r *octorunv1alpha1.Runner) { r.Spec.Image.PullPolicy = "Sometimes" }, invalid: "spec.image.pullPolicy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &octorunv1alpha1.Runner{
				ObjectMeta: metav1.ObjectMeta{GenerateName: "runner-"},
				Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octorun"},
			}
			tc.mutate(r)
			_, err := client.OctorunV1alpha1().Runners(ns).Create(ctx, r, metav1.CreateOptions{})
			switch {
			case tc.invalid == "" && err != nil:
				t.Errorf("Create rejected a valid Runner: %v", err)
			case tc.invalid != "" && !apierrors.IsInvalid(err):
				t.Errorf("Create error = %v, want Invalid on %s", err, tc.invalid)
			case tc.invalid != "" && !strings.Contains(err.Error(), tc.invalid):
				t.Errorf("Create error %q does not name %s", err, tc.invalid)
			}
		})
	}

	set := testRunnerSet("negative")
	set.Spec.Runners = ptr.To[int32](-1)
	if _, err := client.OctorunV1alpha1().RunnerSets(ns).Create(ctx, set, metav1.CreateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.runners") {
		t.Errorf("Creating a RunnerSet with -1 runners: error = %v, want Invalid on spec.runners", err)
	}
}

// TestRunnerSpecImmutable: with no admission webhook registered, as in
// make run-local, the CRD's transition rules keep a live Runner's spec as
// created, but for spec.id and spec.os, which may be set once. A user's
// kubectl patch of spec.url or of a set spec.id is refused.
func TestRunnerSpecImmutable(t *testing.T) {
	client := InstallCRDs(t)
	ns := NewNamespace(t)
	ctx := context.Background()
	r, err := client.OctorunV1alpha1().Runners(ns).Create(ctx, &octorunv1alpha1.Runner{
		ObjectMeta: metav1.ObjectMeta{Name: "immutable"},
		Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octorun", Workdir: "_work"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Creating the Runner: %v", err)
	}
	patch := func(p string) error {
		_, err := Kubectl("-n", ns, "patch", "runner", r.Name, "--type=merge", "-p", p)
		return err
	}
	for _, tc := range []struct {
		patch   string
		refused string // the field of the refusal; "" when allowed
		msg     string // and its message
	}{
		{patch: `{"spec":{"url":"https://github.com/victim"}}`, refused: "spec.url: Invalid value", msg: "field is immutable"},
		{patch: `{"spec":{"workdir":"other"}}`, refused: "spec.workdir: Invalid value", msg: "field is immutable"},
		{patch: `{"spec":{"workdir":null}}`, refused: "spec.workdir: Invalid value", msg: "field is immutable"},
		{patch: `{"spec":{"serviceAccountName":"admin"}}`, refused: "spec.serviceAccountName: Invalid value", msg: "field is immutable"},
		{patch: `{"spec":{"volumes":[{"name":"host","hostPath":{"path":"/"}}]}}`, refused: "spec.volumes: Invalid value", msg: "field is immutable"},
		{patch: `{"metadata":{"labels":{"team":"a"}}}`},
		{patch: `{"spec":{"id":42,"os":"Linux"}}`},
		{patch: `{"spec":{"id":43}}`, refused: "spec.id: Invalid value", msg: "set once"},
		{patch: `{"spec":{"id":null}}`, refused: "spec.id: Invalid value", msg: "set once"},
		{patch: `{"spec":{"os":"Windows"}}`, refused: "spec.os: Invalid value", msg: "set once"},
	} {
		err := patch(tc.patch)
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("kubectl patch %s: %v, want it allowed", tc.patch, err)
		case tc.refused != "" && err == nil:
			t.Errorf("kubectl patch %s was allowed, want it refused with %q", tc.patch, tc.refused)
		case tc.refused != "" && (!strings.Contains(err.Error(), tc.refused) || !strings.Contains(err.Error(), tc.msg)):
			t.Errorf("kubectl patch %s: %v, want %q and %q", tc.patch, err, tc.refused, tc.msg)
		}
	}
	got, err := client.OctorunV1alpha1().Runners(ns).Get(ctx, r.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.URL != "https://github.com/octorun" || got.Spec.ID != 42 || got.Spec.Workdir != "_work" {
		t.Errorf("spec after the patches = %+v, want the URL and workdir as created and id 42", got.Spec)
	}
}

// TestRunnerStatusSubresource checks that status is written only through the
// status subresource and that the phase is one of the documented values.
func TestRunnerStatusSubresource(t *testing.T) {
	client := InstallCRDs(t)
	ns := NewNamespace(t)
	ctx := context.Background()
	runners := client.OctorunV1alpha1().Runners(ns)

	r, err := runners.Create(ctx, &octorunv1alpha1.Runner{
		ObjectMeta: metav1.ObjectMeta{Name: "status"},
		Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octorun/octorun"},
		Status:     octorunv1alpha1.RunnerStatus{Phase: octorunv1alpha1.RunnerPhaseActive},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if r.Status.Phase != "" {
		t.Errorf("Create stored status.phase %q; status must be written through the subresource", r.Status.Phase)
	}

	r.Status.Phase = octorunv1alpha1.RunnerPhaseIdle
	r.Status.Conditions = []metav1.Condition{{
		Type: octorunv1alpha1.RunnerConditionRegistered, Status: metav1.ConditionTrue,
		Reason: octorunv1alpha1.ReasonRegistered, Message: "Registered as runner 42", LastTransitionTime: metav1.Now(),
	}}
	if r, err = runners.UpdateStatus(ctx, r, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("UpdateStatus: %v", err)
	}
	if r.Status.Phase != octorunv1alpha1.RunnerPhaseIdle || len(r.Status.Conditions) != 1 {
		t.Errorf("Status after UpdateStatus = %+v", r.Status)
	}

	r.Status.Phase = "Sleeping"
	if _, err := runners.UpdateStatus(ctx, r, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("UpdateStatus with phase Sleeping: error = %v, want Invalid", err)
	}

	out := MustKubectl(t, "get", "-n", ns, "runners")
	for _, column := range []string{"URL", "ID", "PHASE", "AGE", "https://github.com/octorun/octorun", "Idle"} {
		if !strings.Contains(out, column) {
			t.Errorf("kubectl get runners does not show %q:\n%s", column, out)
		}
	}
}

// TestHPAReadsRunnerSetScale proves a HorizontalPodAutoscaler can drive a
// RunnerSet: the HPA controller reads its scale subresource.
func TestHPAReadsRunnerSetScale(t *testing.T) {
	client := InstallCRDs(t)
	ns := NewNamespace(t)
	ctx := context.Background()

	set, err := client.OctorunV1alpha1().RunnerSets(ns).Create(ctx, testRunnerSet("autoscaled"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Creating a RunnerSet: %v", err)
	}
	set.Status = octorunv1alpha1.RunnerSetStatus{Runners: 1, Selector: octorunv1alpha1.LabelRunnerSet + "=autoscaled"}
	if _, err := client.OctorunV1alpha1().RunnerSets(ns).UpdateStatus(ctx, set, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("UpdateStatus: %v", err)
	}

	_, err = Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "autoscaled"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{
				APIVersion: octorunv1alpha1.SchemeGroupVersion.String(), Kind: "RunnerSet", Name: "autoscaled",
			},
			MinReplicas: ptr.To[int32](2),
			MaxReplicas: 5,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{
					Name:   corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](50)},
				},
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Creating the HPA: %v", err)
	}

	// No metrics server runs here, but below minReplicas the HPA scales up
	// without metrics, through the scale subresource.
	Eventually(t, "the HPA to scale the RunnerSet to its minimum of 2", func(ctx context.Context) (bool, error) {
		scale, err := client.OctorunV1alpha1().RunnerSets(ns).GetScale(ctx, "autoscaled", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return scale.Spec.Replicas == 2, nil
	})
	Eventually(t, "the HPA to report 2 desired replicas", func(ctx context.Context) (bool, error) {
		hpa, err := Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "autoscaled", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return hpa.Status.DesiredReplicas == 2, nil
	})
}

// TestScopeGrantValidation: the CRD refuses a ScopeGrant whose URL is not
// an https URL of a host, an enterprise, an organization or a repository.
func TestScopeGrantValidation(t *testing.T) {
	client := InstallCRDs(t)
	ctx := context.Background()
	for _, tc := range []struct {
		url   string
		valid bool
	}{
		{"https://github.com", true},
		{"https://github.com/org", true},
		{"https://github.com/org/repo", true},
		{"https://ghe.example.com:8443/enterprises/acme", true},
		{"http://github.com/org", false},
		{"https://github.com/org/repo/extra", false},
		{"github.com/org", false},
		{"https://github.com/*", false},
	} {
		g := &octorunv1alpha1.ScopeGrant{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "validation-"},
			Spec:       octorunv1alpha1.ScopeGrantSpec{Scopes: []octorunv1alpha1.GrantedScope{{URL: tc.url}}},
		}
		_, err := client.OctorunV1alpha1().ScopeGrants().Create(ctx, g, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if valid := err == nil; valid != tc.valid {
			t.Errorf("ScopeGrant of %q: error %v, want valid %v", tc.url, err, tc.valid)
		}
	}
}
