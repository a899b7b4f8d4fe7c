package runnerset

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2/ktesting"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned/fake"
	informers "github.com/octorun/octorun/pkg/generated/informers/externalversions"
)

var alwaysReady = func() bool { return true }

type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	recorder *record.FakeRecorder
	sets     []*octorunv1alpha1.RunnerSet
	runners  []*octorunv1alpha1.Runner
	c        *Controller
	ctx      context.Context
	created  atomic.Int32
	opts     Options
	// setIndexer is the RunnerSet informer's cache.
	setIndexer cache.Indexer
}

func newFixture(t *testing.T) *fixture { return &fixture{t: t} }

func (f *fixture) build() {
	var objects []runtime.Object
	for _, s := range f.sets {
		objects = append(objects, s)
	}
	for _, r := range f.runners {
		objects = append(objects, r)
	}
	f.client = fake.NewSimpleClientset(objects...)
	// The fake clientset does not generate names.
	f.client.PrependReactor("create", "runners", func(a core.Action) (bool, runtime.Object, error) {
		r := a.(core.CreateAction).GetObject().(*octorunv1alpha1.Runner)
		if r.Name == "" {
			r.Name = fmt.Sprintf("%s%d", r.GenerateName, f.created.Add(1))
		}
		return false, nil, nil
	})
	_, f.ctx = ktesting.NewTestContext(f.t)
	i := informers.NewSharedInformerFactory(f.client, 0)
	c, err := New(f.ctx, k8sfake.NewSimpleClientset(), f.client,
		i.Octorun().V1alpha1().RunnerSets(), i.Octorun().V1alpha1().Runners(), f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	f.recorder = record.NewFakeRecorder(100)
	c.recorder = f.recorder
	f.setIndexer = i.Octorun().V1alpha1().RunnerSets().Informer().GetIndexer()
	for _, s := range f.sets {
		_ = f.setIndexer.Add(s)
	}
	for _, r := range f.runners {
		_ = i.Octorun().V1alpha1().Runners().Informer().GetIndexer().Add(r)
	}
	f.c = c
}

func (f *fixture) sync(set *octorunv1alpha1.RunnerSet) (time.Duration, error) {
	if f.c == nil {
		f.build()
	}
	f.client.ClearActions()
	return f.c.sync(f.ctx, cache.MetaObjectToName(set))
}

// actions returns "verb resource[/sub] name" of the clientset's actions,
// without reads.
func (f *fixture) actions() []string {
	var out []string
	for _, a := range f.client.Actions() {
		switch a.GetVerb() {
		case "list", "watch", "get":
			continue
		}
		s := a.GetVerb() + " " + a.GetResource().Resource
		if sub := a.GetSubresource(); sub != "" {
			s += "/" + sub
		}
		switch a := a.(type) {
		case core.DeleteAction:
			s += " " + a.GetName()
		case core.PatchAction:
			s += " " + a.GetName()
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func (f *fixture) set(name string) *octorunv1alpha1.RunnerSet {
	s, err := f.client.OctorunV1alpha1().RunnerSets("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func newSet(name string, runners int32) *octorunv1alpha1.RunnerSet {
	lbls := map[string]string{octorunv1alpha1.LabelRunnerSet: name}
	return &octorunv1alpha1.RunnerSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: octorunv1alpha1.SchemeGroupVersion.String(), Kind: "RunnerSet"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name + "-uid"), Generation: 2},
		Spec: octorunv1alpha1.RunnerSetSpec{
			Runners:  ptr.To(runners),
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: octorunv1alpha1.RunnerTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octo"},
			},
		},
	}
}

var clock = time.Unix(1_800_000_000, 0)

// runnerOf returns a Runner of the set, created age ago, in a phase.
func runnerOf(set *octorunv1alpha1.RunnerSet, name string, phase octorunv1alpha1.RunnerPhase, id int64, age time.Duration) *octorunv1alpha1.Runner {
	r := newRunner(set, templateHash(&set.Spec.Template))
	r.Name, r.UID = name, types.UID(name+"-uid")
	r.CreationTimestamp = metav1.NewTime(clock.Add(-age))
	r.Spec.ID = id
	r.Status.Phase = phase
	return r
}

// TestRunnersPerSetAreCapped: a set asking for more Runners than the
// operator's cap gets the cap, and says so in its Ready condition and an
// Event.
func TestRunnersPerSetAreCapped(t *testing.T) {
	f := newFixture(t)
	f.opts.MaxRunners = 3
	set := newSet("set", 10)
	f.sets = append(f.sets, set)
	if _, err := f.sync(set); err != nil {
		t.Fatalf("sync: %v", err)
	}
	list, _ := f.client.OctorunV1alpha1().Runners("default").List(context.Background(), metav1.ListOptions{})
	if len(list.Items) != 3 {
		t.Errorf("%d Runners created, want the cap of 3", len(list.Items))
	}
	got, _ := f.client.OctorunV1alpha1().RunnerSets("default").Get(context.Background(), "set", metav1.GetOptions{})
	if c := meta.FindStatusCondition(got.Status.Conditions, octorunv1alpha1.RunnerSetConditionReady); c == nil || !strings.Contains(c.Message, "cap of 3") {
		t.Errorf("Ready condition = %+v, want it to tell of the cap", c)
	}
	select {
	case e := <-f.recorder.Events:
		if !strings.Contains(e, EventRunnersCapped) {
			t.Errorf("Event %q, want %s", e, EventRunnersCapped)
		}
	default:
		t.Error("No Event tells of the cap")
	}
}

func TestCreatesRunnersInSlowStartBatches(t *testing.T) {
	f := newFixture(t)
	set := newSet("set", 7)
	f.sets = append(f.sets, set)
	if _, err := f.sync(set); err != nil {
		t.Fatalf("sync: %v", err)
	}
	list, _ := f.client.OctorunV1alpha1().Runners("default").List(context.Background(), metav1.ListOptions{})
	if len(list.Items) != 7 {
		t.Fatalf("%d Runners created, want 7", len(list.Items))
	}
	r := list.Items[0]
	if !metav1.IsControlledBy(&r, set) || r.Labels[octorunv1alpha1.LabelTemplateHash] != templateHash(&set.Spec.Template) ||
		r.Labels[octorunv1alpha1.LabelRunnerSet] != "set" || !strings.HasPrefix(r.Name, "set-") {
		t.Errorf("Runner %s = %+v, want it owned by the set with the template's labels and hash", r.Name, r.ObjectMeta)
	}

	// The cache has not seen them: the expectations keep the next sync from
	// creating 7 more.
	if _, err := f.sync(set); err != nil {
		t.Fatal(err)
	}
	for _, a := range f.actions() {
		if strings.HasPrefix(a, "create") {
			t.Fatalf("A sync with a stale cache created Runners: %v", f.actions())
		}
	}
	// Once the informer saw them, expectations are met.
	for range 7 {
		f.c.expectations.creationObserved("default/set")
	}
	if !f.c.expectations.satisfied("default/set") {
		t.Error("Expectations not satisfied after every creation was observed")
	}
}

func TestSlowStartStopsAfterAFailingBatch(t *testing.T) {
	f := newFixture(t)
	set := newSet("set", 100)
	f.sets = append(f.sets, set)
	f.build()
	var attempts atomic.Int32
	f.client.PrependReactor("create", "runners", func(core.Action) (bool, runtime.Object, error) {
		if attempts.Add(1) > 3 {
			return true, nil, errors.New("exceeded quota")
		}
		return false, nil, nil
	})
	if _, err := f.sync(set); err == nil {
		t.Fatal("sync succeeded although creates failed")
	}
	// Batches 1, 2 succeed; the batch of 4 fails and nothing follows.
	if got := attempts.Load(); got != 7 {
		t.Errorf("%d create attempts, want 7 (batches of 1, 2, 4)", got)
	}
	got := f.set("set")
	cond := meta.FindStatusCondition(got.Status.Conditions, octorunv1alpha1.RunnerSetConditionRunnerFailure)
	if cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != octorunv1alpha1.ReasonFailedCreate {
		t.Errorf("RunnerFailure condition = %+v, want True/FailedCreate", cond)
	}
	if n := len(f.recorder.Events); n != 1 {
		t.Errorf("%d events for one failed sync, want 1", n)
	}
	// The creations that were never made do not block the next sync.
	if !f.c.expectations.satisfied("default/set") {
		// 3 created, not yet observed.
		for range 3 {
			f.c.expectations.creationObserved("default/set")
		}
		if !f.c.expectations.satisfied("default/set") {
			t.Error("Expectations wait for creations that were never made")
		}
	}
}

func TestScaleDownNeverKillsAJob(t *testing.T) {
	set := newSet("set", 1)
	tests := []struct {
		name        string
		desired     int32
		runners     []*octorunv1alpha1.Runner
		wantDeleted []string
		wantBlocked bool
	}{
		{
			name:    "unregistered, then not running, then idle newest first",
			desired: 2,
			runners: []*octorunv1alpha1.Runner{
				runnerOf(set, "active", octorunv1alpha1.RunnerPhaseActive, 1, 5*time.Hour),
				runnerOf(set, "idle-old", octorunv1alpha1.RunnerPhaseIdle, 2, 4*time.Hour),
				runnerOf(set, "idle-new", octorunv1alpha1.RunnerPhaseIdle, 3, time.Hour),
				runnerOf(set, "pending", octorunv1alpha1.RunnerPhasePending, 4, time.Minute),
				runnerOf(set, "unregistered", octorunv1alpha1.RunnerPhasePending, 0, 2*time.Hour),
			},
			wantDeleted: []string{"delete runners idle-new", "delete runners pending", "delete runners unregistered"},
		},
		{
			name:    "active runners wait",
			desired: 0,
			runners: []*octorunv1alpha1.Runner{
				runnerOf(set, "active-1", octorunv1alpha1.RunnerPhaseActive, 1, time.Hour),
				runnerOf(set, "active-2", octorunv1alpha1.RunnerPhaseActive, 2, time.Hour),
				runnerOf(set, "idle", octorunv1alpha1.RunnerPhaseIdle, 3, time.Hour),
			},
			wantDeleted: []string{"delete runners idle"},
			wantBlocked: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			s := newSet("set", tt.desired)
			f.sets = append(f.sets, s)
			f.runners = tt.runners
			if _, err := f.sync(s); err != nil {
				t.Fatalf("sync: %v", err)
			}
			var deleted []string
			for _, a := range f.actions() {
				if strings.HasPrefix(a, "delete") {
					deleted = append(deleted, a)
				}
				if strings.HasPrefix(a, "create") {
					t.Errorf("Scale-down created a Runner: %s", a)
				}
			}
			if diff := cmp.Diff(tt.wantDeleted, deleted); diff != "" {
				t.Errorf("deleted (-want +got):\n%s", diff)
			}
			cond := meta.FindStatusCondition(f.set("set").Status.Conditions, octorunv1alpha1.RunnerSetConditionScaleDownBlocked)
			if blocked := cond != nil && cond.Status == metav1.ConditionTrue; blocked != tt.wantBlocked {
				t.Errorf("ScaleDownBlocked = %+v, want blocked %v", cond, tt.wantBlocked)
			}
		})
	}
}

