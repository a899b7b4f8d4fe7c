package statemetrics

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// testRunnerSet returns a RunnerSet ns/name of generation 2 created at
// created, changed by mutate.
func testRunnerSet(name string, mutate ...func(*octorunv1alpha1.RunnerSet)) *octorunv1alpha1.RunnerSet {
	s := &octorunv1alpha1.RunnerSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, CreationTimestamp: created, Generation: 2},
	}
	for _, m := range mutate {
		m(s)
	}
	return s
}

// busySet has 5 Runners of 5 wanted, 2 idle and 3 active.
func busySet(s *octorunv1alpha1.RunnerSet) {
	s.Spec.Runners = new(int32(5))
	s.Status = octorunv1alpha1.RunnerSetStatus{Runners: 5, IdleRunners: 2, ActiveRunners: 3, ObservedGeneration: 1}
}

// queuedJobs is a QueuedJobs knowing the RunnerSets of its map.
type queuedJobs map[string]int

func (q queuedJobs) QueuedJobs(set *octorunv1alpha1.RunnerSet) (int, bool) {
	n, ok := q[set.Namespace+"/"+set.Name]
	return n, ok
}

// TestRunnerSetMetrics checks every RunnerSet family but the conditions
// and labels, which have their own tests, on the same objects.
func TestRunnerSetMetrics(t *testing.T) {
	type want struct {
		specRunners, statusRunners, idle, active, created, generation, observedGeneration, queuedJobs []string
	}
	for _, tc := range []struct {
		name       string
		sets       []*octorunv1alpha1.RunnerSet
		queuedJobs QueuedJobs
		want       want
	}{
		{
			name:       "busy RunnerSet",
			sets:       []*octorunv1alpha1.RunnerSet{testRunnerSet("busy", busySet)},
			queuedJobs: queuedJobs{"ns/busy": 4},
			want: want{
				specRunners:        []string{`octorun_runnerset_spec_runners{namespace="ns",runnerset="busy"} 5`},
				statusRunners:      []string{`octorun_runnerset_status_runners{namespace="ns",runnerset="busy"} 5`},
				idle:               []string{`octorun_runnerset_status_idle_runners{namespace="ns",runnerset="busy"} 2`},
				active:             []string{`octorun_runnerset_status_active_runners{namespace="ns",runnerset="busy"} 3`},
				created:            []string{`octorun_runnerset_created{namespace="ns",runnerset="busy"} 1.7e+09`},
				generation:         []string{`octorun_runnerset_metadata_generation{namespace="ns",runnerset="busy"} 2`},
				observedGeneration: []string{`octorun_runnerset_status_observed_generation{namespace="ns",runnerset="busy"} 1`},
				queuedJobs:         []string{`octorun_runnerset_queued_jobs{namespace="ns",runnerset="busy"} 4`},
			},
		},
		{
			name: "scaled to 0 Runners",
			sets: []*octorunv1alpha1.RunnerSet{testRunnerSet("zero", func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Runners = new(int32(0))
				s.Status.ObservedGeneration = 2
			})},
			queuedJobs: queuedJobs{"ns/zero": 0},
			want: want{
				specRunners:        []string{`octorun_runnerset_spec_runners{namespace="ns",runnerset="zero"} 0`},
				statusRunners:      []string{`octorun_runnerset_status_runners{namespace="ns",runnerset="zero"} 0`},
				idle:               []string{`octorun_runnerset_status_idle_runners{namespace="ns",runnerset="zero"} 0`},
				active:             []string{`octorun_runnerset_status_active_runners{namespace="ns",runnerset="zero"} 0`},
				created:            []string{`octorun_runnerset_created{namespace="ns",runnerset="zero"} 1.7e+09`},
				generation:         []string{`octorun_runnerset_metadata_generation{namespace="ns",runnerset="zero"} 2`},
				observedGeneration: []string{`octorun_runnerset_status_observed_generation{namespace="ns",runnerset="zero"} 2`},
				queuedJobs:         []string{`octorun_runnerset_queued_jobs{namespace="ns",runnerset="zero"} 0`},
			},
		},
		{
			name: "nil spec.runners, no creation timestamp, queued jobs not known",
			sets: []*octorunv1alpha1.RunnerSet{testRunnerSet("new", func(s *octorunv1alpha1.RunnerSet) {
				s.CreationTimestamp = metav1.Time{}
			})},
			queuedJobs: queuedJobs{"ns/other": 1},
			want: want{
				statusRunners:      []string{`octorun_runnerset_status_runners{namespace="ns",runnerset="new"} 0`},
				idle:               []string{`octorun_runnerset_status_idle_runners{namespace="ns",runnerset="new"} 0`},
				active:             []string{`octorun_runnerset_status_active_runners{namespace="ns",runnerset="new"} 0`},
				generation:         []string{`octorun_runnerset_metadata_generation{namespace="ns",runnerset="new"} 2`},
				observedGeneration: []string{`octorun_runnerset_status_observed_generation{namespace="ns",runnerset="new"} 0`},
			},
		},
		{
			name: "no source of queued jobs",
			sets: []*octorunv1alpha1.RunnerSet{testRunnerSet("busy", busySet)},
			want: want{
				specRunners:        []string{`octorun_runnerset_spec_runners{namespace="ns",runnerset="busy"} 5`},
				statusRunners:      []string{`octorun_runnerset_status_runners{namespace="ns",runnerset="busy"} 5`},
				idle:               []string{`octorun_runnerset_status_idle_runners{namespace="ns",runnerset="busy"} 2`},
				active:             []string{`octorun_runnerset_status_active_runners{namespace="ns",runnerset="busy"} 3`},
				created:            []string{`octorun_runnerset_created{namespace="ns",runnerset="busy"} 1.7e+09`},
				generation:         []string{`octorun_runnerset_metadata_generation{namespace="ns",runnerset="busy"} 2`},
				observedGeneration: []string{`octorun_runnerset_status_observed_generation{namespace="ns",runnerset="busy"} 1`},
			},
		},
		{
			name: "two RunnerSets, one with queued jobs known",
			sets: []*octorunv1alpha1.RunnerSet{
				testRunnerSet("busy", busySet),
				testRunnerSet("busy", busySet, func(s *octorunv1alpha1.RunnerSet) { s.Namespace = "other" }),
			},
			queuedJobs: QueuedJobsFunc(func(set *octorunv1alpha1.RunnerSet) (int, bool) { return 7, set.Namespace == "other" }),
			want: want{
				specRunners: []string{
					`octorun_runnerset_spec_runners{namespace="ns",runnerset="busy"} 5`,
					`octorun_runnerset_spec_runners{namespace="other",runnerset="busy"} 5`,
				},
				statusRunners: []string{
					`octorun_runnerset_status_runners{namespace="ns",runnerset="busy"} 5`,
					`octorun_runnerset_status_runners{namespace="other",runnerset="busy"} 5`,
				},
				idle: []string{
					`octorun_runnerset_status_idle_runners{namespace="ns",runnerset="busy"} 2`,
					`octorun_runnerset_status_idle_runners{namespace="other",runnerset="busy"} 2`,
				},
				active: []string{
					`octorun_runnerset_status_active_runners{namespace="ns",runnerset="busy"} 3`,
					`octorun_runnerset_status_active_runners{namespace="other",runnerset="busy"} 3`,
				},
				created: []string{
					`octorun_runnerset_created{namespace="ns",runnerset="busy"} 1.7e+09`,
					`octorun_runnerset_created{namespace="other",runnerset="busy"} 1.7e+09`,
				},
				generation: []string{
					`octorun_runnerset_metadata_generation{namespace="ns",runnerset="busy"} 2`,
					`octorun_runnerset_metadata_generation{namespace="other",runnerset="busy"} 2`,
				},
				observedGeneration: []string{
					`octorun_runnerset_status_observed_generation{namespace="ns",runnerset="busy"} 1`,
					`octorun_runnerset_status_observed_generation{namespace="other",runnerset="busy"} 1`,
				},
				queuedJobs: []string{`octorun_runnerset_queued_jobs{namespace="other",runnerset="busy"} 7`},
			},
		},
		{
			name:       "no RunnerSets",
			queuedJobs: queuedJobs{"ns/busy": 4},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCollector(t, nil, tc.sets, Options{QueuedJobs: tc.queuedJobs})
			compare(t, c, "octorun_runnerset_spec_runners", tc.want.specRunners...)
			compare(t, c, "octorun_runnerset_status_runners", tc.want.statusRunners...)
			compare(t, c, "octorun_runnerset_status_idle_runners", tc.want.idle...)
			compare(t, c, "octorun_runnerset_status_active_runners", tc.want.active...)
			compare(t, c, "octorun_runnerset_created", tc.want.created...)
			compare(t, c, "octorun_runnerset_metadata_generation", tc.want.generation...)
			compare(t, c, "octorun_runnerset_status_observed_generation", tc.want.observedGeneration...)
			compare(t, c, "octorun_runnerset_queued_jobs", tc.want.queuedJobs...)
		})
	}
}

