package runner

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	core "k8s.io/client-go/testing"
	"k8s.io/klog/v2/ktesting"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned/fake"
	informers "github.com/octorun/octorun/pkg/generated/informers/externalversions"
)

var (
	t0 = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Minute)
)

// newJobHintsFixture returns JobHints over a fake clientset holding runners,
// with the runners in the informer's indexer.
func newJobHintsFixture(t *testing.T, runners ...*octorunv1alpha1.Runner) (*JobHints, *fake.Clientset) {
	t.Helper()
	var objects []runtime.Object
	for _, r := range runners {
		objects = append(objects, r)
	}
	client := fake.NewSimpleClientset(objects...)
	factory := informers.NewSharedInformerFactory(client, noResyncPeriodFunc())
	h, err := NewJobHints(client, factory.Octorun().V1alpha1().Runners(), JobHintsOptions{RunnerNamePrefix: "test-"})
	if err != nil {
		t.Fatalf("NewJobHints: %v", err)
	}
	h.synced = alwaysReady
	h.now = func() time.Time { return t1.Add(time.Hour) }
	for _, r := range runners {
		if err := factory.Octorun().V1alpha1().Runners().Informer().GetIndexer().Add(r); err != nil {
			t.Fatal(err)
		}
	}
	client.ClearActions()
	return h, client
}

func withHint(r *octorunv1alpha1.Runner, a octorunv1alpha1.JobAssignment) *octorunv1alpha1.Runner {
	if r.Annotations == nil {
		r.Annotations = map[string]string{}
	}
	r.Annotations[octorunv1alpha1.AnnotationJobAssignment] = a.String()
	return r
}

func completedAt(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}