// A set scaled far beyond what GitHub registers grows only as Runners get
// registered (a reliability suite finding: a set of 100,000 created Runners
// as fast as the API server took them, and Octorun's memory grew with them).
func TestUnregisteredRunnersAreCapped(t *testing.T) {
	for _, tt := range []struct {
		name         string
		unregistered int
		wantCreates  int
	}{
		{"at the cap", 3, 0},
		{"below the cap", 2, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			set := newSet("set", 100000)
			f.sets = append(f.sets, set)
			for i := range tt.unregistered {
				f.runners = append(f.runners, runnerOf(set, fmt.Sprintf("new-%d", i), octorunv1alpha1.RunnerPhasePending, 0, time.Minute))
			}
			f.runners = append(f.runners, runnerOf(set, "idle", octorunv1alpha1.RunnerPhaseIdle, 1, time.Hour))
			f.build()
			f.c.opts.MaxUnregistered = 3
			if _, err := f.sync(set); err != nil {
				t.Fatal(err)
			}
			creates := 0
			for _, a := range f.actions() {
				if a == "create runners" {
					creates++
				}
			}
			if creates != tt.wantCreates {
				t.Errorf("created %d Runners, want %d: %v", creates, tt.wantCreates, f.actions())
			}
		})
	}
}

func TestFinishedRunnersAreReplaced(t *testing.T) {
	f := newFixture(t)
	set := newSet("set", 2)
	f.sets = append(f.sets, set)
	f.runners = []*octorunv1alpha1.Runner{
		runnerOf(set, "done", octorunv1alpha1.RunnerPhaseComplete, 1, time.Hour),
		runnerOf(set, "idle", octorunv1alpha1.RunnerPhaseIdle, 2, time.Hour),
	}
	if _, err := f.sync(set); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if diff := cmp.Diff([]string{"create runners", "delete runners done", "update runnersets/status"}, f.actions()); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
}