func TestRunnerSetStatusCondition(t *testing.T) {
	for _, tc := range []struct {
		name       string
		conditions []metav1.Condition
		want       []string
	}{
		{
			name: "true, false and unknown",
			conditions: []metav1.Condition{
				condition(octorunv1alpha1.RunnerSetConditionRunnerFailure, metav1.ConditionTrue),
				condition(octorunv1alpha1.RunnerSetConditionScaleDownBlocked, metav1.ConditionFalse),
				condition("Other", metav1.ConditionUnknown),
			},
			want: []string{
				`octorun_runnerset_status_condition{condition="Other",namespace="ns",runnerset="set",status="false"} 0`,
				`octorun_runnerset_status_condition{condition="Other",namespace="ns",runnerset="set",status="true"} 0`,
				`octorun_runnerset_status_condition{condition="Other",namespace="ns",runnerset="set",status="unknown"} 1`,
				`octorun_runnerset_status_condition{condition="RunnerFailure",namespace="ns",runnerset="set",status="false"} 0`,
				`octorun_runnerset_status_condition{condition="RunnerFailure",namespace="ns",runnerset="set",status="true"} 1`,
				`octorun_runnerset_status_condition{condition="RunnerFailure",namespace="ns",runnerset="set",status="unknown"} 0`,
				`octorun_runnerset_status_condition{condition="ScaleDownBlocked",namespace="ns",runnerset="set",status="false"} 1`,
				`octorun_runnerset_status_condition{condition="ScaleDownBlocked",namespace="ns",runnerset="set",status="true"} 0`,
				`octorun_runnerset_status_condition{condition="ScaleDownBlocked",namespace="ns",runnerset="set",status="unknown"} 0`,
			},
		},
		{
			name: "no conditions",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := testRunnerSet("set", func(s *octorunv1alpha1.RunnerSet) { s.Status.Conditions = tc.conditions })
			compare(t, newCollector(t, nil, []*octorunv1alpha1.RunnerSet{set}, Options{}), "octorun_runnerset_status_condition", tc.want...)
		})
	}
}

