package githubsync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2/ktesting"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned/fake"
	informers "github.com/octorun/octorun/pkg/generated/informers/externalversions"
	"github.com/octorun/octorun/pkg/github"
)

var (
	alwaysReady = func() bool { return true }
	testNow     = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
)

// fakeGitHub serves runners by scope and records the calls.
type fakeGitHub struct {
	mu        sync.Mutex
	runners   map[string][]github.Runner // by scope URL
	listErr   error
	deleteErr map[int64]error
	calls     []string
}

func newFakeGitHub() *fakeGitHub {
	return &fakeGitHub{runners: map[string][]github.Runner{}, deleteErr: map[int64]error{}}
}

func (g *fakeGitHub) ListRunners(_ context.Context, scope github.Scope) ([]github.Runner, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, "ListRunners "+scope.URL())
	if g.listErr != nil {
		return nil, g.listErr
	}
	return append([]github.Runner(nil), g.runners[strings.ToLower(scope.URL())]...), nil
}

func (g *fakeGitHub) DeleteRunner(_ context.Context, scope github.Scope, id int64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, fmt.Sprintf("DeleteRunner %s %d", scope.URL(), id))
	if err := g.deleteErr[id]; err != nil {
		return err
	}
	list := g.runners[strings.ToLower(scope.URL())]
	for i, r := range list {
		if r.ID == id {
			g.runners[strings.ToLower(scope.URL())] = append(list[:i:i], list[i+1:]...)
		}
	}
	return nil
}

func (g *fakeGitHub) takeCalls() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := g.calls
	g.calls = nil
	return out
}

// fixture is the sample-controller fixture: fake clientsets, the Runner
// indexer seeded directly.
type fixture struct {
	t        *testing.T
	github   *fakeGitHub
	client   *fake.Clientset
	recorder *record.FakeRecorder
	reg      *prometheus.Registry
	c        *Controller
	now      time.Time
}

func newFixture(t *testing.T, prefix string, runners ...*octorunv1alpha1.Runner) *fixture {
	t.Helper()
	var objects []runtime.Object
	for _, r := range runners {
		objects = append(objects, r)
	}
	f := &fixture{t: t, github: newFakeGitHub(), client: fake.NewSimpleClientset(objects...), reg: prometheus.NewRegistry(), now: testNow}
	factory := informers.NewSharedInformerFactory(f.client, 0)
	_, ctx := ktesting.NewTestContext(t)
	c, err := New(ctx, k8sfake.NewSimpleClientset(), f.client, f.github, factory.Octorun().V1alpha1().Runners(),
		Options{RunnerNamePrefix: prefix, GracePeriod: time.Minute, Registerer: f.reg})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.runnersSynced = alwaysReady
	f.recorder = record.NewFakeRecorder(100)
	c.recorder = f.recorder
	c.now = func() time.Time { return f.now }
	for _, r := range runners {
		if err := factory.Octorun().V1alpha1().Runners().Informer().GetIndexer().Add(r); err != nil {
			t.Fatal(err)
		}
	}
	f.c = c
	return f
}

// syncAll runs one period and returns the Kubernetes actions (without
// list and watch) and the GitHub calls it made.
func (f *fixture) syncAll() (kube, gh []string) {
	f.t.Helper()
	_, ctx := ktesting.NewTestContext(f.t)
	f.client.ClearActions()
	f.c.syncAll(ctx)
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "list" || a.GetVerb() == "watch" {
			continue
		}
		s := a.GetVerb() + " " + a.GetResource().Resource + " " + a.GetNamespace() + "/"
		switch a := a.(type) {
		case core.PatchAction:
			s += a.GetName()
		case core.DeleteAction:
			s += a.GetName()
		}
		kube = append(kube, s)
	}
	return kube, f.github.takeCalls()
}

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func newRunner(name, url string, id int64, phase octorunv1alpha1.RunnerPhase) *octorunv1alpha1.Runner {
	return &octorunv1alpha1.Runner{
		ObjectMeta: metav1.ObjectMeta{
			Name:              name,
			Namespace:         "default",
			UID:               types.UID(name + "-uid"),
			ResourceVersion:   "7",
			CreationTimestamp: metav1.NewTime(testNow.Add(-time.Hour)),
			Finalizers:        []string{octorunv1alpha1.RunnerFinalizer},
		},
		Spec:   octorunv1alpha1.RunnerSpec{URL: url, ID: id},
		Status: octorunv1alpha1.RunnerStatus{Phase: phase},
	}
}