// TestReportedJobsAreReplacedAtOnce: a Runner whose job GitHub reported
// completed is replaced at once, before its runner exits; it is deleted
// once it has ended.
func TestReportedJobsAreReplacedAtOnce(t *testing.T) {
	f := newFixture(t)
	set := newSet("set", 2)
	f.sets = append(f.sets, set)
	exiting := runnerOf(set, "exiting", octorunv1alpha1.RunnerPhaseActive, 1, time.Hour)
	exiting.Annotations = map[string]string{octorunv1alpha1.AnnotationJobAssignment: `{"jobID":1,"runID":1,"assignedAt":"2027-01-15T08:00:00Z","completedAt":"2027-01-15T08:00:05Z"}`}
	f.runners = []*octorunv1alpha1.Runner{exiting, runnerOf(set, "idle", octorunv1alpha1.RunnerPhaseIdle, 2, time.Hour)}
	if _, err := f.sync(set); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if diff := cmp.Diff([]string{"create runners", "update runnersets/status"}, f.actions()); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
}

func TestFailingRunnersBackOff(t *testing.T) {
	f := newFixture(t)
	set := newSet("set", 1)
	f.sets = append(f.sets, set)
	f.runners = []*octorunv1alpha1.Runner{runnerOf(set, "failed-1", octorunv1alpha1.RunnerPhaseFailed, 1, time.Hour)}
	f.build()
	fakeClock := testingclock.NewFakeClock(clock)
	f.c.failures.backoff.Clock = fakeClock

	requeue, err := f.sync(set)
	if err != nil {
		t.Fatal(err)
	}
	if requeue != 5*time.Second {
		t.Errorf("requeue after %s, want the first backoff of 5s", requeue)
	}
	if diff := cmp.Diff([]string{"delete runners failed-1", "update runnersets/status"}, f.actions()); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	cond := meta.FindStatusCondition(f.set("set").Status.Conditions, octorunv1alpha1.RunnerSetConditionRunnerFailure)
	if cond == nil || cond.Reason != octorunv1alpha1.ReasonRunnersFailing ||
		cond.Message != "1 runners failed in a row; the next one is created in 5s" {
		t.Errorf("RunnerFailure = %+v, want RunnersFailing, with the count and the wait", cond)
	}

	// A second failure in a row doubles the wait.
	f.c.failures.observe("default/set", []*octorunv1alpha1.Runner{runnerOf(set, "failed-2", octorunv1alpha1.RunnerPhaseFailed, 2, 0)})
	if _, got := f.c.failures.wait("default/set"); got != 10*time.Second {
		t.Errorf("backoff after two failures = %s, want 10s", got)
	}
	// After the wait, the replacement is created.
	fakeClock.Step(11 * time.Second)
	f.c.expectations.forget("default/set")
	if err := f.c.runnerIndexer.Delete(f.runners[0]); err != nil { // the failed Runner is gone
		t.Fatal(err)
	}
	if _, err := f.sync(set); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"create runners", "update runnersets/status"}, f.actions()); diff != "" {
		t.Errorf("actions after the backoff (-want +got):\n%s", diff)
	}
	// A Complete runner ends the streak.
	f.c.failures.observe("default/set", []*octorunv1alpha1.Runner{runnerOf(set, "ok", octorunv1alpha1.RunnerPhaseComplete, 3, 0)})
	if _, got := f.c.failures.wait("default/set"); got != 0 {
		t.Errorf("backoff after a success = %s, want 0", got)
	}
}