func TestRunnerSetLabels(t *testing.T) {
	for _, tc := range []struct {
		name string
		sets []*octorunv1alpha1.RunnerSet
		want []string
	}{
		{
			name: "no labels",
			sets: []*octorunv1alpha1.RunnerSet{testRunnerSet("set")},
			want: []string{`octorun_runnerset_labels{namespace="ns",runnerset="set"} 1`},
		},
		{
			name: "sanitized, with collisions",
			sets: []*octorunv1alpha1.RunnerSet{testRunnerSet("set", func(s *octorunv1alpha1.RunnerSet) {
				s.Labels = map[string]string{"app.kubernetes.io/part-of": "ci", "app.kubernetes.io/part_of": "cd", "tier": "gpu"}
			})},
			want: []string{`octorun_runnerset_labels{label_app_kubernetes_io_part_of_conflict1="ci",label_app_kubernetes_io_part_of_conflict2="cd",label_tier="gpu",namespace="ns",runnerset="set"} 1`},
		},
		{
			name: "no RunnerSets",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			compare(t, newCollector(t, nil, tc.sets, Options{}), "octorun_runnerset_labels", tc.want...)
		})
	}
}

// listeningScaleSet makes a RunnerSet the scale set "big-runners" of GitHub
// id 42 in runner group Builders, with 4 jobs assigned and 3 running.
func listeningScaleSet(s *octorunv1alpha1.RunnerSet) {
	s.Spec.ScaleSet = &octorunv1alpha1.RunnerScaleSetSpec{Name: "big-runners", RunnerGroup: "Builders", Labels: []string{"gpu"}}
	s.Status.ScaleSet = &octorunv1alpha1.RunnerScaleSetStatus{ID: 42, AssignedJobs: 4, RunningJobs: 3}
}

