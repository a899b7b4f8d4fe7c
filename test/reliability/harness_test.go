package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/framework/world"
	"github.com/octorun/octorun/test/githubsim"
)

const (
	namespace = "reliability"
	setName   = "runners"
)

// startWorld starts a scenario's world; it stops with the test, and keeps
// its logs when the test failed.
func startWorld(t *testing.T, o world.Options) *world.World {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	o.Dir = filepath.Join(workDir, t.Name())
	o.Namespace = namespace
	o.OctorunBin = octorunBin
	o.OctorunV = *vFlag
	o.Logf = t.Logf
	o.OctorunArgs = append([]string{"--sync-period=" + sz.syncPeriod.String()}, o.OctorunArgs...)
	w, err := world.Start(ctx, o)
	if err != nil {
		t.Fatalf("Starting the world: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() || *keepFlag {
			w.KeepLogs()
			t.Logf("Octorun's logs: %s", o.Dir)
		}
		w.Stop()
	})
	return w
}

// newResult starts a scenario's result; finish records it.
func newResult(t *testing.T, scenario, invariant string) *result {
	r := &result{Scenario: scenario, Invariant: invariant, Figures: map[string]any{}}
	start := time.Now()
	t.Cleanup(func() {
		r.Seconds = time.Since(start).Seconds()
		r.Passed = !t.Failed()
		record(r)
	})
	return r
}

// queueJobs queues n jobs for the organization's runners, lasting between
// min and max, spread over the given time (all at once when zero); it
// returns at once.
func queueJobs(ctx context.Context, w *world.World, n int, over, minD, maxD time.Duration) {
	go func() {
		start := time.Now()
		for i := range n {
			if over > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(start.Add(over * time.Duration(i) / time.Duration(n)))):
				}
			}
			d := minD + time.Duration(rand.Int64N(int64(maxD-minD)+1))
			w.Sim.QueueJob(githubsim.JobRequest{Owner: world.Org, Repo: world.Repo, Duration: d})
		}
	}()
}