// Runners whose pods were taken away (a node drain, a deletion) are
// replaced at once: the template is not at fault (a reliability suite
// finding: a drain used to hold a set below its size for minutes).
func TestDisruptedRunnersDoNotBackOff(t *testing.T) {
	f := newFixture(t)
	set := newSet("set", 2)
	f.sets = append(f.sets, set)
	var runners []*octorunv1alpha1.Runner
	for _, name := range []string{"evicted-1", "evicted-2"} {
		r := runnerOf(set, name, octorunv1alpha1.RunnerPhaseFailed, 1, time.Hour)
		meta.SetStatusCondition(&r.Status.Conditions, metav1.Condition{
			Type: octorunv1alpha1.RunnerConditionPodReady, Status: metav1.ConditionFalse,
			Reason: octorunv1alpha1.ReasonPodMissing, Message: "The runner pod does not exist",
		})
		runners = append(runners, r)
	}
	f.runners = runners
	requeue, err := f.sync(set)
	if err != nil {
		t.Fatal(err)
	}
	if requeue != 0 {
		t.Errorf("requeue after %s, want none", requeue)
	}
	if diff := cmp.Diff([]string{"create runners", "create runners", "delete runners evicted-1", "delete runners evicted-2", "update runnersets/status"}, f.actions()); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	if _, got := f.c.failures.wait("default/set"); got != 0 {
		t.Errorf("backoff = %s, want 0", got)
	}
}

