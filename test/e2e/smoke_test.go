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
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/octorun/octorun/test/framework/controlplane"
)

// The smoke tests prove the control plane itself: what Octorun's tests rely
// on works before any Octorun code runs.

func newPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "smoke"}},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{
				{Name: "runner", Image: "ghcr.io/actions/actions-runner:latest"},
			},
		},
	}
}

// exitPod sets the annotation that makes kwok end the pod with code.
func exitPod(t *testing.T, namespace, name, code string) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, controlplane.ExitCodeAnnotation, code)
	_, err := Client.CoreV1().Pods(namespace).Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("annotating pod %s/%s to exit %s: %v", namespace, name, code, err)
	}
}

func TestPodOnFakeNodeRunsAndExits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		exit     string
		phase    corev1.PodPhase
		exitCode int32
		reason   string
	}{
		{name: "succeeds", exit: "0", phase: corev1.PodSucceeded, exitCode: 0, reason: "Completed"},
		{name: "fails", exit: "2", phase: corev1.PodFailed, exitCode: 2, reason: "Error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ns := NewNamespace(t)
			if _, err := Client.CoreV1().Pods(ns).Create(context.Background(), newPod("runner"), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}

			pod := WaitForPod(t, ns, "runner", "to run", PodPhaseIs(corev1.PodRunning))
			if !slices.Contains(ControlPlane.Nodes, pod.Spec.NodeName) {
				t.Errorf("pod runs on node %q, want one of the fake nodes %v", pod.Spec.NodeName, ControlPlane.Nodes)
			}
			if pod.Spec.ServiceAccountName != "default" {
				t.Errorf("pod has service account %q, want default", pod.Spec.ServiceAccountName)
			}

			exitPod(t, ns, "runner", tt.exit)
			pod = WaitForPod(t, ns, "runner", "to end "+string(tt.phase), PodPhaseIs(tt.phase))
			if len(pod.Status.ContainerStatuses) != 1 || pod.Status.ContainerStatuses[0].State.Terminated == nil {
				t.Fatalf("container statuses = %+v, want one terminated", pod.Status.ContainerStatuses)
			}
			term := pod.Status.ContainerStatuses[0].State.Terminated
			if term.ExitCode != tt.exitCode || term.Reason != tt.reason {
				t.Errorf("container terminated with %d (%s), want %d (%s)", term.ExitCode, term.Reason, tt.exitCode, tt.reason)
			}
		})
	}
}

func TestDeploymentBecomesAvailable(t *testing.T) {
	t.Parallel()
	ns := NewNamespace(t)
	ctx := context.Background()
	replicas := int32(3)
	pod := newPod("")
	pod.Spec.RestartPolicy = corev1.RestartPolicyAlways
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "smoke"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: pod.Labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec},
		},
	}
	if _, err := Client.AppsV1().Deployments(ns).Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "the deployment to have 3 available replicas", func(ctx context.Context) (bool, error) {
		d, err := Client.AppsV1().Deployments(ns).Get(ctx, "smoke", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Status.AvailableReplicas == replicas, nil
	})
	pods, err := Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=smoke"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || !slices.Contains(ControlPlane.Nodes, p.Spec.NodeName) {
			t.Errorf("pod %s is %s on %q, want Running on a fake node", p.Name, p.Status.Phase, p.Spec.NodeName)
		}
	}
}

func TestGarbageCollectorDeletesDependents(t *testing.T) {
	t.Parallel()
	ns := NewNamespace(t)
	ctx := context.Background()
	cms := Client.CoreV1().ConfigMaps(ns)
	owner, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dependent := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: "dependent",
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "v1",
			Kind:       "ConfigMap",
			Name:       owner.Name,
			UID:        owner.UID,
		}},
	}}
	if _, err := cms.Create(ctx, dependent, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	if err := cms.Delete(ctx, owner.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "the garbage collector to delete the dependent", func(ctx context.Context) (bool, error) {
		_, err := cms.Get(ctx, "dependent", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

func TestNamespaceDeletionFinishes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns, err := Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "doomed-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Client.CoreV1().ConfigMaps(ns.Name).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := Client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "the namespace controller to remove namespace "+ns.Name, func(ctx context.Context) (bool, error) {
		_, err := Client.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

func TestKubectl(t *testing.T) {
	t.Parallel()
	out := MustKubectl(t, "version", "-o", "json")
	var version struct {
		ClientVersion struct{ GitVersion string } `json:"clientVersion"`
		ServerVersion struct{ GitVersion string } `json:"serverVersion"`
	}
	if err := json.Unmarshal([]byte(out), &version); err != nil {
		t.Fatalf("decoding kubectl version: %v\n%s", err, out)
	}
	if version.ClientVersion.GitVersion != "v1.37.2" || version.ServerVersion.GitVersion != "v1.37.2" {
		t.Errorf("kubectl version gives client %q, server %q, want v1.37.2 for both",
			version.ClientVersion.GitVersion, version.ServerVersion.GitVersion)
	}

	out = MustKubectl(t, "get", "nodes", "-o", "name")
	for _, n := range ControlPlane.Nodes {
		if !slices.Contains(strings.Fields(out), "node/"+n) {
			t.Errorf("kubectl get nodes = %q, want it to list node/%s", out, n)
		}
	}

	ns := NewNamespace(t)
	manifest := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"applied"},"data":{"k":"v"}}`)
	if _, err := KubectlWithInput(manifest, "apply", "-n", ns, "-f", "-"); err != nil {
		t.Fatal(err)
	}
	if got := MustKubectl(t, "get", "configmap", "applied", "-n", ns, "-o", "jsonpath={.data.k}"); got != "v" {
		t.Errorf("applied configmap has k=%q, want v", got)
	}
}
