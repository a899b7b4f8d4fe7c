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
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
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

// startForTest starts a control plane of components c for the test t, or
// skips t when their binaries are not built.
func startForTest(t *testing.T, c Components) *ControlPlane {
	t.Helper()
	return StartForTest(t, Options{BinDir: requireBinaries(t, c), Components: c})
}

// createConfigMap creates a config map in the default namespace. Its name is
// generated: a create that timed out may still have been done.
func createConfigMap(ctx context.Context, client kubernetes.Interface) (*corev1.ConfigMap, error) {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "restart-"},
		Data:       map[string]string{"key": "value"},
	}
	return client.CoreV1().ConfigMaps(metav1.NamespaceDefault).Create(ctx, cm, metav1.CreateOptions{})
}

// waitDead waits until pid no longer runs.
func waitDead(t *testing.T, pid int) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return !alive(pid), nil
	})
	if err != nil {
		t.Fatalf("process %d still runs", pid)
	}
}

// commandLines counts the command lines in log, one per start.
func commandLines(t *testing.T, log string) int {
	t.Helper()
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "+ ") {
			n++
		}
	}
	return n
}

func TestRestartAPIServer(t *testing.T) {
	// With the API server's clients, which must live through its crash.
	cp := startForTest(t, AllComponents)
	ctx := context.Background()
	// A client of its own, with connections the crash breaks.
	client, err := kubernetes.NewForConfig(rest.CopyConfig(cp.Config))
	if err != nil {
		t.Fatal(err)
	}
	cm, err := createConfigMap(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := os.ReadFile(cp.layout.servingCert())
	if err != nil {
		t.Fatal(err)
	}
	pid := cp.PIDs()[KubeAPIServer]

	start := time.Now()
	if err := cp.Restart(ctx, KubeAPIServer, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	t.Logf("Restarted in %s", time.Since(start).Round(time.Millisecond))

	if got := cp.PIDs()[KubeAPIServer]; got == pid || !alive(got) {
		t.Errorf("kube-apiserver pid %d after Restart, was %d: want a new live process", got, pid)
	}
	if alive(pid) {
		t.Errorf("the old kube-apiserver (pid %d) still runs", pid)
	}
	if after, err := os.ReadFile(cp.layout.servingCert()); err != nil || string(after) != string(cert) {
		t.Errorf("the serving certificate changed with the restart (err %v)", err)
	}
	got, err := client.CoreV1().ConfigMaps(cm.Namespace).Get(ctx, cm.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the client made before the restart: %v", err)
	}
	if got.Data["key"] != "value" {
		t.Errorf("config map data = %v, want key: value", got.Data)
	}
	if _, err := createConfigMap(ctx, cp.Client); err != nil {
		t.Errorf("cp.Client: %v", err)
	}
	if out, err := cp.KubectlCommand(ctx, "get", "configmap", cm.Name).CombinedOutput(); err != nil {
		t.Errorf("kubectl get configmap: %v\n%s", err, out)
	}
	if n := commandLines(t, cp.LogFile(KubeAPIServer)); n != 2 {
		t.Errorf("%d command lines in the kube-apiserver log, want 2: the log is appended to", n)
	}
	if err := cp.Healthy(); err != nil {
		t.Errorf("Healthy() after Restart = %v", err)
	}
}

func TestRestartEtcd(t *testing.T) {
	cp := startForTest(t, Components{})
	ctx := context.Background()
	cm, err := createConfigMap(ctx, cp.Client)
	if err != nil {
		t.Fatal(err)
	}
	pid := cp.PIDs()[Etcd]

	errc := make(chan error, 1)
	go func() { errc <- cp.Restart(ctx, Etcd, 2*time.Second) }()
	waitDead(t, pid)
	if err := cp.Healthy(); err != nil {
		t.Errorf("Healthy() while etcd is down for Restart = %v, want nil", err)
	}
	if err := cp.Restart(ctx, Etcd, 0); err == nil || !strings.Contains(err.Error(), "being restarted") {
		t.Errorf("a second Restart meanwhile = %v, want being restarted", err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}

	// Restart waited for the API server too.
	got, err := cp.Client.CoreV1().ConfigMaps(cm.Namespace).Get(ctx, cm.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting the config map created before the restart: %v", err)
	}
	if got.Data["key"] != "value" {
		t.Errorf("config map data = %v, want key: value", got.Data)
	}
	if _, err := createConfigMap(ctx, cp.Client); err != nil {
		t.Errorf("creating a config map after the restart: %v", err)
	}
	if n := commandLines(t, cp.LogFile(Etcd)); n != 2 {
		t.Errorf("%d command lines in the etcd log, want 2: the log is appended to", n)
	}
	if err := cp.Healthy(); err != nil {
		t.Errorf("Healthy() after Restart = %v", err)
	}

	for _, component := range []string{KubeScheduler, "nope"} {
		if err := cp.Restart(ctx, component, 0); err == nil || !strings.Contains(err.Error(), "does not run") {
			t.Errorf("Restart(%q) = %v, want does not run", component, err)
		}
	}
}

func TestRestartStopped(t *testing.T) {
	before := runningComponents(t)
	cp := startForTest(t, Components{})
	ctx := context.Background()
	pid := cp.PIDs()[Etcd]

	// Stop during the downtime: etcd is not started again.
	errc := make(chan error, 1)
	go func() { errc <- cp.Restart(ctx, Etcd, time.Second) }()
	waitDead(t, pid)
	if err := cp.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, errStopped) {
		t.Errorf("Restart() with Stop during the downtime = %v, want control plane stopped", err)
	}
	time.Sleep(100 * time.Millisecond)
	if after := runningComponents(t); after > before {
		t.Errorf("%d component processes run after Stop, %d before Start", after, before)
	}

	if err := cp.Restart(ctx, KubeAPIServer, 0); !errors.Is(err, errStopped) {
		t.Errorf("Restart() after Stop = %v, want control plane stopped", err)
	}
	if err := cp.Pause(Etcd); !errors.Is(err, errStopped) {
		t.Errorf("Pause() after Stop = %v, want control plane stopped", err)
	}
}

func TestPauseEtcd(t *testing.T) {
	cp := startForTest(t, Components{})
	ctx := context.Background()
	if err := cp.Pause(Etcd); err != nil {
		t.Fatal(err)
	}
	shortCtx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := createConfigMap(shortCtx, cp.Client); err == nil {
		t.Error("created a config map with etcd paused")
	}
	if err := cp.Healthy(); err != nil {
		t.Errorf("Healthy() with etcd paused = %v, want nil", err)
	}
	if err := cp.Resume(ctx, Etcd); err != nil {
		t.Fatal(err)
	}
	if _, err := createConfigMap(ctx, cp.Client); err != nil {
		t.Errorf("creating a config map after Resume: %v", err)
	}
	if err := cp.Healthy(); err != nil {
		t.Errorf("Healthy() after Resume = %v", err)
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