// hintOf reads the Runner's hint back from the fake clientset.
func hintOf(t *testing.T, client *fake.Clientset, name string) *octorunv1alpha1.JobAssignment {
	t.Helper()
	r, err := client.OctorunV1alpha1().Runners("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := octorunv1alpha1.JobAssignmentOf(r)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestJobHints(t *testing.T) {
	type call struct {
		completed              bool
		org, repo              string
		runnerID               int64
		runnerName             string
		jobID, runID           int64
		startedAt, completedAt time.Time
	}
	started := func(runnerID int64, runnerName string, jobID int64) call {
		return call{org: "octo", repo: "hello", runnerID: runnerID, runnerName: runnerName, jobID: jobID, runID: 50, startedAt: t0}
	}
	completed := func(runnerID int64, runnerName string, jobID int64) call {
		c := started(runnerID, runnerName, jobID)
		c.completed, c.completedAt = true, t1
		return c
	}
	assignment := octorunv1alpha1.JobAssignment{JobID: 10, RunID: 50, AssignedAt: metav1.NewTime(t0)}
	done := assignment
	done.CompletedAt = completedAt(t1)

	for _, tc := range []struct {
		name      string
		runners   []*octorunv1alpha1.Runner
		calls     []call
		wantKnown bool
		wantPatch int
		wantHint  *octorunv1alpha1.JobAssignment // of Runner "r1"
	}{
		{
			name:      "in_progress writes the hint",
			runners:   []*octorunv1alpha1.Runner{registered(newRunner("r1"), 7, octorunv1alpha1.RunnerPhaseIdle)},
			calls:     []call{started(7, "test-default.r1", 10)},
			wantKnown: true, wantPatch: 1, wantHint: &assignment,
		},
		{
			// "a0" sorts before "r1": matched by id alone, it would take
			// r1's job and hide it from r1.
			name: "a Runner forging another's id takes none of its jobs",
			runners: []*octorunv1alpha1.Runner{
				registered(newRunner("a0"), 7, octorunv1alpha1.RunnerPhaseIdle),
				registered(newRunner("r1"), 7, octorunv1alpha1.RunnerPhaseIdle),
			},
			calls:     []call{started(7, "test-default.r1", 10)},
			wantKnown: true, wantPatch: 1, wantHint: &assignment,
		},
		{
			name:      "in_progress twice is one write",
			runners:   []*octorunv1alpha1.Runner{registered(withHint(newRunner("r1"), assignment), 7, octorunv1alpha1.RunnerPhaseActive)},
			calls:     []call{started(7, "test-default.r1", 10)},
			wantKnown: true, wantPatch: 0, wantHint: &assignment,
		},
		{
			name:      "completed records the completion",
			runners:   []*octorunv1alpha1.Runner{registered(withHint(newRunner("r1"), assignment), 7, octorunv1alpha1.RunnerPhaseActive)},
			calls:     []call{completed(7, "test-default.r1", 10)},
			wantKnown: true, wantPatch: 1, wantHint: &done,
		},
		{
			name: "an enterprise runner takes an organization's job",
			runners: []*octorunv1alpha1.Runner{func() *octorunv1alpha1.Runner {
				r := registered(newRunner("r1"), 7, octorunv1alpha1.RunnerPhaseIdle)
				r.Spec.URL = "https://github.com/enterprises/acme"
				return r
			}()},
			calls:     []call{started(7, "test-default.r1", 10)},
			wantKnown: true, wantPatch: 1, wantHint: &assignment,
		},
		{
			name:      "completed twice is no write",
			runners:   []*octorunv1alpha1.Runner{registered(withHint(newRunner("r1"), done), 7, octorunv1alpha1.RunnerPhaseActive)},
			calls:     []call{completed(7, "test-default.r1", 10)},
			wantKnown: true, wantPatch: 0, wantHint: &done,
		},
		{
			name:      "completed without in_progress writes the whole hint",
			runners:   []*octorunv1alpha1.Runner{registered(newRunner("r1"), 7, octorunv1alpha1.RunnerPhaseIdle)},
			calls:     []call{completed(7, "test-default.r1", 10)},
			wantKnown: true, wantPatch: 1, wantHint: &done,
		},
		{
			name:      "in_progress after completed keeps the completion",
			runners:   []*octorunv1alpha1.Runner{registered(withHint(newRunner("r1"), done), 7, octorunv1alpha1.RunnerPhaseActive)},
			calls:     []call{started(7, "test-default.r1", 10)},
			wantKnown: true, wantPatch: 0, wantHint: &done,
		},
		{
			name: "in_progress names the job of a busy mark",
			runners: []*octorunv1alpha1.Runner{registered(withHint(newRunner("r1"), octorunv1alpha1.JobAssignment{AssignedAt: metav1.NewTime(t1)}),
				7, octorunv1alpha1.RunnerPhaseActive)},
			calls:     []call{started(7, "test-default.r1", 10)},
			wantKnown: true, wantPatch: 1, wantHint: &assignment,
		},
		{
			name: "completed names the job of a busy mark",
			runners: []*octorunv1alpha1.Runner{registered(withHint(newRunner("r1"), octorunv1alpha1.JobAssignment{AssignedAt: metav1.NewTime(t0)}),
				7, octorunv1alpha1.RunnerPhaseActive)},
			calls:     []call{completed(7, "test-default.r1", 10)},
			wantKnown: true, wantPatch: 1, wantHint: &done,
		},
		{
			name:      "completed of another job leaves the hint",
			runners:   []*octorunv1alpha1.Runner{registered(withHint(newRunner("r1"), assignment), 7, octorunv1alpha1.RunnerPhaseActive)},
			calls:     []call{completed(7, "test-default.r1", 11)},
			wantKnown: true, wantPatch: 0, wantHint: &assignment,
		},
		{
			name: "a malformed hint is replaced",
			runners: []*octorunv1alpha1.Runner{func() *octorunv1alpha1.Runner {
				r := registered(newRunner("r1"), 7, octorunv1alpha1.RunnerPhaseIdle)
				r.Annotations = map[string]string{octorunv1alpha1.AnnotationJobAssignment: "{not json"}
				return r
			}()},
			calls:     []call{started(7, "test-default.r1", 10)},
			wantKnown: true, wantPatch: 1, wantHint: &assignment,
		},
		{
			name:      "found by name before spec.id is cached",
			runners:   []*octorunv1alpha1.Runner{newRunner("r1")},
			calls:     []call{started(7, "test-default.r1", 10)},
			wantKnown: true, wantPatch: 1, wantHint: &assignment,
		},
		{
			name:      "not found by name when spec.id is another runner's",
			runners:   []*octorunv1alpha1.Runner{registered(newRunner("r1"), 8, octorunv1alpha1.RunnerPhaseIdle)},
			calls:     []call{started(7, "test-default.r1", 10)},
			wantKnown: false,
		},
		{
			name:      "unknown runner",
			runners:   []*octorunv1alpha1.Runner{registered(newRunner("r1"), 7, octorunv1alpha1.RunnerPhaseIdle)},
			calls:     []call{started(99, "laptop", 10), completed(99, "laptop", 10)},
			wantKnown: false,
		},
		{
			name:      "the runner id of another organization",
			runners:   []*octorunv1alpha1.Runner{registered(newRunner("r1"), 7, octorunv1alpha1.RunnerPhaseIdle)},
			calls:     []call{{org: "other", repo: "hello", runnerID: 7, runnerName: "test-default.r1", jobID: 10, startedAt: t0}},
			wantKnown: false,
		},
		{
			name: "a repository runner takes its repository's jobs",
			runners: []*octorunv1alpha1.Runner{func() *octorunv1alpha1.Runner {
				r := registered(newRunner("r1"), 7, octorunv1alpha1.RunnerPhaseIdle)
				r.Spec.URL = "https://github.com/Octo/Hello"
				return r
			}()},
			calls:     []call{started(7, "", 10)},
			wantKnown: true, wantPatch: 1, wantHint: &assignment,
		},
		{
			name: "a repository runner is not another repository's",
			runners: []*octorunv1alpha1.Runner{func() *octorunv1alpha1.Runner {
				r := registered(newRunner("r1"), 7, octorunv1alpha1.RunnerPhaseIdle)
				r.Spec.URL = "https://github.com/octo/world"
				return r
			}()},
			calls:     []call{started(7, "test-default.r1", 10)},
			wantKnown: false,
		},
		{
			name:      "a start time GitHub did not send is now",
			runners:   []*octorunv1alpha1.Runner{registered(newRunner("r1"), 7, octorunv1alpha1.RunnerPhaseIdle)},
			calls:     []call{{org: "octo", repo: "hello", runnerID: 7, jobID: 10, runID: 50}},
			wantKnown: true, wantPatch: 1,
			wantHint: &octorunv1alpha1.JobAssignment{JobID: 10, RunID: 50, AssignedAt: metav1.NewTime(t1.Add(time.Hour))},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			h, client := newJobHintsFixture(t, tc.runners...)
			for _, c := range tc.calls {
				var known bool
				var err error
				if c.completed {
					known, err = h.JobCompleted(ctx, c.org, c.repo, c.runnerID, c.runnerName, c.jobID, c.runID, c.startedAt, c.completedAt)
				} else {
					known, err = h.JobStarted(ctx, c.org, c.repo, c.runnerID, c.runnerName, c.jobID, c.runID, c.startedAt)
				}
				if err != nil || known != tc.wantKnown {
					t.Fatalf("%+v: known %v, error %v; want known %v", c, known, err, tc.wantKnown)
				}
			}
			var want []string
			for range tc.wantPatch {
				want = append(want, "patch runners")
			}
			if diff := cmp.Diff(want, actions(client)); diff != "" {
				t.Errorf("Actions (-want +got):\n%s", diff)
			}
			if tc.wantHint == nil {
				return
			}
			got := hintOf(t, client, "r1")
			if diff := cmp.Diff(tc.wantHint, got, cmp.Comparer(func(a, b metav1.Time) bool { return a.Equal(&b) })); diff != "" {
				t.Errorf("Hint (-want +got):\n%s", diff)
			}
		})
	}
}

