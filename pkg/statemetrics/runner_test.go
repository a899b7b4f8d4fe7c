package statemetrics

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// testRunner returns a Runner ns/name created at created, changed by
// mutate.
func testRunner(name string, mutate ...func(*octorunv1alpha1.Runner)) *octorunv1alpha1.Runner {
	r := &octorunv1alpha1.Runner{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, CreationTimestamp: created},
		Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octo", Group: "Default"},
	}
	for _, m := range mutate {
		m(r)
	}
	return r
}

func withOwner(ref metav1.OwnerReference) func(*octorunv1alpha1.Runner) {
	return func(r *octorunv1alpha1.Runner) { r.OwnerReferences = append(r.OwnerReferences, ref) }
}

func withPhase(phase octorunv1alpha1.RunnerPhase) func(*octorunv1alpha1.Runner) {
	return func(r *octorunv1alpha1.Runner) { r.Status.Phase = phase }
}

func withConditions(conditions ...metav1.Condition) func(*octorunv1alpha1.Runner) {
	return func(r *octorunv1alpha1.Runner) { r.Status.Conditions = conditions }
}

func withLabels(labels map[string]string) func(*octorunv1alpha1.Runner) {
	return func(r *octorunv1alpha1.Runner) { r.Labels = labels }
}

func TestRunnerInfo(t *testing.T) {
	for _, tc := range []struct {
		name    string
		runners []*octorunv1alpha1.Runner
		want    []string
	}{
		{
			name: "registered Runner of a RunnerSet",
			runners: []*octorunv1alpha1.Runner{testRunner("set-abcde", withOwner(runnerSetOwner("set", true)), func(r *octorunv1alpha1.Runner) {
				r.Spec.ID, r.Spec.OS, r.Spec.URL, r.Spec.Group = 42, "Linux", "https://github.com/octo/hello", "builders"
			})},
			want: []string{`octorun_runner_info{group="builders",id="42",namespace="ns",os="Linux",runner="set-abcde",runnerset="set",url="https://github.com/octo/hello"} 1`},
		},
		{
			name:    "new Runner of its own",
			runners: []*octorunv1alpha1.Runner{testRunner("solo")},
			want:    []string{`octorun_runner_info{group="Default",id="",namespace="ns",os="",runner="solo",runnerset="",url="https://github.com/octo"} 1`},
		},
		{
			name:    "RunnerSet owner that is not the controller",
			runners: []*octorunv1alpha1.Runner{testRunner("adopted", withOwner(runnerSetOwner("set", false)))},
			want:    []string{`octorun_runner_info{group="Default",id="",namespace="ns",os="",runner="adopted",runnerset="",url="https://github.com/octo"} 1`},
		},
		{
			name: "controller of another kind",
			runners: []*octorunv1alpha1.Runner{testRunner("other", withOwner(metav1.OwnerReference{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "uid-rs", Controller: new(true),
			}))},
			want: []string{`octorun_runner_info{group="Default",id="",namespace="ns",os="",runner="other",runnerset="",url="https://github.com/octo"} 1`},
		},
		{
			name: "RunnerSet of another API group",
			runners: []*octorunv1alpha1.Runner{testRunner("foreign", withOwner(metav1.OwnerReference{
				APIVersion: "example.com/v1", Kind: "RunnerSet", Name: "set", UID: "uid-set", Controller: new(true),
			}))},
			want: []string{`octorun_runner_info{group="Default",id="",namespace="ns",os="",runner="foreign",runnerset="",url="https://github.com/octo"} 1`},
		},
		{
			name: "values to escape or not UTF-8",
			runners: []*octorunv1alpha1.Runner{testRunner("odd", func(r *octorunv1alpha1.Runner) {
				r.Spec.OS, r.Spec.Group = "Linux\xff", "a \"quoted\\group\"\n"
			})},
			want: []string{`octorun_runner_info{group="a \"quoted\\group\"\n",id="",namespace="ns",os="Linux` + "\uFFFD" + `",runner="odd",runnerset="",url="https://github.com/octo"} 1`},
		},
		{
			name: "Runners in two namespaces",
			runners: []*octorunv1alpha1.Runner{
				testRunner("a"),
				testRunner("a", func(r *octorunv1alpha1.Runner) { r.Namespace = "other" }),
			},
			want: []string{
				`octorun_runner_info{group="Default",id="",namespace="ns",os="",runner="a",runnerset="",url="https://github.com/octo"} 1`,
				`octorun_runner_info{group="Default",id="",namespace="other",os="",runner="a",runnerset="",url="https://github.com/octo"} 1`,
			},
		},
		{
			name: "no Runners",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			compare(t, newCollector(t, tc.runners, nil, Options{}), "octorun_runner_info", tc.want...)
		})
	}
}

