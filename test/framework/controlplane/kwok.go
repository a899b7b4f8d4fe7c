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
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// NodeAnnotation marks the nodes that kwok plays.
	NodeAnnotation = "kwok.x-k8s.io/node"
	// NodeAnnotationValue is the value of NodeAnnotation on kwok's nodes.
	NodeAnnotationValue = "fake"
	// NodeLabel is set to NodeAnnotationValue on the nodes Start creates.
	NodeLabel = "type"

	// ExitCodeAnnotation makes a Running pod on a kwok node exit: "0" makes
	// it Succeeded, any other integer makes it Failed with that exit code in
	// its container statuses (a value that is not an integer counts as 1).
	ExitCodeAnnotation = "octorun.github.io/test-exit"
)

// kwokStages are the stage files kwok ships in its module, copied into
// <bin>/kwok-stages by hack/build-tools.sh: nodes become Ready and keep
// their leases, pods become Running, pods owned by a Job complete, and
// deleted pods go away.
var kwokStages = []string{
	"node-initialize.yaml",
	"node-heartbeat-with-lease.yaml",
	"pod-ready.yaml",
	"pod-complete.yaml",
	"pod-delete.yaml",
}

// ownStages are Octorun's stages, embedded in this package.
//
//go:embed stages/*.yaml
var ownStages embed.FS

// writeStages puts every stage file kwok needs into dir and returns their
// paths: kwok's from binDir, then Octorun's own.
func writeStages(binDir, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	for _, name := range kwokStages {
		src := filepath.Join(binDir, kwokStagesDir, name)
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, fmt.Errorf("%w: kwok stage %s: %v: run %s", ErrBinariesMissing, name, err, buildScript)
		}
		dst := filepath.Join(dir, name)
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return nil, err
		}
		files = append(files, dst)
	}
	entries, err := ownStages.ReadDir("stages")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		data, err := ownStages.ReadFile("stages/" + e.Name())
		if err != nil {
			return nil, err
		}
		dst := filepath.Join(dir, "octorun-"+e.Name())
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return nil, err
		}
		files = append(files, dst)
	}
	return files, nil
}

// NodeName returns the name of the i-th node Start creates.
func NodeName(i int) string {
	return "kwok-node-" + strconv.Itoa(i)
}

// NewNode returns a Node that kwok plays once created: it becomes Ready and
// runs the pods scheduled to it. kwok fills in its capacity (1k CPUs, 1Ti of
// memory, 1M pods) and addresses. The node carries no taint, so pods need no
// toleration.
func NewNode(name string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Annotations: map[string]string{
				NodeAnnotation: NodeAnnotationValue,
			},
			Labels: map[string]string{
				NodeLabel:                NodeAnnotationValue,
				"kubernetes.io/hostname": name,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
			},
		},
	}
}

// nodeSchedulable reports whether node is Ready and carries no taint that
// keeps pods off it.
func nodeSchedulable(node *corev1.Node) bool {
	if node.Spec.Unschedulable {
		return false
	}
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			return false
		}
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
