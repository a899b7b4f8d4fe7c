package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/prometheus/client_golang/prometheus"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/octorun/octorun/cmd/octorun/app"
	"github.com/octorun/octorun/cmd/octorun/app/options"
	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/statemetrics"
)

// autoscalingDir holds the prometheus-adapter rules, their RBAC and the
// HPA examples, relative to the repository root.
var autoscalingDir = []string{"manifests", "autoscaling"}

// TestAutoscalingManifestsDryRun checks that the API server accepts the
// kustomization (adapter rules and RBAC) and the HPA examples as a user
// would apply them.
func TestAutoscalingManifestsDryRun(t *testing.T) {
	ns := NewNamespace(t)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{
			name: "kustomization",
			args: []string{"-k", RepoPath(t, autoscalingDir...)},
			want: []string{
				"configmap/octorun-adapter-config created",
				"clusterrole.rbac.authorization.k8s.io/octorun:prometheus-adapter created",
				"clusterrolebinding.rbac.authorization.k8s.io/octorun:prometheus-adapter created",
				"clusterrolebinding.rbac.authorization.k8s.io/octorun:prometheus-metrics created",
			},
		},
		{
			name: "HPA examples",
			args: []string{"-f", RepoPath(t, append(autoscalingDir, "examples")...)},
			want: []string{
				"horizontalpodautoscaler.autoscaling/runners-spare created",
				"horizontalpodautoscaler.autoscaling/runners-on-demand created",
				"horizontalpodautoscaler.autoscaling/runners-busy-ratio created",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := MustKubectl(t, append([]string{"apply", "--dry-run=server", "-n", ns}, tc.args...)...)
			for _, line := range tc.want {
				if !strings.Contains(out, line+" (server dry run)") {
					t.Errorf("kubectl apply --dry-run=server did not report %q:\n%s", line, out)
				}
			}
		})
	}
}

// adapterRule is a prometheus-adapter discovery rule, as far as the tests
// read it.
type adapterRule struct {
	SeriesQuery string `json:"seriesQuery"`
	Resources   struct {
		Overrides map[string]struct {
			Group    string `json:"group"`
			Resource string `json:"resource"`
		} `json:"overrides"`
	} `json:"resources"`
	Name struct {
		Matches string `json:"matches"`
		As      string `json:"as"`
	} `json:"name"`
	MetricsQuery string `json:"metricsQuery"`
}

// adapterQueryArgs are the fields prometheus-adapter gives a metricsQuery
// template (pkg/naming/metrics_query.go, queryTemplateArgs).
type adapterQueryArgs struct {
	Series            string
	LabelMatchers     string
	LabelValuesByName map[string]string
	GroupBy           string
	GroupBySlice      []string
}

