/*
Copyright The Octorun Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package controlplane

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/template"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
)

// stage is the part of a kwok Stage these tests read.
type stage struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		ResourceRef struct {
			APIGroup string `json:"apiGroup"`
			Kind     string `json:"kind"`
		} `json:"resourceRef"`
		Weight   int `json:"weight"`
		Selector struct {
			MatchExpressions []struct {
				Key      string   `json:"key"`
				Operator string   `json:"operator"`
				Values   []string `json:"values"`
			} `json:"matchExpressions"`
		} `json:"selector"`
		Next struct {
			StatusTemplate string `json:"statusTemplate"`
		} `json:"next"`
	} `json:"spec"`
}

func readOwnStages(t *testing.T) map[string]stage {
	t.Helper()
	data, err := ownStages.ReadFile("stages/pod-exit.yaml")
	if err != nil {
		t.Fatal(err)
	}
	stages := map[string]stage{}
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var s stage
		if err := dec.Decode(&s); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding stages: %v", err)
		}
		stages[s.Metadata.Name] = s
	}
	return stages
}

func TestOwnStagesSelectAnnotatedRunningPods(t *testing.T) {
	stages := readOwnStages(t)
	annotation := `.metadata.annotations["` + ExitCodeAnnotation + `"]`
	tests := []struct {
		stage string
		want  []string // operator:values of the annotation's expressions
	}{
		{stage: "octorun-pod-exit-succeeded", want: []string{"In:0"}},
		{stage: "octorun-pod-exit-failed", want: []string{"Exists:", "NotIn:0"}},
	}
	if len(stages) != len(tests) {
		t.Errorf("got %d stages, want %d", len(stages), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.stage, func(t *testing.T) {
			s, ok := stages[tt.stage]
			if !ok {
				t.Fatalf("stage %s missing", tt.stage)
			}
			if s.APIVersion != "kwok.x-k8s.io/v1alpha1" || s.Kind != "Stage" {
				t.Errorf("got %s %s, want kwok.x-k8s.io/v1alpha1 Stage", s.APIVersion, s.Kind)
			}
			if s.Spec.ResourceRef.APIGroup != "v1" || s.Spec.ResourceRef.Kind != "Pod" {
				t.Errorf("resourceRef = %+v, want v1 Pod", s.Spec.ResourceRef)
			}
			if s.Spec.Weight <= 0 {
				t.Errorf("weight = %d, want > 0 so it wins over kwok's pod-complete", s.Spec.Weight)
			}
			var got []string
			running := false
			for _, e := range s.Spec.Selector.MatchExpressions {
				if e.Key == annotation {
					got = append(got, e.Operator+":"+strings.Join(e.Values, ","))
				}
				if e.Key == ".status.phase" && e.Operator == "In" && cmp.Equal(e.Values, []string{"Running"}) {
					running = true
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("annotation expressions mismatch (-want +got):\n%s", diff)
			}
			if !running {
				t.Error("stage does not select Running pods only")
			}
		})
	}
}

// renderStatus renders a stage's status template for pod the way kwok does,
// with stand-ins for the kwok and sprig functions the templates use.
func renderStatus(t *testing.T, s stage, pod *corev1.Pod) corev1.PodStatus {
	t.Helper()
	funcs := template.FuncMap{
		"Now": func() string { return "2026-01-02T03:04:05Z" },
		"Quote": func(v any) string {
			b, _ := json.Marshal(v)
			return string(b)
		},
		"toString": func(v any) string { return fmt.Sprint(v) },
		"atoi": func(s string) int {
			n, _ := strconv.Atoi(s)
			return n
		},
	}
	tmpl, err := template.New(s.Metadata.Name).Funcs(funcs).Parse(s.Spec.Next.StatusTemplate)
	if err != nil {
		t.Fatalf("parsing the template: %v", err)
	}
	// kwok renders the object as generic JSON data.
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, data); err != nil {
		t.Fatalf("rendering the template: %v", err)
	}
	var status corev1.PodStatus
	if err := yaml.Unmarshal(out.Bytes(), &status); err != nil {
		t.Fatalf("decoding the rendered status: %v\n%s", err, out.String())
	}
	return status
}

func TestOwnStagesExit(t *testing.T) {
	stages := readOwnStages(t)
	tests := []struct {
		name      string
		stage     string
		exit      string
		wantPhase corev1.PodPhase
		wantCode  int32
	}{
		{name: "zero succeeds", stage: "octorun-pod-exit-succeeded", exit: "0", wantPhase: corev1.PodSucceeded, wantCode: 0},
		{name: "non-zero fails with its code", stage: "octorun-pod-exit-failed", exit: "3", wantPhase: corev1.PodFailed, wantCode: 3},
		{name: "not an integer fails with 1", stage: "octorun-pod-exit-failed", exit: "boom", wantPhase: corev1.PodFailed, wantCode: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{
					Name:        "runner",
					Annotations: map[string]string{ExitCodeAnnotation: tt.exit},
				},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "runner", Image: "runner:1"},
					{Name: "sidecar", Image: "sidecar:1"},
				}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning},
			}
			status := renderStatus(t, stages[tt.stage], pod)
			if status.Phase != tt.wantPhase {
				t.Errorf("phase = %s, want %s", status.Phase, tt.wantPhase)
			}
			if len(status.ContainerStatuses) != 2 {
				t.Fatalf("got %d container statuses, want 2", len(status.ContainerStatuses))
			}
			for _, cs := range status.ContainerStatuses {
				if cs.State.Terminated == nil {
					t.Errorf("container %s not terminated: %+v", cs.Name, cs.State)
					continue
				}
				if cs.State.Terminated.ExitCode != tt.wantCode {
					t.Errorf("container %s exit code = %d, want %d", cs.Name, cs.State.Terminated.ExitCode, tt.wantCode)
				}
			}
		})
	}
}

func TestWriteStages(t *testing.T) {
	binDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(binDir, kwokStagesDir), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range kwokStages {
		if err := os.WriteFile(filepath.Join(binDir, kwokStagesDir, name), []byte("kind: Stage\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "stages")
	files, err := writeStages(binDir, dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		if filepath.Dir(f) != dir {
			t.Errorf("%s is not in %s", f, dir)
		}
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
		got = append(got, filepath.Base(f))
	}
	want := append(append([]string{}, kwokStages...), "octorun-pod-exit.yaml")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stage files mismatch (-want +got):\n%s", diff)
	}
}

func TestWriteStagesMissingKwokStage(t *testing.T) {
	_, err := writeStages(t.TempDir(), t.TempDir())
	if !errors.Is(err, ErrBinariesMissing) {
		t.Fatalf("writeStages() error = %v, want ErrBinariesMissing", err)
	}
	if !strings.Contains(err.Error(), buildScript) {
		t.Errorf("error %q does not say to run %s", err, buildScript)
	}
}

func TestNewNode(t *testing.T) {
	node := NewNode(NodeName(2))
	if node.Name != "kwok-node-2" {
		t.Errorf("name = %q, want kwok-node-2", node.Name)
	}
	if node.Annotations[NodeAnnotation] != NodeAnnotationValue {
		t.Errorf("annotations = %v, want %s=%s so kwok plays it", node.Annotations, NodeAnnotation, NodeAnnotationValue)
	}
	if len(node.Spec.Taints) != 0 {
		t.Errorf("taints = %v, want none", node.Spec.Taints)
	}
}

func TestNodeSchedulable(t *testing.T) {
	ready := []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	tests := []struct {
		name string
		node corev1.Node
		want bool
	}{
		{name: "no conditions", want: false},
		{name: "ready", node: corev1.Node{Status: corev1.NodeStatus{Conditions: ready}}, want: true},
		{
			name: "not ready",
			node: corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}}},
			want: false,
		},
		{
			name: "ready with the not-ready taint still on",
			node: corev1.Node{
				Spec:   corev1.NodeSpec{Taints: []corev1.Taint{{Key: "node.kubernetes.io/not-ready", Effect: corev1.TaintEffectNoSchedule}}},
				Status: corev1.NodeStatus{Conditions: ready},
			},
			want: false,
		},
		{
			name: "ready with a PreferNoSchedule taint",
			node: corev1.Node{
				Spec:   corev1.NodeSpec{Taints: []corev1.Taint{{Key: "x", Effect: corev1.TaintEffectPreferNoSchedule}}},
				Status: corev1.NodeStatus{Conditions: ready},
			},
			want: true,
		},
		{
			name: "cordoned",
			node: corev1.Node{Spec: corev1.NodeSpec{Unschedulable: true}, Status: corev1.NodeStatus{Conditions: ready}},
			want: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nodeSchedulable(&tt.node); got != tt.want {
				t.Errorf("nodeSchedulable() = %v, want %v", got, tt.want)
			}
		})
	}
}
