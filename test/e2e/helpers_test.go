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

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/octorun/octorun/test/framework/controlplane"
)

const (
	// timeout bounds every wait for the control plane to converge.
	timeout = time.Minute
	// interval is how often waits poll.
	interval = 100 * time.Millisecond
)

// NewNamespace creates a namespace for t, waits until pods can be created
// in it (its default service account exists) and deletes it when t ends.
func NewNamespace(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	prefix := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(prefix) > 40 {
		prefix = prefix[:40]
	}
	ns, err := Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: strings.Trim(prefix, "-") + "-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating the test namespace: %v", err)
	}
	t.Cleanup(func() {
		err := Client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
		if err != nil {
			t.Errorf("deleting namespace %s: %v", ns.Name, err)
		}
	})
	if err := ControlPlane.WaitForServiceAccount(ctx, ns.Name); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// Kubectl runs the built kubectl with args against the control plane and
// returns its standard output. The error carries the standard error.
func Kubectl(args ...string) (string, error) {
	return KubectlWithInput(nil, args...)
}

// KubectlWithInput is Kubectl with stdin as standard input (e.g. for
// "apply -f -").
func KubectlWithInput(stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := ControlPlane.KubectlCommand(ctx, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// MustKubectl is Kubectl that fails t on error.
func MustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := Kubectl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// RepoPath returns a path inside the repository, e.g. RepoPath("manifests",
// "crd") for kubectl apply -f.
func RepoPath(t *testing.T, elem ...string) string {
	t.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(append([]string{root}, elem...)...)
}

// Eventually polls cond until it returns true, and fails t when it returns
// an error or the timeout passes; what says what is awaited.
func Eventually(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), interval, timeout, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// WaitForPod polls pod namespace/name until cond holds, and returns it.
func WaitForPod(t *testing.T, namespace, name, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	Eventually(t, fmt.Sprintf("pod %s/%s %s", namespace, name, what), func(ctx context.Context) (bool, error) {
		var err error
		pod, err = Client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return cond(pod), nil
	})
	return pod
}

// PodPhaseIs returns a condition for WaitForPod.
func PodPhaseIs(phase corev1.PodPhase) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool { return p.Status.Phase == phase }
}