// TestAdapterRules reads the adapter rules and renders their queries as
// prometheus-adapter would for an HPA's request on RunnerSet ci/runners.
func TestAdapterRules(t *testing.T) {
	data, err := os.ReadFile(RepoPath(t, append(autoscalingDir, "adapter-config.yaml")...))
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(data, &cm); err != nil {
		t.Fatalf("Reading the adapter ConfigMap: %v", err)
	}
	var config struct {
		Rules []adapterRule `json:"rules"`
	}
	if err := yaml.UnmarshalStrict([]byte(cm.Data["config.yaml"]), &config); err != nil {
		t.Fatalf("Reading the adapter config: %v", err)
	}

	// What each custom metric's query becomes, for the HPA's request on
	// RunnerSet ci/runners, with the metric selector spare=2 when given.
	want := map[string]struct{ query, withSpare string }{
		"octorun_idle_runners": {
			query: `max by (runnerset) (octorun_runnerset_status_idle_runners{namespace="ci",runnerset="runners"})`,
		},
		"octorun_active_runners": {
			query: `max by (runnerset) (octorun_runnerset_status_active_runners{namespace="ci",runnerset="runners"})`,
		},
		"octorun_queued_jobs": {
			query: `max by (runnerset) (octorun_runnerset_queued_jobs{namespace="ci",runnerset="runners"})`,
		},
		"octorun_running_and_queued_jobs": {
			query: `max by (runnerset) (octorun_runnerset_status_active_runners{namespace="ci",runnerset="runners"})` +
				` + max by (runnerset) (octorun_runnerset_queued_jobs{namespace="ci",runnerset="runners"})`,
		},
		"octorun_busy_ratio": {
			query: `max by (runnerset) (octorun_runnerset_status_active_runners{namespace="ci",runnerset="runners"})` +
				` / clamp_min(max by (runnerset) (octorun_runnerset_status_runners{namespace="ci",runnerset="runners"}), 1)`,
		},
		"octorun_active_runners_plus_spare": {
			query:     `max by (runnerset) (octorun_runnerset_status_active_runners{namespace="ci",runnerset=~"runners"}) + 0`,
			withSpare: `max by (runnerset) (octorun_runnerset_status_active_runners{namespace="ci",runnerset=~"runners"}) + 2`,
		},
	}
	var names []string
	seriesName := regexp.MustCompile(`^(octorun_runnerset_[a-z_]+)\{`)
	for _, rule := range config.Rules {
		name := rule.Name.As
		names = append(names, name)
		t.Run(name, func(t *testing.T) {
			if got := rule.Resources.Overrides["namespace"]; got.Resource != "namespace" || got.Group != "" {
				t.Errorf("The namespace label maps to %+v, want the namespace resource", got)
			}
			if got := rule.Resources.Overrides["runnerset"]; got.Resource != "runnerset" || got.Group != octorunv1alpha1.GroupName {
				t.Errorf("The runnerset label maps to %+v, want runnerset.%s", got, octorunv1alpha1.GroupName)
			}
			m := seriesName.FindStringSubmatch(rule.SeriesQuery)
			if m == nil {
				t.Fatalf("seriesQuery %q does not select an octorun_runnerset_ series", rule.SeriesQuery)
			}
			if !regexp.MustCompile(rule.Name.Matches).MatchString(m[1]) {
				t.Errorf("name.matches %q does not match the series %s", rule.Name.Matches, m[1])
			}

			w, ok := want[name]
			if !ok {
				t.Fatalf("Unexpected custom metric %s", name)
			}
			tmpl, err := template.New(name).Delims("<<", ">>").Parse(rule.MetricsQuery)
			if err != nil {
				t.Fatalf("Parsing metricsQuery: %v", err)
			}
			render := func(valuesByName map[string]string, matchers string) string {
				args := adapterQueryArgs{
					Series: m[1], LabelMatchers: matchers, LabelValuesByName: valuesByName,
					GroupBy: "runnerset", GroupBySlice: []string{"runnerset"},
				}
				var buf bytes.Buffer
				if err := tmpl.Execute(&buf, args); err != nil {
					t.Fatalf("Executing metricsQuery: %v", err)
				}
				return buf.String()
			}
			plain := render(map[string]string{"namespace": "ci", "runnerset": "runners"}, `namespace="ci",runnerset="runners"`)
			if plain != w.query {
				t.Errorf("Query:\n got %s\nwant %s", plain, w.query)
			}
			if w.withSpare != "" {
				got := render(map[string]string{"namespace": "ci", "runnerset": "runners", "spare": "2"},
					`spare="2",namespace="ci",runnerset="runners"`)
				if got != w.withSpare {
					t.Errorf("Query with spare=2:\n got %s\nwant %s", got, w.withSpare)
				}
			}
		})
	}
	for name := range want {
		if !slices.Contains(names, name) {
			t.Errorf("No rule exposes %s", name)
		}
	}
}

// TestHPAExamplesReadRunnerSetScale creates each HPA example against a
// RunnerSet of its own and waits until the HPA controller reads the
// RunnerSet's scale subresource. No prometheus-adapter runs here, so the
// HPAs cannot get their metrics and do not scale.
func TestHPAExamplesReadRunnerSetScale(t *testing.T) {
	client := InstallCRDs(t)
	ns := NewNamespace(t)
	examples, err := filepath.Glob(RepoPath(t, append(autoscalingDir, "examples", "*.yaml")...))
	if err != nil || len(examples) == 0 {
		t.Fatalf("No HPA examples: %v", err)
	}
	for _, example := range examples {
		name := strings.TrimSuffix(filepath.Base(example), ".yaml")
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			data, err := os.ReadFile(example)
			if err != nil {
				t.Fatal(err)
			}
			var hpa autoscalingv2.HorizontalPodAutoscaler
			if err := yaml.UnmarshalStrict(data, &hpa); err != nil {
				t.Fatalf("Reading %s: %v", example, err)
			}

			sets := client.OctorunV1alpha1().RunnerSets(ns)
			set, err := sets.Create(ctx, testRunnerSet(name), metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("Creating a RunnerSet: %v", err)
			}
			set.Status = octorunv1alpha1.RunnerSetStatus{
				Runners: 1, IdleRunners: 1, Selector: octorunv1alpha1.LabelRunnerSet + "=" + name, ObservedGeneration: set.Generation,
			}
			if _, err := sets.UpdateStatus(ctx, set, metav1.UpdateOptions{}); err != nil {
				t.Fatalf("UpdateStatus: %v", err)
			}

			hpa.Name = name
			hpa.Spec.ScaleTargetRef.Name = name
			for _, m := range hpa.Spec.Metrics {
				if m.Object != nil {
					m.Object.DescribedObject.Name = name
				}
			}
			hpas := Client.AutoscalingV2().HorizontalPodAutoscalers(ns)
			if _, err := hpas.Create(ctx, &hpa, metav1.CreateOptions{}); err != nil {
				t.Fatalf("Creating the HPA: %v", err)
			}

			var got *autoscalingv2.HorizontalPodAutoscaler
			Eventually(t, "the HPA to read the RunnerSet's scale", func(ctx context.Context) (bool, error) {
				got, err = hpas.Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return false, err
				}
				c := hpaCondition(got, autoscalingv2.AbleToScale)
				return c != nil && c.Status == corev1.ConditionTrue && c.Reason == "SucceededGetScale", nil
			})
			if c := hpaCondition(got, autoscalingv2.ScalingActive); c != nil {
				t.Logf("Without prometheus-adapter: ScalingActive %s, %s: %s", c.Status, c.Reason, c.Message)
			}
		})
	}
}