func withHint(r *octorunv1alpha1.Runner) *octorunv1alpha1.Runner {
	r.Annotations = map[string]string{octorunv1alpha1.AnnotationJobAssignment: octorunv1alpha1.JobAssignment{JobID: 3, AssignedAt: metav1.NewTime(testNow)}.String()}
	return r
}

const (
	org  = "https://github.com/octo"
	repo = "https://github.com/octo/hello"
)

// TestScopes: one list per scope in use, whatever the case of its URL;
// nothing for Runners of invalid URLs or other hosts, nothing without
// Runners.
func TestScopes(t *testing.T) {
	f := newFixture(t, "test-")
	if _, gh := f.syncAll(); len(gh) != 0 {
		t.Errorf("Without Runners the sync called GitHub: %v", gh)
	}

	f = newFixture(t, "test-",
		newRunner("a", org, 1, octorunv1alpha1.RunnerPhaseIdle),
		newRunner("b", "https://github.com/Octo", 2, octorunv1alpha1.RunnerPhaseIdle),
		newRunner("c", repo, 3, octorunv1alpha1.RunnerPhasePending),
		newRunner("d", "https://ghe.example.com/octo", 4, octorunv1alpha1.RunnerPhaseIdle),
		newRunner("e", "http://github.com/octo", 5, octorunv1alpha1.RunnerPhaseIdle),
	)
	f.github.runners[org] = []github.Runner{{ID: 1, Name: "test-default.a"}, {ID: 2, Name: "test-default.b"}}
	f.github.runners[repo] = []github.Runner{{ID: 3, Name: "test-default.c"}}
	kube, gh := f.syncAll()
	sort.Strings(gh)
	if diff := cmp.Diff([]string{"ListRunners " + org, "ListRunners " + repo}, gh); diff != "" {
		t.Errorf("GitHub calls (-want +got):\n%s", diff)
	}
	if len(kube) != 0 {
		t.Errorf("Kubernetes actions %v, want none", kube)
	}
}

// refuse grants every scope but its URLs.
type refuse map[string]bool

func (g refuse) Check(_, url, _ string) error {
	if g[url] {
		return errors.New("not granted")
	}
	return nil
}

// TestScopesNotGranted: a Runner whose namespace may not use its scope
// makes the sync call GitHub for nothing.
func TestScopesNotGranted(t *testing.T) {
	f := newFixture(t, "test-",
		newRunner("a", org, 1, octorunv1alpha1.RunnerPhaseIdle),
		newRunner("b", repo, 0, octorunv1alpha1.RunnerPhasePending),
	)
	f.c.opts.Grants = refuse{repo: true}
	f.github.runners[org] = []github.Runner{{ID: 1, Name: "test-default.a"}}
	if _, gh := f.syncAll(); !slices.Equal(gh, []string{"ListRunners " + org}) {
		t.Errorf("GitHub calls %v, want the granted scope's list only", gh)
	}
}