func TestRunnerCreated(t *testing.T) {
	for _, tc := range []struct {
		name    string
		runners []*octorunv1alpha1.Runner
		want    []string
	}{
		{
			name:    "created",
			runners: []*octorunv1alpha1.Runner{testRunner("r")},
			want:    []string{`octorun_runner_created{namespace="ns",runner="r"} 1.7e+09`},
		},
		{
			name:    "no creation timestamp",
			runners: []*octorunv1alpha1.Runner{testRunner("r", func(r *octorunv1alpha1.Runner) { r.CreationTimestamp = metav1.Time{} })},
		},
		{
			name: "no Runners",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			compare(t, newCollector(t, tc.runners, nil, Options{}), "octorun_runner_created", tc.want...)
		})
	}
}

func TestRunnerStatusPhase(t *testing.T) {
	for _, tc := range []struct {
		name  string
		phase octorunv1alpha1.RunnerPhase
		want  []string
	}{
		{
			name:  "Pending",
			phase: octorunv1alpha1.RunnerPhasePending,
			want: []string{
				`octorun_runner_status_phase{namespace="ns",phase="Active",runner="r"} 0`,
				`octorun_runner_status_phase{namespace="ns",phase="Complete",runner="r"} 0`,
				`octorun_runner_status_phase{namespace="ns",phase="Failed",runner="r"} 0`,
				`octorun_runner_status_phase{namespace="ns",phase="Idle",runner="r"} 0`,
				`octorun_runner_status_phase{namespace="ns",phase="Pending",runner="r"} 1`,
			},
		},
		{
			name:  "Idle",
			phase: octorunv1alpha1.RunnerPhaseIdle,
			want: []string{
				`octorun_runner_status_phase{namespace="ns",phase="Active",runner="r"} 0`,
				`octorun_runner_status_phase{namespace="ns",phase="Complete",runner="r"} 0`,
				`octorun_runner_status_phase{namespace="ns",phase="Failed",runner="r"} 0`,
				`octorun_runner_status_phase{namespace="ns",phase="Idle",runner="r"} 1`,
				`octorun_runner_status_phase{namespace="ns",phase="Pending",runner="r"} 0`,
			},
		},
		{
			name:  "Active",
			phase: octorunv1alpha1.RunnerPhaseActive,
			want: []string{
				`octorun_runner_status_phase{namespace="ns",phase="Active",runner="r"} 1`,
				`octorun_runner_status_phase{namespace="ns",phase="Complete",runner="r"} 0`,
				`octorun_runner_status_phase{namespace="ns",phase="Failed",runner="r"} 0`,
				`octorun_runner_status_phase{namespace="ns",phase="Idle",runner="r"} 0`,
				`octorun_runner_status_phase{namespace="ns",phase="Pending",runner="r"} 0`,
			},
		},
		{
			name:  "Complete",
			phase: octorunv1alpha1.RunnerPhaseComplete,
			want: []string{
				`octorun_runner_status_phase{namespace="ns",phase="Active",runner="r"} 0`,
				`octorun_runner_status_phase{namespace="ns",phase="Complete",runner="r"} 1`,
				`octorun_runner_status_phase{namespace="ns",phase="Failed",runner="r"} 0`,
				`octorun_runner_status_phase{namespace="ns",phase="Idle",runner="r"} 0`,
				`octorun_runner_status_phase{namespace="ns",phase="Pending",runner="r"} 0`,
			},
		},
		{
			name:  "Failed",
			phase: octorunv1alpha1.RunnerPhaseFailed,
			want: []string{
				`octorun_runner_status_phase{namespace="ns",phase="Active",runner="r"} 0`,
				`octorun_runner_status_phase{namespace="ns",phase="Complete",runner="r"} 0`,
				`octorun_runner_status_phase{namespace="ns",phase="Failed",runner="r"} 1`,
				`octorun_runner_status_phase{namespace="ns",phase="Idle",runner="r"} 0`,
				`octorun_runner_status_phase{namespace="ns",phase="Pending",runner="r"} 0`,
			},
		},
		{
			name:  "unknown phase",
			phase: "Sleeping",
			want: []string{
				`octorun_runner_status_phase{namespace="ns",phase="Active",runner="r"} 0`,
				`octorun_runner_status_phase{namespace="ns",phase="Complete",runner="r"} 0`,
				`octorun_runner_status_phase{namespace="ns",phase="Failed",runner="r"} 0`,
				`octorun_runner_status_phase{namespace="ns",phase="Idle",runner="r"} 0`,
				`octorun_runner_status_phase{namespace="ns",phase="Pending",runner="r"} 0`,
			},
		},
		{
			name:  "no phase yet",
			phase: "",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCollector(t, []*octorunv1alpha1.Runner{testRunner("r", withPhase(tc.phase))}, nil, Options{})
			compare(t, c, "octorun_runner_status_phase", tc.want...)
		})
	}
}