func TestRunnerSetScaleSet(t *testing.T) {
	type want struct {
		info, assigned, running []string
	}
	for _, tc := range []struct {
		name string
		sets []*octorunv1alpha1.RunnerSet
		want want
	}{
		{
			name: "listening scale set",
			sets: []*octorunv1alpha1.RunnerSet{testRunnerSet("scale", listeningScaleSet)},
			want: want{
				info:     []string{`octorun_runnerset_scaleset_info{namespace="ns",runner_group="Builders",runnerset="scale",scale_set_id="42",scale_set_name="big-runners"} 1`},
				assigned: []string{`octorun_runnerset_scaleset_assigned_jobs{namespace="ns",runnerset="scale"} 4`},
				running:  []string{`octorun_runnerset_scaleset_running_jobs{namespace="ns",runnerset="scale"} 3`},
			},
		},
		{
			name: "scale set not created yet: defaults, no id, no jobs",
			sets: []*octorunv1alpha1.RunnerSet{testRunnerSet("scale", func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.ScaleSet = &octorunv1alpha1.RunnerScaleSetSpec{}
			})},
			want: want{
				info: []string{`octorun_runnerset_scaleset_info{namespace="ns",runner_group="Default",runnerset="scale",scale_set_id="",scale_set_name="scale"} 1`},
			},
		},
		{
			name: "scale set created, no message yet: the template's group, jobs 0",
			sets: []*octorunv1alpha1.RunnerSet{testRunnerSet("scale", func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Template.Spec.Group = "Templated"
				s.Spec.ScaleSet = &octorunv1alpha1.RunnerScaleSetSpec{}
				s.Status.ScaleSet = &octorunv1alpha1.RunnerScaleSetStatus{ID: 7}
			})},
			want: want{
				info:     []string{`octorun_runnerset_scaleset_info{namespace="ns",runner_group="Templated",runnerset="scale",scale_set_id="7",scale_set_name="scale"} 1`},
				assigned: []string{`octorun_runnerset_scaleset_assigned_jobs{namespace="ns",runnerset="scale"} 0`},
				running:  []string{`octorun_runnerset_scaleset_running_jobs{namespace="ns",runnerset="scale"} 0`},
			},
		},
		{
			name: "not a scale set",
			sets: []*octorunv1alpha1.RunnerSet{testRunnerSet("busy", busySet)},
		},
		{
			name: "a scale set beside another RunnerSet",
			sets: []*octorunv1alpha1.RunnerSet{
				testRunnerSet("busy", busySet),
				testRunnerSet("scale", listeningScaleSet, func(s *octorunv1alpha1.RunnerSet) { s.Namespace = "other" }),
			},
			want: want{
				info:     []string{`octorun_runnerset_scaleset_info{namespace="other",runner_group="Builders",runnerset="scale",scale_set_id="42",scale_set_name="big-runners"} 1`},
				assigned: []string{`octorun_runnerset_scaleset_assigned_jobs{namespace="other",runnerset="scale"} 4`},
				running:  []string{`octorun_runnerset_scaleset_running_jobs{namespace="other",runnerset="scale"} 3`},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCollector(t, nil, tc.sets, Options{})
			compare(t, c, "octorun_runnerset_scaleset_info", tc.want.info...)
			compare(t, c, "octorun_runnerset_scaleset_assigned_jobs", tc.want.assigned...)
			compare(t, c, "octorun_runnerset_scaleset_running_jobs", tc.want.running...)
		})
	}
}