func TestMarkBusy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		runner *octorunv1alpha1.Runner
		busy   bool
		want   []string
	}{
		{name: "busy Idle runner without a hint", runner: newRunner("r", org, 1, octorunv1alpha1.RunnerPhaseIdle), busy: true, want: []string{"patch runners default/r"}},
		{name: "busy Pending runner without a hint", runner: newRunner("r", org, 1, octorunv1alpha1.RunnerPhasePending), busy: true, want: []string{"patch runners default/r"}},
		{name: "busy runner with a hint", runner: withHint(newRunner("r", org, 1, octorunv1alpha1.RunnerPhaseActive)), busy: true},
		{name: "busy Complete runner", runner: newRunner("r", org, 1, octorunv1alpha1.RunnerPhaseComplete), busy: true},
		{name: "busy Failed runner", runner: newRunner("r", org, 1, octorunv1alpha1.RunnerPhaseFailed), busy: true},
		{name: "idle runner", runner: newRunner("r", org, 1, octorunv1alpha1.RunnerPhaseIdle)},
		{name: "a Runner forging the busy runner's id", runner: newRunner("forger", org, 1, octorunv1alpha1.RunnerPhaseIdle), busy: true},
		{name: "busy runner being deleted (its finalizer handles it)", runner: func() *octorunv1alpha1.Runner {
			r := newRunner("r", org, 1, octorunv1alpha1.RunnerPhaseIdle)
			r.DeletionTimestamp = &metav1.Time{Time: testNow}
			return r
		}(), busy: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "test-", tc.runner)
			f.github.runners[org] = []github.Runner{{ID: 1, Name: "test-default.r", Busy: tc.busy, Status: "online"}}
			kube, _ := f.syncAll()
			if diff := cmp.Diff(tc.want, kube); diff != "" {
				t.Fatalf("Actions (-want +got):\n%s", diff)
			}
			if len(tc.want) == 0 {
				return
			}
			patch := string(f.client.Actions()[0].(core.PatchAction).GetPatch())
			if !strings.Contains(patch, `"resourceVersion":"7"`) {
				t.Errorf("The patch %s is not conditional on the resourceVersion read", patch)
			}
			r, err := f.client.OctorunV1alpha1().Runners("default").Get(context.Background(), "r", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			job, err := octorunv1alpha1.JobAssignmentOf(r)
			if err != nil || job == nil || job.JobID != 0 || !job.AssignedAt.Time.Equal(testNow) {
				t.Errorf("Hint %+v (%v), want one without a job id, assigned now", job, err)
			}
			if ev := f.events(); len(ev) != 1 || !strings.Contains(ev[0], EventBusyOnGitHub) {
				t.Errorf("Events %v, want one %s", ev, EventBusyOnGitHub)
			}
			if got := testutil.ToFloat64(f.c.metrics.actions.WithLabelValues(actionMarkBusy)); got != 1 {
				t.Errorf("mark_busy = %v, want 1", got)
			}
		})
	}
}

func TestDeleteVanished(t *testing.T) {
	young := newRunner("r", org, 1, octorunv1alpha1.RunnerPhaseIdle)
	young.CreationTimestamp = metav1.NewTime(testNow.Add(-30 * time.Second))
	deleting := newRunner("r", org, 1, octorunv1alpha1.RunnerPhaseIdle)
	deleting.DeletionTimestamp = &metav1.Time{Time: testNow}
	for _, tc := range []struct {
		name   string
		runner *octorunv1alpha1.Runner
		want   bool
	}{
		{name: "Idle", runner: newRunner("r", org, 1, octorunv1alpha1.RunnerPhaseIdle), want: true},
		{name: "Idle but young", runner: young},
		{name: "Idle with a hint", runner: withHint(newRunner("r", org, 1, octorunv1alpha1.RunnerPhaseIdle))},
		{name: "Pending, its pod never ran", runner: newRunner("r", org, 1, octorunv1alpha1.RunnerPhasePending), want: true},
		{name: "Active", runner: withHint(newRunner("r", org, 1, octorunv1alpha1.RunnerPhaseActive))},
		{name: "Complete", runner: newRunner("r", org, 1, octorunv1alpha1.RunnerPhaseComplete)},
		{name: "Failed", runner: newRunner("r", org, 1, octorunv1alpha1.RunnerPhaseFailed)},
		{name: "not registered", runner: newRunner("r", org, 0, octorunv1alpha1.RunnerPhasePending)},
		{name: "being deleted", runner: deleting},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "test-", tc.runner)
			f.github.runners[org] = []github.Runner{{ID: 99, Name: "someone-else"}}
			// The first period only notes the registration is missing.
			if kube, _ := f.syncAll(); len(kube) != 0 {
				t.Fatalf("First period: actions %v, want none", kube)
			}
			f.now = f.now.Add(time.Minute)
			kube, _ := f.syncAll()
			var want []string
			if tc.want {
				want = []string{"delete runners default/r"}
			}
			if diff := cmp.Diff(want, kube); diff != "" {
				t.Fatalf("Second period: actions (-want +got):\n%s", diff)
			}
			if !tc.want {
				return
			}
			pre := f.client.Actions()[0].(core.DeleteAction).GetDeleteOptions().Preconditions
			if pre == nil || pre.UID == nil || *pre.UID != "r-uid" || pre.ResourceVersion == nil || *pre.ResourceVersion != "7" {
				t.Errorf("Delete preconditions %+v, want the UID and resourceVersion read", pre)
			}
			if ev := f.events(); len(ev) != 1 || !strings.Contains(ev[0], EventRegistrationVanished) {
				t.Errorf("Events %v, want one %s", ev, EventRegistrationVanished)
			}
		})
	}
}