func TestAdoptsAndReleases(t *testing.T) {
	f := newFixture(t)
	set := newSet("set", 2)
	f.sets = append(f.sets, set)
	orphan := runnerOf(set, "orphan", octorunv1alpha1.RunnerPhaseIdle, 1, time.Hour)
	orphan.OwnerReferences = nil
	stray := runnerOf(set, "stray", octorunv1alpha1.RunnerPhaseIdle, 2, time.Hour)
	stray.Labels = map[string]string{"app": "other"}
	other := runnerOf(set, "others", octorunv1alpha1.RunnerPhaseIdle, 3, time.Hour)
	other.OwnerReferences[0].UID = "someone-else"
	f.runners = []*octorunv1alpha1.Runner{orphan, stray, other}

	if _, err := f.sync(set); err != nil {
		t.Fatalf("sync: %v", err)
	}
	acts := f.actions()
	if !contains(acts, "patch runners orphan") || !contains(acts, "patch runners stray") || contains(acts, "patch runners others") {
		t.Errorf("actions = %v, want the orphan adopted, the stray released and the other's untouched", acts)
	}
	adopted, _ := f.client.OctorunV1alpha1().Runners("default").Get(context.Background(), "orphan", metav1.GetOptions{})
	if !metav1.IsControlledBy(adopted, set) {
		t.Errorf("orphan owners = %v", adopted.OwnerReferences)
	}
	released, _ := f.client.OctorunV1alpha1().Runners("default").Get(context.Background(), "stray", metav1.GetOptions{})
	if metav1.GetControllerOf(released) != nil {
		t.Errorf("stray owners = %v", released.OwnerReferences)
	}
}

func TestEmptySelectorSelectsNothing(t *testing.T) {
	f := newFixture(t)
	set := newSet("set", 2)
	set.Spec.Selector = &metav1.LabelSelector{}
	f.sets = append(f.sets, set)
	orphan := runnerOf(set, "orphan", octorunv1alpha1.RunnerPhaseIdle, 1, time.Hour)
	orphan.OwnerReferences = nil
	f.runners = []*octorunv1alpha1.Runner{orphan}
	if _, err := f.sync(set); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"update runnersets/status"}, f.actions()); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	cond := meta.FindStatusCondition(f.set("set").Status.Conditions, octorunv1alpha1.RunnerSetConditionReady)
	if cond == nil || cond.Reason != octorunv1alpha1.ReasonInvalidSelector {
		t.Errorf("Ready = %+v, want InvalidSelector", cond)
	}
}

func TestTemplateChangeRollsIdleRunnersOneAtATime(t *testing.T) {
	f := newFixture(t)
	set := newSet("set", 3)
	oldSet := set.DeepCopy()
	set.Spec.Template.Spec.Group = "gpu" // a new template
	f.sets = append(f.sets, set)
	f.runners = []*octorunv1alpha1.Runner{
		runnerOf(oldSet, "old-active", octorunv1alpha1.RunnerPhaseActive, 1, time.Hour),
		runnerOf(oldSet, "old-idle-1", octorunv1alpha1.RunnerPhaseIdle, 2, 2*time.Hour),
		runnerOf(oldSet, "old-idle-2", octorunv1alpha1.RunnerPhaseIdle, 3, time.Hour),
	}
	if _, err := f.sync(set); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"delete runners old-idle-2", "update runnersets/status"}, f.actions()); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
}

