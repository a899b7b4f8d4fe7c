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
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// requireBinaries skips the test when the binaries for c are not built.
func requireBinaries(t *testing.T, c Components) string {
	t.Helper()
	binDir, err := DefaultBinDir()
	if err != nil {
		t.Fatal(err)
	}
	if err := checkBinaries(binDir, c.binaries()); err != nil {
		t.Skip(err)
	}
	return binDir
}

func TestStartBinariesMissing(t *testing.T) {
	_, err := Start(context.Background(), Options{BinDir: t.TempDir(), Logf: t.Logf})
	if !errors.Is(err, ErrBinariesMissing) {
		t.Fatalf("Start() error = %v, want ErrBinariesMissing", err)
	}
	if !strings.Contains(err.Error(), "hack/build-tools.sh") {
		t.Errorf("error %q does not say to run hack/build-tools.sh", err)
	}
}

func TestStartAPIServerOnly(t *testing.T) {
	binDir := requireBinaries(t, Components{})
	ctx := context.Background()
	crd := filepath.Join(t.TempDir(), "crd.yaml")
	if err := os.WriteFile(crd, []byte(testCRD), 0o644); err != nil {
		t.Fatal(err)
	}
	cp, err := Start(ctx, Options{BinDir: binDir, TempDir: t.TempDir(), CRDs: []string{crd}, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cp.KeepDir()
			_ = cp.Stop()
		}
	})

	pids := cp.PIDs()
	if len(pids) != 2 || pids[Etcd] == 0 || pids[KubeAPIServer] == 0 {
		t.Fatalf("PIDs() = %v, want etcd and kube-apiserver only", pids)
	}

	// Without the controller-manager, pods are admitted without a service
	// account; they stay Pending with no scheduler.
	ns, err := cp.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "smoke-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	if _, err := cp.Client.CoreV1().Pods(ns.Name).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating a pod: %v", err)
	}

	out, err := cp.KubectlCommand(ctx, "get", "pods", "-n", ns.Name, "-o", "name").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl get pods: %v\n%s", err, out)
	}
	if strings.TrimSpace(string(out)) != "pod/p" {
		t.Errorf("kubectl get pods = %q, want pod/p", out)
	}

	// The CRD was applied and is served.
	out, err = cp.KubectlCommand(ctx, "get", "widgets", "-A", "-o", "name").CombinedOutput()
	if err != nil {
		t.Errorf("kubectl get widgets: %v\n%s", err, out)
	}

	start := time.Now()
	if err := cp.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	t.Logf("Stopped in %s", time.Since(start).Round(time.Millisecond))
	for name, pid := range pids {
		if alive(pid) {
			t.Errorf("%s (pid %d) still runs after Stop", name, pid)
		}
	}
	if _, err := os.Stat(cp.Dir); !os.IsNotExist(err) {
		t.Errorf("dir %s still there after Stop (err %v)", cp.Dir, err)
	}
	if err := cp.Stop(); err != nil {
		t.Errorf("second Stop() = %v, want nil", err)
	}
}

const testCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names:
    kind: Widget
    plural: widgets
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`

func TestStartFailureKeepsLogsAndKillsAll(t *testing.T) {
	binDir := requireBinaries(t, Components{})
	before := runningComponents(t)
	_, err := Start(context.Background(), Options{
		BinDir:    binDir,
		TempDir:   t.TempDir(),
		Logf:      t.Logf,
		ExtraArgs: map[string][]string{KubeAPIServer: {"--no-such-flag=1"}},
	})
	if err == nil {
		t.Fatal("Start() = nil error with a bad kube-apiserver flag")
	}
	for _, want := range []string{"kube-apiserver exited", "no-such-flag", "logs in"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
	if after := runningComponents(t); after > before {
		t.Errorf("%d component processes run after the failed Start, %d before", after, before)
	}
}

func TestStartRetriesWhenAPortIsTaken(t *testing.T) {
	binDir := requireBinaries(t, Components{})
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	tempDir := t.TempDir()
	var retries atomic.Int32
	_, err = Start(context.Background(), Options{
		BinDir:  binDir,
		TempDir: tempDir,
		Logf: func(format string, args ...any) {
			if strings.HasPrefix(format, "A port was taken") {
				retries.Add(1)
			}
			t.Logf(format, args...)
		},
		// Every attempt gets the taken port.
		ExtraArgs: map[string][]string{Etcd: {"--listen-client-urls=http://" + taken.Addr().String()}},
	})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Start() error = %v, want address already in use", err)
	}
	if got := retries.Load(); got != 2 {
		t.Errorf("Start retried %d times, want 2", got)
	}
	// Only the last attempt's dir is kept.
	entries, err := os.ReadDir(tempDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("%d dirs left in %s, want 1", len(entries), tempDir)
	}
}

// runningComponents counts the live children of this process that are
// components.
func runningComponents(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	n := 0
	for _, e := range entries {
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(data)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		comm, fields := s[open+1:end], strings.Fields(s[end+1:])
		if len(fields) < 2 || fields[0] == "Z" || fields[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		if comm == Etcd || strings.HasPrefix(comm, "kube-") || comm == Kwok {
			n++
		}
	}
	return n
}