// waitJobs waits until n jobs have completed.
func waitJobs(ctx context.Context, t *testing.T, w *world.World, n int, timeout time.Duration) {
	t.Helper()
	err := w.WaitFor(ctx, fmt.Sprintf("%d jobs completed", n), timeout, func() (bool, error) {
		return completedJobs(w) >= n, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// completedJobs counts the jobs GitHub saw completed.
func completedJobs(w *world.World) int {
	done := 0
	for _, j := range w.Sim.Jobs() {
		if j.Status == "completed" {
			done++
		}
	}
	return done
}

// runnersOf lists the RunnerSet's Runners (live, from the API server).
func runnersOf(ctx context.Context, w *world.World) ([]octorunv1alpha1.Runner, error) {
	list, err := w.Octo.OctorunV1alpha1().Runners(w.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: octorunv1alpha1.LabelRunnerSet + "=" + setName,
	})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// converged says whether the world is at rest with want Idle runners: as
// many Runners, Idle, each with its running pod, and as many GitHub
// runners, each a Runner's. It says what is still off.
func converged(ctx context.Context, w *world.World, want int) (bool, string, error) {
	runners, err := runnersOf(ctx, w)
	if err != nil {
		return false, "", err
	}
	ids := map[int64]bool{}
	idle := 0
	for _, r := range runners {
		if r.DeletionTimestamp == nil && r.Status.Phase == octorunv1alpha1.RunnerPhaseIdle {
			idle++
		}
		ids[r.Spec.ID] = true
	}
	if len(runners) != want || idle != want {
		return false, fmt.Sprintf("%d Runners, %d Idle, want %d", len(runners), idle, want), nil
	}
	pods, err := w.Kube.CoreV1().Pods(w.Namespace).List(ctx, metav1.ListOptions{LabelSelector: octorunv1alpha1.LabelRunner})
	if err != nil {
		return false, "", err
	}
	if len(pods.Items) != want {
		return false, fmt.Sprintf("%d runner pods, want %d", len(pods.Items), want), nil
	}
	gh := w.Sim.Runners()
	if len(gh) != want {
		return false, fmt.Sprintf("%d GitHub runners, want %d", len(gh), want), nil
	}
	for _, r := range gh {
		if !ids[r.ID] {
			return false, fmt.Sprintf("GitHub runner %d (%s) has no Runner", r.ID, r.Name), nil
		}
	}
	return true, "", nil
}

// waitConverged waits until the world is at rest with want Idle runners,
// within timeout.
func waitConverged(ctx context.Context, t *testing.T, w *world.World, want int, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	err := w.WaitFor(ctx, fmt.Sprintf("%d Idle runners and nothing else", want), timeout, func() (bool, error) {
		ok, why, err := converged(ctx, w, want)
		if err != nil {
			// The API server may be away in some scenarios: look again.
			last = err.Error()
			return false, nil
		}
		last = why
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%v; last: %s", err, last)
	}
	return time.Since(start)
}

// audit checks what every scenario promises once converged, and fills the
// result: nothing created twice, no job killed, nothing left behind.
// wantCreated is how many Runners the scenario needed created (-1: do not
// check).
func audit(ctx context.Context, t *testing.T, w *world.World, r *result, wantCreated int) {
	t.Helper()
	r.Runners = w.Tracker.Created()
	dup := 0
	if names := w.Tracker.ReusedNames(); len(names) > 0 {
		t.Errorf("Runner names created twice: %v", names)
		dup += len(names)
	}
	if twice := w.Pods.Twice(); len(twice) > 0 {
		t.Errorf("Runners that had two pods: %v", twice)
		dup += len(twice)
	}
	for id, n := range w.Tracker.RegisteredIDs() {
		if n > 1 {
			t.Errorf("GitHub runner %d was the runner of %d Runners", id, n)
			dup += n - 1
		}
	}
	if wantCreated >= 0 && r.Runners > wantCreated {
		t.Errorf("%d Runners created, %d needed: %d created beyond need", r.Runners, wantCreated, r.Runners-wantCreated)
		dup += r.Runners - wantCreated
	}
	r.Duplicates = dup

	jobs := w.Sim.Jobs()
	for _, j := range jobs {
		switch {
		case j.Status != "completed":
			t.Errorf("Job %d is still %s", j.ID, j.Status)
		case j.Conclusion != githubsim.ConclusionSuccess:
			r.JobsKilled++
		default:
			r.Jobs++
		}
	}
	if r.JobsKilled > 0 {
		t.Errorf("%d of %d jobs were killed", r.JobsKilled, len(jobs))
	}

	// Orphans: what is left without a Runner, once the garbage collector
	// and one GitHub sync had their chance.
	var last string
	_ = w.WaitFor(ctx, "no orphans", sz.syncPeriod+time.Minute, func() (bool, error) {
		n, why, err := orphans(ctx, w)
		if err != nil {
			return false, nil
		}
		r.Orphans, last = n, why
		return n == 0, nil
	})
	if r.Orphans > 0 {
		t.Errorf("%d orphans: %s", r.Orphans, last)
	}
	if failed := w.Tracker.Failed(); len(failed) > 0 {
		r.Figures["Runners failed, by conditions"] = failed
	}
}

// orphans counts GitHub runners, runner pods and Secrets that belong to no
// Runner.
func orphans(ctx context.Context, w *world.World) (int, string, error) {
	list, err := w.Octo.OctorunV1alpha1().Runners(w.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, "", err
	}
	ids, names := map[int64]bool{}, map[string]bool{}
	for _, r := range list.Items {
		ids[r.Spec.ID] = true
		names[r.Name] = true
	}
	var why []string
	for _, r := range w.Sim.Runners() {
		if !ids[r.ID] {
			why = append(why, fmt.Sprintf("GitHub runner %d (%s, %s)", r.ID, r.Name, r.Status))
		}
	}
	pods, err := w.Kube.CoreV1().Pods(w.Namespace).List(ctx, metav1.ListOptions{LabelSelector: octorunv1alpha1.LabelRunner})
	if err != nil {
		return 0, "", err
	}
	for _, p := range pods.Items {
		if owner := metav1.GetControllerOf(&p); owner == nil || !names[owner.Name] {
			why = append(why, "pod "+p.Name)
		}
	}
	secrets, err := w.Kube.CoreV1().Secrets(w.Namespace).List(ctx, metav1.ListOptions{LabelSelector: octorunv1alpha1.LabelRunner})
	if err != nil && !apierrors.IsNotFound(err) {
		return 0, "", err
	}
	for _, s := range secrets.Items {
		if owner := metav1.GetControllerOf(&s); owner == nil || !names[owner.Name] {
			why = append(why, "Secret "+s.Name)
		}
	}
	n := len(why)
	if n > 10 {
		why = append(why[:10], fmt.Sprintf("and %d more", n-10))
	}
	return n, strings.Join(why, ", "), nil
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