func TestCalculateStatus(t *testing.T) {
	set := newSet("set", 3)
	selector, _ := selectorOf(set)
	deleting := runnerOf(set, "deleting", octorunv1alpha1.RunnerPhaseIdle, 9, 0)
	deleting.DeletionTimestamp = ptr.To(metav1.NewTime(clock))
	tests := []struct {
		name      string
		runners   []*octorunv1alpha1.Runner
		out       outcome
		want      octorunv1alpha1.RunnerSetStatus
		wantReady string
		wantFail  string
		wantBlock string
	}{
		{name: "no runners", want: octorunv1alpha1.RunnerSetStatus{}, wantReady: "False/RunnersNotReady", wantFail: "False/NoFailure", wantBlock: "False/NotBlocked"},
		{name: "all ready", runners: []*octorunv1alpha1.Runner{
			runnerOf(set, "a", octorunv1alpha1.RunnerPhaseIdle, 1, 0),
			runnerOf(set, "b", octorunv1alpha1.RunnerPhaseIdle, 2, 0),
			runnerOf(set, "c", octorunv1alpha1.RunnerPhaseActive, 3, 0),
			deleting,
		}, want: octorunv1alpha1.RunnerSetStatus{Runners: 3, IdleRunners: 2, ActiveRunners: 1},
			wantReady: "True/RunnersReady", wantFail: "False/NoFailure", wantBlock: "False/NotBlocked"},
		{name: "failure and blocked", runners: []*octorunv1alpha1.Runner{runnerOf(set, "a", octorunv1alpha1.RunnerPhasePending, 0, 0)},
			out:  outcome{failureReason: octorunv1alpha1.ReasonFailedCreate, failureMessage: "quota", blocked: 2},
			want: octorunv1alpha1.RunnerSetStatus{Runners: 1}, wantReady: "False/RunnersNotReady", wantFail: "True/FailedCreate", wantBlock: "True/RunnersActive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.out.desired, tt.out.capped = cappedRunners(set, 0)
			got := calculateStatus(set, tt.runners, selector, tt.out, metav1.NewTime(clock))
			if got.Runners != tt.want.Runners || got.IdleRunners != tt.want.IdleRunners || got.ActiveRunners != tt.want.ActiveRunners {
				t.Errorf("counts = %d/%d/%d, want %d/%d/%d", got.Runners, got.IdleRunners, got.ActiveRunners,
					tt.want.Runners, tt.want.IdleRunners, tt.want.ActiveRunners)
			}
			if got.Selector != octorunv1alpha1.LabelRunnerSet+"=set" || got.ObservedGeneration != 2 {
				t.Errorf("selector %q, observedGeneration %d", got.Selector, got.ObservedGeneration)
			}
			for condType, want := range map[string]string{
				octorunv1alpha1.RunnerSetConditionReady:            tt.wantReady,
				octorunv1alpha1.RunnerSetConditionRunnerFailure:    tt.wantFail,
				octorunv1alpha1.RunnerSetConditionScaleDownBlocked: tt.wantBlock,
			} {
				c := meta.FindStatusCondition(got.Conditions, condType)
				if c == nil || string(c.Status)+"/"+c.Reason != want {
					t.Errorf("%s = %+v, want %s", condType, c, want)
				}
			}
			// Pure: the same input gives the same status.
			if again := calculateStatus(set, tt.runners, selector, tt.out, metav1.NewTime(clock)); !cmp.Equal(got, again) {
				t.Error("calculateStatus is not deterministic")
			}
		})
	}
}

func TestSlowStartBatch(t *testing.T) {
	var calls atomic.Int32
	n, err := slowStartBatch(10, 1, func() error { calls.Add(1); return nil })
	if n != 10 || err != nil || calls.Load() != 10 {
		t.Errorf("slowStartBatch(10) = %d, %v after %d calls", n, err, calls.Load())
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestScaleSetWaitsForItsScaleSet: a scale-set RunnerSet makes no Runner
// before its scale set exists on GitHub, whose Runners could not register,
// and then as many as spec.runners says.
func TestScaleSetWaitsForItsScaleSet(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status *octorunv1alpha1.RunnerScaleSetStatus
		want   int
	}{
		{name: "no scale set yet", want: 0},
		{name: "scale set without id", status: &octorunv1alpha1.RunnerScaleSetStatus{}, want: 0},
		{name: "scale set created", status: &octorunv1alpha1.RunnerScaleSetStatus{ID: 7}, want: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			set := newSet("set", 2)
			set.Spec.ScaleSet = &octorunv1alpha1.RunnerScaleSetSpec{}
			set.Status.ScaleSet = tc.status
			f.sets = append(f.sets, set)
			if _, err := f.sync(set); err != nil {
				t.Fatalf("sync: %v", err)
			}
			list, _ := f.client.OctorunV1alpha1().Runners("default").List(context.Background(), metav1.ListOptions{})
			if len(list.Items) != tc.want {
				t.Errorf("%d Runners created, want %d", len(list.Items), tc.want)
			}
		})
	}
}