// TestJobHintsPatchIsConditional: the patch carries the resourceVersion it
// was computed from; on a conflict the Runner is read again and the hint
// computed anew.
func TestJobHintsPatchIsConditional(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	r := registered(newRunner("r1"), 7, octorunv1alpha1.RunnerPhaseIdle)
	r.ResourceVersion = "5"
	h, client := newJobHintsFixture(t, r)

	// Meanwhile GitHub's completion was written (the cache is behind).
	live := r.DeepCopy()
	live.ResourceVersion = "6"
	withHint(live, octorunv1alpha1.JobAssignment{JobID: 10, RunID: 50, AssignedAt: metav1.NewTime(t0), CompletedAt: completedAt(t1)})
	var patches []string
	client.PrependReactor("patch", "runners", func(a core.Action) (bool, runtime.Object, error) {
		patch := string(a.(core.PatchAction).GetPatch())
		patches = append(patches, patch)
		if strings.Contains(patch, `"resourceVersion":"5"`) {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Group: octorunv1alpha1.GroupName, Resource: "runners"}, "r1", nil)
		}
		return false, nil, nil
	})
	client.PrependReactor("get", "runners", func(core.Action) (bool, runtime.Object, error) {
		return true, live.DeepCopy(), nil
	})

	known, err := h.JobStarted(ctx, "octo", "hello", 7, "", 10, 50, t0)
	if !known || err != nil {
		t.Fatalf("JobStarted = %v, %v", known, err)
	}
	if diff := cmp.Diff([]string{"patch runners", "get runners"}, actions(client)); diff != "" {
		t.Errorf("Actions (-want +got):\n%s", diff)
	}
	var patch struct {
		Metadata struct {
			ResourceVersion string            `json:"resourceVersion"`
			Annotations     map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if len(patches) != 1 || json.Unmarshal([]byte(patches[0]), &patch) != nil || patch.Metadata.ResourceVersion != "5" {
		t.Errorf("Patches %v, want one conditional on resourceVersion 5", patches)
	}
}

func TestJobHintsWaitForTheCache(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	h, _ := newJobHintsFixture(t, registered(newRunner("r1"), 7, octorunv1alpha1.RunnerPhaseIdle))
	h.synced = func() bool { return false }
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := h.JobStarted(short, "octo", "hello", 7, "", 10, 50, t0); err == nil {
		t.Error("JobStarted before the cache synced succeeded, want an error (to retry)")
	}
	// Once synced, the waiting call goes on.
	var synced atomic.Bool
	h.synced = synced.Load
	time.AfterFunc(100*time.Millisecond, func() { synced.Store(true) })
	if known, err := h.JobStarted(ctx, "octo", "hello", 7, "", 10, 50, t0); !known || err != nil {
		t.Errorf("JobStarted while the cache syncs = %v, %v; want true, nil", known, err)
	}
}

func TestJobHintsGoneRunner(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	h, client := newJobHintsFixture(t, registered(newRunner("r1"), 7, octorunv1alpha1.RunnerPhaseIdle))
	if err := client.Tracker().Delete(octorunv1alpha1.SchemeGroupVersion.WithResource("runners"), "default", "r1"); err != nil {
		t.Fatal(err)
	}
	if known, err := h.JobStarted(ctx, "octo", "hello", 7, "", 10, 50, t0); !known || err != nil {
		t.Errorf("JobStarted on a Runner deleted since = %v, %v; want true, nil", known, err)
	}
}

func TestNewJobHintsTwiceOnOneInformer(t *testing.T) {
	client := fake.NewSimpleClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	for range 2 {
		if _, err := NewJobHints(client, factory.Octorun().V1alpha1().Runners(), JobHintsOptions{}); err != nil {
			t.Fatalf("NewJobHints: %v", err)
		}
	}
}