func TestRunnerStatusCondition(t *testing.T) {
	for _, tc := range []struct {
		name       string
		conditions []metav1.Condition
		want       []string
	}{
		{
			name: "true, false and unknown",
			conditions: []metav1.Condition{
				condition(octorunv1alpha1.RunnerConditionRegistered, metav1.ConditionTrue),
				condition(octorunv1alpha1.RunnerConditionPodReady, metav1.ConditionFalse),
				condition(octorunv1alpha1.RunnerConditionJobAssigned, metav1.ConditionUnknown),
			},
			want: []string{
				`octorun_runner_status_condition{condition="JobAssigned",namespace="ns",runner="r",status="false"} 0`,
				`octorun_runner_status_condition{condition="JobAssigned",namespace="ns",runner="r",status="true"} 0`,
				`octorun_runner_status_condition{condition="JobAssigned",namespace="ns",runner="r",status="unknown"} 1`,
				`octorun_runner_status_condition{condition="PodReady",namespace="ns",runner="r",status="false"} 1`,
				`octorun_runner_status_condition{condition="PodReady",namespace="ns",runner="r",status="true"} 0`,
				`octorun_runner_status_condition{condition="PodReady",namespace="ns",runner="r",status="unknown"} 0`,
				`octorun_runner_status_condition{condition="Registered",namespace="ns",runner="r",status="false"} 0`,
				`octorun_runner_status_condition{condition="Registered",namespace="ns",runner="r",status="true"} 1`,
				`octorun_runner_status_condition{condition="Registered",namespace="ns",runner="r",status="unknown"} 0`,
			},
		},
		{
			name:       "status outside true, false, unknown",
			conditions: []metav1.Condition{condition(octorunv1alpha1.RunnerConditionRegistered, "Maybe")},
			want: []string{
				`octorun_runner_status_condition{condition="Registered",namespace="ns",runner="r",status="false"} 0`,
				`octorun_runner_status_condition{condition="Registered",namespace="ns",runner="r",status="true"} 0`,
				`octorun_runner_status_condition{condition="Registered",namespace="ns",runner="r",status="unknown"} 0`,
			},
		},
		{
			name: "repeated type: the first wins",
			conditions: []metav1.Condition{
				condition(octorunv1alpha1.RunnerConditionRegistered, metav1.ConditionTrue),
				condition(octorunv1alpha1.RunnerConditionRegistered, metav1.ConditionFalse),
			},
			want: []string{
				`octorun_runner_status_condition{condition="Registered",namespace="ns",runner="r",status="false"} 0`,
				`octorun_runner_status_condition{condition="Registered",namespace="ns",runner="r",status="true"} 1`,
				`octorun_runner_status_condition{condition="Registered",namespace="ns",runner="r",status="unknown"} 0`,
			},
		},
		{
			name: "no conditions",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCollector(t, []*octorunv1alpha1.Runner{testRunner("r", withConditions(tc.conditions...))}, nil, Options{})
			compare(t, c, "octorun_runner_status_condition", tc.want...)
		})
	}
}