func hpaCondition(hpa *autoscalingv2.HorizontalPodAutoscaler, conditionType autoscalingv2.HorizontalPodAutoscalerConditionType) *autoscalingv2.HorizontalPodAutoscalerCondition {
	for i, c := range hpa.Status.Conditions {
		if c.Type == conditionType {
			return &hpa.Status.Conditions[i]
		}
	}
	return nil
}

// TestStateMetricsFromInformers serves the state metrics from informers on
// the real API server and checks that they follow a RunnerSet and its
// Runner.
func TestStateMetricsFromInformers(t *testing.T) {
	client := InstallCRDs(t)
	ns := NewNamespace(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	// Octorun's informers, as cmd/octorun makes them.
	o := options.New()
	o.Namespace = ns
	clients, err := app.NewClients(Config, o)
	if err != nil {
		t.Fatal(err)
	}
	informers := app.NewInformers(clients, o)
	runners, sets := informers.Octorun.Octorun().V1alpha1().Runners(), informers.Octorun.Octorun().V1alpha1().RunnerSets()
	collector := statemetrics.New(runners.Lister(), sets.Lister(), statemetrics.Options{
		QueuedJobs: statemetrics.QueuedJobsFunc(func(set *octorunv1alpha1.RunnerSet) (int, bool) { return 4, set.Name == "metrics" }),
	})
	informers.Start(ctx)
	t.Cleanup(func() {
		cancel()
		informers.Shutdown()
	})
	if err := informers.WaitForCacheSync(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(statemetrics.Handler(prometheus.NewRegistry(), collector))
	t.Cleanup(srv.Close)

	set, err := client.OctorunV1alpha1().RunnerSets(ns).Create(ctx, testRunnerSet("metrics"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Creating a RunnerSet: %v", err)
	}
	set.Status = octorunv1alpha1.RunnerSetStatus{Runners: 1, ActiveRunners: 1, ObservedGeneration: set.Generation}
	if _, err := client.OctorunV1alpha1().RunnerSets(ns).UpdateStatus(ctx, set, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("UpdateStatus: %v", err)
	}
	runner, err := client.OctorunV1alpha1().Runners(ns).Create(ctx, &octorunv1alpha1.Runner{
		ObjectMeta: metav1.ObjectMeta{
			Name:   "metrics-abcde",
			Labels: map[string]string{octorunv1alpha1.LabelRunnerSet: "metrics"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: octorunv1alpha1.SchemeGroupVersion.String(), Kind: "RunnerSet",
				Name: set.Name, UID: set.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: octorunv1alpha1.RunnerSpec{URL: "https://github.com/octorun"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Creating a Runner: %v", err)
	}
	runner.Status.Phase = octorunv1alpha1.RunnerPhaseActive
	if _, err := client.OctorunV1alpha1().Runners(ns).UpdateStatus(ctx, runner, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("UpdateStatus: %v", err)
	}

	want := []string{
		`octorun_runnerset_spec_runners{namespace="` + ns + `",runnerset="metrics"} 1`,
		`octorun_runnerset_status_runners{namespace="` + ns + `",runnerset="metrics"} 1`,
		`octorun_runnerset_status_active_runners{namespace="` + ns + `",runnerset="metrics"} 1`,
		`octorun_runnerset_queued_jobs{namespace="` + ns + `",runnerset="metrics"} 4`,
		// The group is the CRD schema's default.
		`octorun_runner_info{namespace="` + ns + `",runner="metrics-abcde",url="https://github.com/octorun",group="Default",os="",id="",runnerset="metrics"} 1`,
		`octorun_runner_status_phase{namespace="` + ns + `",runner="metrics-abcde",phase="Active"} 1`,
		`octorun_runner_labels{namespace="` + ns + `",runner="metrics-abcde",label_octorun_github_io_runnerset="metrics"} 1`,
	}
	var text string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Last scrape:\n%s", text)
		}
	})
	Eventually(t, "the state metrics to show the RunnerSet and its Runner", func(ctx context.Context) (bool, error) {
		resp, err := http.Get(srv.URL)
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return false, err
		}
		text = string(body)
		for _, series := range want {
			if !strings.Contains(text, series+"\n") {
				return false, nil
			}
		}
		return true, nil
	})
}
