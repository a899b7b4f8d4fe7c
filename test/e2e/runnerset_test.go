package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/githubsim"
)

// setRunners returns the set's Runners that are not being deleted, by phase.
func (e *runnerEnv) setRunners(ctx context.Context, set string) (map[octorunv1alpha1.RunnerPhase][]octorunv1alpha1.Runner, int, error) {
	list, err := e.client.OctorunV1alpha1().Runners(e.ns).List(ctx, metav1.ListOptions{LabelSelector: octorunv1alpha1.LabelRunnerSet + "=" + set})
	if err != nil {
		return nil, 0, err
	}
	byPhase := map[octorunv1alpha1.RunnerPhase][]octorunv1alpha1.Runner{}
	n := 0
	for _, r := range list.Items {
		if r.DeletionTimestamp != nil {
			continue
		}
		n++
		byPhase[r.Status.Phase] = append(byPhase[r.Status.Phase], r)
	}
	return byPhase, n, nil
}

func (e *runnerEnv) waitForIdle(t *testing.T, set string, want int) {
	t.Helper()
	Eventually(t, fmt.Sprintf("RunnerSet %s to have exactly %d Idle runners", set, want), func(ctx context.Context) (bool, error) {
		byPhase, n, err := e.setRunners(ctx, set)
		return err == nil && n == want && len(byPhase[octorunv1alpha1.RunnerPhaseIdle]) == want, err
	})
}

func TestRunnerSetScalesAndNeverKillsAJob(t *testing.T) {
	e := startRunnerEnv(t)
	ctx := context.Background()
	labels := map[string]string{octorunv1alpha1.LabelRunnerSet: "pool"}
	set := &octorunv1alpha1.RunnerSet{
		ObjectMeta: metav1.ObjectMeta{Name: "pool"},
		Spec: octorunv1alpha1.RunnerSetSpec{
			Runners:  ptr.To[int32](5),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: octorunv1alpha1.RunnerTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octo"},
			},
		},
	}
	if _, err := e.client.OctorunV1alpha1().RunnerSets(e.ns).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitForIdle(t, "pool", 5)

	MustKubectl(t, "scale", "-n", e.ns, "runnerset/pool", "--replicas=20")
	e.waitForIdle(t, "pool", 20)

	// The scale subresource, raw.
	raw := MustKubectl(t, "get", "--raw", "/apis/octorun.github.io/v1alpha1/namespaces/"+e.ns+"/runnersets/pool/scale")
	var scale autoscalingv1.Scale
	if err := json.Unmarshal([]byte(raw), &scale); err != nil {
		t.Fatalf("Scale subresource %q: %v", raw, err)
	}
	if scale.Spec.Replicas != 20 || scale.Status.Replicas != 20 || scale.Status.Selector != octorunv1alpha1.LabelRunnerSet+"=pool" {
		t.Errorf("Scale = %+v, want 20 replicas and the set's selector", scale)
	}

	// Three runners take jobs; scaling to 2 keeps them until the jobs end.
	var jobs []githubsim.Job
	for range 3 {
		jobs = append(jobs, e.sim.QueueJob(githubsim.JobRequest{Owner: "octo", Repo: "hello"}))
	}
	busy := map[int64]bool{}
	Eventually(t, "the 3 jobs to start", func(context.Context) (bool, error) {
		clear(busy)
		for _, j := range jobs {
			j, _ = e.sim.Job(j.ID)
			if j.RunnerID != 0 {
				busy[j.RunnerID] = true
			}
		}
		return len(busy) == 3, nil
	})
	// What the GitHub event receiver does on in_progress deliveries.
	e.hintJobs(t, jobs)
	Eventually(t, "the 3 busy runners to be Active", func(ctx context.Context) (bool, error) {
		byPhase, _, err := e.setRunners(ctx, "pool")
		return err == nil && len(byPhase[octorunv1alpha1.RunnerPhaseActive]) == 3, err
	})
	MustKubectl(t, "scale", "-n", e.ns, "runnerset/pool", "--replicas=2")
	Eventually(t, "the set to shrink to its 3 busy runners", func(ctx context.Context) (bool, error) {
		byPhase, n, err := e.setRunners(ctx, "pool")
		if err != nil || n != 3 {
			return false, err
		}
		for _, r := range byPhase[octorunv1alpha1.RunnerPhaseActive] {
			if !busy[r.Spec.ID] {
				return false, nil
			}
		}
		return len(byPhase[octorunv1alpha1.RunnerPhaseActive]) == 3, nil
	})
	Eventually(t, "the set to say scale-down waits for jobs", func(ctx context.Context) (bool, error) {
		s, err := e.client.OctorunV1alpha1().RunnerSets(e.ns).Get(ctx, "pool", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range s.Status.Conditions {
			if c.Type == octorunv1alpha1.RunnerSetConditionScaleDownBlocked && c.Status == metav1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	for _, j := range jobs {
		if err := e.sim.CompleteJob(j.ID); err != nil {
			t.Fatal(err)
		}
	}
	e.waitForIdle(t, "pool", 2)
	for _, j := range jobs {
		if j, _ := e.sim.Job(j.ID); j.Conclusion != githubsim.ConclusionSuccess {
			t.Errorf("Job %d ended %q: a job was killed", j.ID, j.Conclusion)
		}
	}

	// A template change rolls the idle runners to the new template.
	patch := `{"spec":{"template":{"metadata":{"labels":{"octorun.github.io/pool":"b"}}}}}`
	if _, err := e.client.OctorunV1alpha1().RunnerSets(e.ns).Patch(ctx, "pool", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "the runners to be rolled to the new template", func(ctx context.Context) (bool, error) {
		byPhase, n, err := e.setRunners(ctx, "pool")
		if err != nil || n != 2 || len(byPhase[octorunv1alpha1.RunnerPhaseIdle]) != 2 {
			return false, err
		}
		for _, r := range byPhase[octorunv1alpha1.RunnerPhaseIdle] {
			if r.Labels["octorun.github.io/pool"] != "b" {
				return false, nil
			}
			sr, ok := e.sim.Runner(r.Spec.ID)
			if !ok || !containsString(sr.Labels, "pool=b") {
				return false, nil
			}
		}
		return true, nil
	})
	if out := MustKubectl(t, "get", "runnerset", "-n", e.ns, "pool"); !strings.Contains(out, "pool") {
		t.Errorf("kubectl get runnerset: %s", out)
	}
}

// hintJobs annotates the Runners running jobs with the job assignment, as
// the GitHub event receiver does when GitHub reports them in progress.
func (e *runnerEnv) hintJobs(t *testing.T, jobs []githubsim.Job) {
	t.Helper()
	ctx := context.Background()
	list, err := e.client.OctorunV1alpha1().Runners(e.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		j, _ = e.sim.Job(j.ID)
		for _, r := range list.Items {
			if r.Spec.ID != j.RunnerID {
				continue
			}
			hint := octorunv1alpha1.JobAssignment{JobID: j.ID, RunID: j.RunID, AssignedAt: metav1.Now()}.String()
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{octorunv1alpha1.AnnotationJobAssignment: hint}}})
			if _, err := e.client.OctorunV1alpha1().Runners(e.ns).Patch(ctx, r.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
}