func TestRunnerLabels(t *testing.T) {
	for _, tc := range []struct {
		name    string
		runners []*octorunv1alpha1.Runner
		want    []string
	}{
		{
			name:    "no labels",
			runners: []*octorunv1alpha1.Runner{testRunner("r")},
			want:    []string{`octorun_runner_labels{namespace="ns",runner="r"} 1`},
		},
		{
			name: "sanitized",
			runners: []*octorunv1alpha1.Runner{testRunner("r", withLabels(map[string]string{
				octorunv1alpha1.LabelRunnerSet: "set",
				"app.kubernetes.io/name":       "octorun",
				"teamName":                     "Platform",
				"ABC":                          "x",
				"env":                          "",
			}))},
			want: []string{`octorun_runner_labels{label_abc="x",label_app_kubernetes_io_name="octorun",label_env="",label_octorun_github_io_runnerset="set",label_team_name="Platform",namespace="ns",runner="r"} 1`},
		},
		{
			name: "collisions after sanitizing",
			runners: []*octorunv1alpha1.Runner{testRunner("r", withLabels(map[string]string{
				"a.b": "dot", "a_b": "underscore", "a-b": "dash", "unique": "u",
			}))},
			// Suffixed in the order of the keys: "a-b" < "a.b" < "a_b".
			want: []string{`octorun_runner_labels{label_a_b_conflict1="dash",label_a_b_conflict2="dot",label_a_b_conflict3="underscore",label_unique="u",namespace="ns",runner="r"} 1`},
		},
		{
			name: "collision with a key that looks like a suffixed one",
			runners: []*octorunv1alpha1.Runner{testRunner("r", withLabels(map[string]string{
				"a.b": "dot", "a_b": "underscore", "a_b_conflict1": "real",
			}))},
			want: []string{`octorun_runner_labels{label_a_b_conflict1="real",label_a_b_conflict2="dot",label_a_b_conflict3="underscore",namespace="ns",runner="r"} 1`},
		},
		{
			name: "Runners with different label keys",
			runners: []*octorunv1alpha1.Runner{
				testRunner("a", withLabels(map[string]string{"team": "a"})),
				testRunner("b", withLabels(map[string]string{"team": "b"})),
				testRunner("c", withLabels(map[string]string{"owner": "c"})),
				testRunner("d"),
			},
			want: []string{
				`octorun_runner_labels{label_team="a",namespace="ns",runner="a"} 1`,
				`octorun_runner_labels{label_team="b",namespace="ns",runner="b"} 1`,
				`octorun_runner_labels{label_owner="c",namespace="ns",runner="c"} 1`,
				`octorun_runner_labels{namespace="ns",runner="d"} 1`,
			},
		},
		{
			name: "no Runners",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			compare(t, newCollector(t, tc.runners, nil, Options{}), "octorun_runner_labels", tc.want...)
		})
	}
}