// TestStatusKeepsTheScaleSetPart: on a conflict the status goes onto a
// fresh read with the scale-set controller's part of it as read.
func TestStatusKeepsTheScaleSetPart(t *testing.T) {
	ready := metav1.Condition{Type: octorunv1alpha1.RunnerSetConditionScaleSetReady, Status: metav1.ConditionTrue, Reason: octorunv1alpha1.ReasonListening}
	stale := octorunv1alpha1.RunnerSetStatus{Runners: 3, Conditions: []metav1.Condition{
		{Type: octorunv1alpha1.RunnerSetConditionReady, Status: metav1.ConditionTrue, Reason: octorunv1alpha1.ReasonRunnersReady},
	}}
	live := octorunv1alpha1.RunnerSetStatus{
		ScaleSet:   &octorunv1alpha1.RunnerScaleSetStatus{ID: 7, AssignedJobs: 4},
		Conditions: []metav1.Condition{ready},
	}
	keepScaleSetStatus(&stale, live)
	if stale.ScaleSet == nil || stale.ScaleSet.AssignedJobs != 4 || !meta.IsStatusConditionTrue(stale.Conditions, octorunv1alpha1.RunnerSetConditionScaleSetReady) {
		t.Errorf("status = %+v, want the live scale set part", stale)
	}
	if stale.Runners != 3 || !meta.IsStatusConditionTrue(stale.Conditions, octorunv1alpha1.RunnerSetConditionReady) {
		t.Errorf("status = %+v, want its own part kept", stale)
	}
	keepScaleSetStatus(&stale, octorunv1alpha1.RunnerSetStatus{})
	if stale.ScaleSet != nil || meta.FindStatusCondition(stale.Conditions, octorunv1alpha1.RunnerSetConditionScaleSetReady) != nil {
		t.Errorf("status = %+v, want no scale set part", stale)
	}
}

// TestScaleSetCountsJobsOnce: the end of a scale set's job takes one
// runner off the count once, whichever of the Runner's end and the scale
// set's report comes first.
func TestScaleSetCountsJobsOnce(t *testing.T) {
	set := newSet("set", 1)
	now := clock
	completed := func(r *octorunv1alpha1.Runner) *octorunv1alpha1.Runner {
		r.Annotations = map[string]string{octorunv1alpha1.AnnotationJobAssignment: `{"jobID":1,"runID":1,"assignedAt":"2027-01-15T08:00:00Z","completedAt":"2027-01-15T08:00:05Z"}`}
		return r
	}
	exited := func(r *octorunv1alpha1.Runner, ago time.Duration) *octorunv1alpha1.Runner {
		r.Status.Conditions = []metav1.Condition{{Type: octorunv1alpha1.RunnerConditionExited, Status: metav1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-ago))}}
		return r
	}
	for _, tc := range []struct {
		name                  string
		runner                *octorunv1alpha1.Runner
		wantAlive, wantFinish int
		wantWait              time.Duration
	}{
		{name: "idle counts", runner: runnerOf(set, "r", octorunv1alpha1.RunnerPhaseIdle, 1, time.Minute), wantAlive: 1},
		{name: "active counts", runner: runnerOf(set, "r", octorunv1alpha1.RunnerPhaseActive, 1, time.Minute), wantAlive: 1},
		{name: "active with its end reported counts no more", runner: completed(runnerOf(set, "r", octorunv1alpha1.RunnerPhaseActive, 1, time.Minute))},
		{name: "complete and reported goes", runner: completed(runnerOf(set, "r", octorunv1alpha1.RunnerPhaseComplete, 1, time.Minute)), wantFinish: 1},
		{
			name:      "complete, not reported yet, still counts",
			runner:    exited(runnerOf(set, "r", octorunv1alpha1.RunnerPhaseComplete, 1, time.Minute), 4*time.Second),
			wantAlive: 1, wantWait: scaleSetReportWait - 4*time.Second,
		},
		{name: "complete, never reported, goes", runner: exited(runnerOf(set, "r", octorunv1alpha1.RunnerPhaseComplete, 1, time.Minute), time.Minute), wantFinish: 1},
		{name: "failed goes", runner: runnerOf(set, "r", octorunv1alpha1.RunnerPhaseFailed, 1, time.Minute), wantFinish: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alive, finished, wait := classifyScaleSet([]*octorunv1alpha1.Runner{tc.runner}, now)
			if len(alive) != tc.wantAlive || len(finished) != tc.wantFinish || wait != tc.wantWait {
				t.Errorf("alive, finished, wait = %d, %d, %v; want %d, %d, %v", len(alive), len(finished), wait, tc.wantAlive, tc.wantFinish, tc.wantWait)
			}
		})
	}
}

// TestScaleSetExcessWaits: a scale set's Runners beyond spec.runners go
// only once the excess lasted scaleSetScaleDownDelay.
func TestScaleSetExcessWaits(t *testing.T) {
	var e excessSince
	if got := e.wait("k", true, clock); got != scaleSetScaleDownDelay {
		t.Errorf("first excess waits %v, want %v", got, scaleSetScaleDownDelay)
	}
	if got := e.wait("k", true, clock.Add(2*time.Second)); got != scaleSetScaleDownDelay-2*time.Second {
		t.Errorf("later excess waits %v, want the rest", got)
	}
	if got := e.wait("k", true, clock.Add(scaleSetScaleDownDelay)); got != 0 {
		t.Errorf("lasting excess waits %v, want none", got)
	}
	e.wait("k", false, clock.Add(scaleSetScaleDownDelay))
	if got := e.wait("k", true, clock.Add(time.Hour)); got != scaleSetScaleDownDelay {
		t.Errorf("new excess waits %v, want it afresh", got)
	}
}

