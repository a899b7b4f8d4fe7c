package reliability

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/framework/world"
	"github.com/octorun/octorun/test/githubsim"
)

// TestBusyRunners disrupts runners that hold jobs every way a user or an
// administrator can: the RunnerSet scaled down, a Runner deleted with
// kubectl, the RunnerSet's template changed, and a node drained. It does so
// for a RunnerSet of each container mode in turn, in one world: no mode, DinD
// (a Docker daemon sidecar) and Kubernetes (container hooks on a generic
// ephemeral work volume).
func TestBusyRunners(t *testing.T) {
	r := newResult(t, "5. Busy runners scaled down, deleted, re-templated and drained (each container mode)",
		"0 jobs killed by Octorun")
	ctx := context.Background()
	w := startWorld(t, world.Options{
		Nodes: 2, AgentEvery: 100 * time.Millisecond, WithWebhooks: true,
		Sim:          githubsim.Options{WebhookWorkers: 4},
		OctorunArgs:  []string{"--github-secondary-limit=0"},
		StorageClass: "reliability-local",
	})
	jobs := 0
	for _, mode := range []struct {
		name   string
		mutate func(*octorunv1alpha1.RunnerSet)
	}{
		{"none", func(*octorunv1alpha1.RunnerSet) {}},
		{"DinD", func(s *octorunv1alpha1.RunnerSet) {
			s.Spec.Template.Spec.ContainerMode = &octorunv1alpha1.ContainerMode{Type: octorunv1alpha1.ContainerModeDinD}
		}},
		{"Kubernetes", func(s *octorunv1alpha1.RunnerSet) {
			// The container hooks' ServiceAccount (its Role does not matter
			// here: kwok runs no hooks).
			sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "runner-hooks", Namespace: namespace}}
			if _, err := w.Kube.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			s.Spec.Template.Spec.ServiceAccountName = "runner-hooks"
			s.Spec.Template.Spec.ContainerMode = &octorunv1alpha1.ContainerMode{Type: octorunv1alpha1.ContainerModeKubernetes}
		}},
	} {
		start := time.Now()
		jobs += busyRunners(ctx, t, w, jobs, mode.mutate)
		r.Figures["container mode "+mode.name] = time.Since(start).Round(time.Second).String()
	}
	r.Faults, r.FaultKind = 12, "disruptions"
	audit(ctx, t, w, r, -1)
}

// busyRunners runs the disruptions on a RunnerSet made by mutate, with done
// jobs completed before, and deletes the set after; it returns the jobs it
// ran.
func busyRunners(ctx context.Context, t *testing.T, w *world.World, done int, mutate func(*octorunv1alpha1.RunnerSet)) int {
	t.Helper()
	n := sz.busyRunners
	const jobLength = 30 * time.Second
	if err := w.CreateRunnerSet(ctx, setName, n, mutate); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitIdle(ctx, n); err != nil {
		t.Fatal(err)
	}
	queueJobs(ctx, w, n, 0, jobLength, jobLength)
	if err := w.WaitFor(ctx, "every runner Active", time.Minute, func() (bool, error) {
		return w.Tracker.CountPhase(octorunv1alpha1.RunnerPhaseActive) >= n, nil
	}); err != nil {
		t.Fatal(err)
	}
	kubectl := func(args ...string) {
		t.Helper()
		out, err := w.CP.KubectlCommand(ctx, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}

	// 1. The template changes.
	patch := `{"spec":{"template":{"metadata":{"labels":{"reliability/revision":"2"}}}}}`
	if _, err := w.Octo.OctorunV1alpha1().RunnerSets(namespace).Patch(ctx, setName, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// 2. A busy Runner is deleted.
	runners, err := runnersOf(ctx, w)
	if err != nil || len(runners) == 0 {
		t.Fatalf("Listing Runners: %v (%d)", err, len(runners))
	}
	kubectl("delete", "runner", "-n", namespace, runners[0].Name, "--wait=false")
	// 3. The RunnerSet scales down by half.
	if err := w.Scale(ctx, setName, n/2); err != nil {
		t.Fatal(err)
	}
	// 4. A node is drained: kubectl evicts its pods, retrying while a
	// PodDisruptionBudget forbids it, until the jobs are done.
	node := w.CP.Nodes[0]
	drained := make(chan error, 1)
	go func() {
		out, err := w.CP.KubectlCommand(ctx, "drain", node, "--ignore-daemonsets", "--delete-emptydir-data",
			"--timeout="+(jobLength+2*time.Minute).String()).CombinedOutput()
		if err != nil {
			err = fmt.Errorf("kubectl drain: %w: %s", err, out)
		}
		drained <- err
	}()

	waitJobs(ctx, t, w, done+n, jobLength+3*time.Minute)
	if err := <-drained; err != nil {
		t.Error(err)
	}
	kubectl("uncordon", node)
	waitConverged(ctx, t, w, n/2, 3*time.Minute)

	// The next mode starts from nothing.
	kubectl("delete", "runnerset", "-n", namespace, setName, "--wait=true", "--timeout=3m")
	if err := w.WaitFor(ctx, "the RunnerSet's Runners gone", 3*time.Minute, func() (bool, error) {
		runners, err := runnersOf(ctx, w)
		return err == nil && len(runners) == 0, err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}