// TestVanishedThenBack: a registration missing once and back is not a
// reason to delete.
func TestVanishedThenBack(t *testing.T) {
	f := newFixture(t, "test-", newRunner("r", org, 1, octorunv1alpha1.RunnerPhaseIdle))
	f.syncAll()
	f.github.runners[org] = []github.Runner{{ID: 1, Name: "test-default.r"}}
	f.syncAll()
	f.github.runners[org] = nil
	if kube, _ := f.syncAll(); len(kube) != 0 {
		t.Errorf("Actions %v, want none: the registration was missing once since", kube)
	}
}

func TestOrphans(t *testing.T) {
	known := newRunner("known", org, 1, octorunv1alpha1.RunnerPhaseIdle)
	registering := newRunner("registering", org, 0, octorunv1alpha1.RunnerPhasePending)
	otherScope := newRunner("elsewhere", repo, 7, octorunv1alpha1.RunnerPhaseIdle)
	ghRunners := []github.Runner{
		{ID: 1, Name: "test-default.known"},
		{ID: 2, Name: "test-default.registering"}, // spec.id not written yet
		{ID: 3, Name: "test-orphan", Status: "offline"},
		{ID: 4, Name: "test-busy-orphan", Busy: true},
		{ID: 5, Name: "laptop"},
		{ID: 6, Name: "test-gone-already"},
		{ID: 7, Name: "test-default.elsewhere"}, // a Runner of another scope has the id
	}
	f := newFixture(t, "test-", known, registering, otherScope)
	f.github.runners[org] = ghRunners
	f.github.deleteErr[6] = fmt.Errorf("deleting runner 6 of octo: %w", github.ErrNotFound)

	_, gh := f.syncAll()
	for _, call := range gh {
		if strings.HasPrefix(call, "DeleteRunner") {
			t.Fatalf("First period: %s, want no deletion before an orphan is seen twice", call)
		}
	}
	f.now = f.now.Add(5 * time.Minute)
	_, gh = f.syncAll()
	var deletes []string
	for _, call := range gh {
		if strings.HasPrefix(call, "DeleteRunner") {
			deletes = append(deletes, call)
		}
	}
	want := []string{"DeleteRunner " + org + " 3", "DeleteRunner " + org + " 6"}
	if diff := cmp.Diff(want, deletes); diff != "" {
		t.Errorf("Deletions (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(f.c.metrics.actions.WithLabelValues(actionDeleteOrphan)); got != 1 {
		t.Errorf("delete_orphan = %v, want 1", got)
	}
}

func TestNoOrphansWithoutPrefix(t *testing.T) {
	f := newFixture(t, "", newRunner("known", org, 1, octorunv1alpha1.RunnerPhaseIdle))
	f.github.runners[org] = []github.Runner{{ID: 1, Name: "default-known"}, {ID: 3, Name: "default-orphan"}}
	f.syncAll()
	if _, gh := f.syncAll(); len(gh) != 1 {
		t.Errorf("GitHub calls %v, want a list only", gh)
	}
}

// TestRetryAfter: when GitHub says wait, the scope waits, and the others
// do not.
func TestRetryAfter(t *testing.T) {
	f := newFixture(t, "test-", newRunner("a", org, 1, octorunv1alpha1.RunnerPhaseIdle))
	f.github.runners[org] = []github.Runner{{ID: 1, Name: "test-default.a"}}
	f.github.listErr = &github.RetryAfterError{After: 10 * time.Minute, Reason: "primary rate limit"}
	f.syncAll()
	f.github.listErr = nil
	for _, step := range []time.Duration{time.Minute, 5 * time.Minute} {
		f.now = f.now.Add(step)
		if _, gh := f.syncAll(); len(gh) != 0 {
			t.Fatalf("%s later: GitHub calls %v, want none", step, gh)
		}
	}
	f.now = f.now.Add(4 * time.Minute)
	if _, gh := f.syncAll(); len(gh) != 1 {
		t.Errorf("After the wait: GitHub calls %v, want a list", gh)
	}
	want := `
# HELP octorun_githubsync_scope_syncs_total Syncs of a scope's runners with GitHub, by result: synced, error, rate_limited (GitHub said wait), deferred (skipped while waiting).
# TYPE octorun_githubsync_scope_syncs_total counter
octorun_githubsync_scope_syncs_total{result="deferred"} 2
octorun_githubsync_scope_syncs_total{result="rate_limited"} 1
octorun_githubsync_scope_syncs_total{result="synced"} 1
`
	if err := testutil.GatherAndCompare(f.reg, strings.NewReader(want), "octorun_githubsync_scope_syncs_total"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(f.reg); err != nil || len(problems) != 0 {
		t.Errorf("Lint: %v %v", problems, err)
	}
}

// TestOrphanDeletionRateLimited: a RetryAfter while removing orphans stops
// the scope until then.
func TestOrphanDeletionRateLimited(t *testing.T) {
	f := newFixture(t, "test-", newRunner("a", org, 1, octorunv1alpha1.RunnerPhaseIdle))
	f.github.runners[org] = []github.Runner{{ID: 1, Name: "test-default.a"}, {ID: 3, Name: "test-x"}, {ID: 4, Name: "test-y"}}
	f.github.deleteErr[3] = &github.RetryAfterError{After: time.Hour, Reason: "secondary rate limit"}
	f.syncAll()
	f.syncAll()
	f.now = f.now.Add(30 * time.Minute)
	if _, gh := f.syncAll(); len(gh) != 0 {
		t.Errorf("GitHub calls %v, want none while waiting", gh)
	}
	delete(f.github.deleteErr, 3)
	f.now = f.now.Add(31 * time.Minute)
	_, gh := f.syncAll()
	want := []string{"ListRunners " + org, "DeleteRunner " + org + " 3", "DeleteRunner " + org + " 4"}
	if diff := cmp.Diff(want, gh); diff != "" {
		t.Errorf("GitHub calls (-want +got):\n%s", diff)
	}
}

func TestListErrors(t *testing.T) {
	f := newFixture(t, "test-", newRunner("a", org, 1, octorunv1alpha1.RunnerPhaseIdle))
	f.github.listErr = fmt.Errorf("GitHub ListRunners: 502: %w", github.ErrServer)
	if kube, gh := f.syncAll(); len(kube) != 0 || len(gh) != 1 {
		t.Errorf("Actions %v, GitHub calls %v; want none and one list", kube, gh)
	}
	if got := testutil.ToFloat64(f.c.metrics.syncs.WithLabelValues(resultError)); got != 1 {
		t.Errorf("error = %v, want 1", got)
	}
	// The next period tries again.
	f.now = f.now.Add(5 * time.Minute)
	if _, gh := f.syncAll(); len(gh) != 1 {
		t.Errorf("Next period: GitHub calls %v, want one list", gh)
	}
}

// TestRun: Run syncs at once and every period, and stops with ctx.
func TestRun(t *testing.T) {
	f := newFixture(t, "test-", newRunner("a", org, 1, octorunv1alpha1.RunnerPhaseIdle))
	f.c.opts.Period = 20 * time.Millisecond
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- f.c.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.github.mu.Lock()
		n := len(f.github.calls)
		f.github.mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lists in 5s, want 3", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// An enterprise and an organization of the same name are two scopes, each
// listed on its own.
func TestEnterpriseAndOrganizationOfOneName(t *testing.T) {
	f := newFixture(t, "test-",
		newRunner("org", "https://github.com/acme", 1, octorunv1alpha1.RunnerPhaseIdle),
		newRunner("ent", "https://github.com/enterprises/acme", 2, octorunv1alpha1.RunnerPhaseIdle))
	groups := f.c.groupByScope([]*octorunv1alpha1.Runner{
		newRunner("org", "https://github.com/acme", 1, octorunv1alpha1.RunnerPhaseIdle),
		newRunner("ent", "https://github.com/enterprises/acme", 2, octorunv1alpha1.RunnerPhaseIdle),
	})
	if len(groups) != 2 {
		t.Fatalf("%d scope groups, want 2: %+v", len(groups), groups)
	}
	if keyOf(groups[0].scope) == keyOf(groups[1].scope) {
		t.Errorf("The organization and the enterprise share the scope key %v", keyOf(groups[0].scope))
	}
}