// TestRunnersComeWithTheirFinalizer: the Runners a set creates carry the
// Runner controller's finalizer, which then needs no write of its own.
func TestRunnersComeWithTheirFinalizer(t *testing.T) {
	f := newFixture(t)
	set := newSet("set", 2)
	f.sets = append(f.sets, set)
	if _, err := f.sync(set); err != nil {
		t.Fatalf("sync: %v", err)
	}
	list, _ := f.client.OctorunV1alpha1().Runners("default").List(context.Background(), metav1.ListOptions{})
	for _, r := range list.Items {
		if len(r.Finalizers) != 1 || r.Finalizers[0] != octorunv1alpha1.RunnerFinalizer {
			t.Errorf("Runner %s has finalizers %v, want %s", r.Name, r.Finalizers, octorunv1alpha1.RunnerFinalizer)
		}
	}
	if len(list.Items) != 2 {
		t.Errorf("%d Runners, want 2", len(list.Items))
	}
}

// TestStatusWritesAreBatched: while a set's Runners move, its status is
// written at most once a StatusInterval, with the state of the moment; a
// status observing a new generation is written at once.
func TestStatusWritesAreBatched(t *testing.T) {
	f := newFixture(t)
	f.opts.StatusInterval = time.Second
	set := newSet("set", 3)
	f.sets = append(f.sets, set)
	f.runners = []*octorunv1alpha1.Runner{
		runnerOf(set, "a", octorunv1alpha1.RunnerPhaseIdle, 1, time.Minute),
		runnerOf(set, "b", octorunv1alpha1.RunnerPhasePending, 2, time.Minute),
		runnerOf(set, "c", octorunv1alpha1.RunnerPhasePending, 3, time.Minute),
	}
	f.build()
	now := clock
	f.c.now = func() time.Time { return now }
	becomeIdle := func(i int) {
		r := f.runners[i].DeepCopy()
		r.Status.Phase = octorunv1alpha1.RunnerPhaseIdle
		if err := f.c.runnerIndexer.Update(r); err != nil {
			t.Fatal(err)
		}
	}
	step := func(name string, wantWrite bool, wantRequeue time.Duration) {
		t.Helper()
		requeue, err := f.sync(set)
		if err != nil {
			t.Fatalf("%s: sync: %v", name, err)
		}
		var want []string
		if wantWrite {
			want = []string{"update runnersets/status"}
		}
		if diff := cmp.Diff(want, f.actions()); diff != "" {
			t.Errorf("%s: actions (-want +got):\n%s", name, diff)
		}
		if requeue != wantRequeue {
			t.Errorf("%s: requeue after %v, want %v", name, requeue, wantRequeue)
		}
		// The informer catches up with the write.
		if err := f.setIndexer.Update(f.set("set")); err != nil {
			t.Fatal(err)
		}
	}

	step("first status", true, 0)
	becomeIdle(1)
	now = now.Add(300 * time.Millisecond)
	step("counts within the interval", false, 700*time.Millisecond)
	becomeIdle(2)
	now = now.Add(200 * time.Millisecond)
	step("ready within the interval", false, 500*time.Millisecond)
	now = now.Add(500 * time.Millisecond)
	step("after the interval", true, 0)
	if got := f.set("set").Status; got.IdleRunners != 3 || !meta.IsStatusConditionTrue(got.Conditions, octorunv1alpha1.RunnerSetConditionReady) {
		t.Errorf("status %+v, want 3 Idle and Ready", got)
	}

	// kubectl scale: the new generation is observed at once.
	scaled := f.set("set")
	scaled.Spec.Runners = ptr.To[int32](2)
	scaled.Generation++
	if _, err := f.client.OctorunV1alpha1().RunnerSets("default").Update(context.Background(), scaled, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.setIndexer.Update(scaled); err != nil {
		t.Fatal(err)
	}
	now = now.Add(100 * time.Millisecond)
	requeue, err := f.sync(set)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.set("set").Status.ObservedGeneration; got != scaled.Generation {
		t.Errorf("observedGeneration %d, want %d (requeue %v, actions %v)", got, scaled.Generation, requeue, f.actions())
	}
}
