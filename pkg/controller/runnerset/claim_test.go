package runnerset

import (
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2/ktesting"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned/fake"
	informers "github.com/octorun/octorun/pkg/generated/informers/externalversions"
)

func TestIndexByController(t *testing.T) {
	set := newSet("set", 1)
	owned := runnerOf(set, "owned", octorunv1alpha1.RunnerPhaseIdle, 1, 0)
	orphan := runnerOf(set, "orphan", octorunv1alpha1.RunnerPhaseIdle, 2, 0)
	orphan.OwnerReferences = nil
	notController := runnerOf(set, "not-controller", octorunv1alpha1.RunnerPhaseIdle, 3, 0)
	notController.OwnerReferences[0].Controller = nil
	elsewhere := runnerOf(set, "elsewhere", octorunv1alpha1.RunnerPhaseIdle, 4, 0)
	elsewhere.Namespace = "other"
	tests := []struct {
		name string
		obj  any
		want []string
	}{
		{name: "controlled by a set", obj: owned, want: []string{"default/set-uid"}},
		{name: "orphan", obj: orphan, want: []string{"default"}},
		{name: "owned without a controller", obj: notController, want: []string{"default"}},
		{name: "naming a set of another namespace", obj: elsewhere, want: []string{"other/set-uid"}},
		{name: "not a Runner", obj: set, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := indexByController(tt.obj)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
		})
	}
}

// The sync reads its own Runners and its namespace's orphans from the index:
// another set's Runners, and Runners of another namespace that name the
// set, are not its to count, delete or adopt.
func TestSyncReadsItsRunnersFromTheIndex(t *testing.T) {
	f := newFixture(t)
	set := newSet("set", 2)
	other := newSet("other", 1)
	f.sets = append(f.sets, set, other)
	orphan := runnerOf(set, "orphan", octorunv1alpha1.RunnerPhaseIdle, 1, time.Hour)
	orphan.OwnerReferences = nil
	othersRunner := runnerOf(other, "others", octorunv1alpha1.RunnerPhaseIdle, 2, time.Hour)
	othersRunner.Labels = set.Spec.Template.Labels // selected, but not ours
	elsewhere := runnerOf(set, "elsewhere", octorunv1alpha1.RunnerPhaseComplete, 3, time.Hour)
	elsewhere.Namespace = "other"
	f.runners = []*octorunv1alpha1.Runner{runnerOf(set, "mine", octorunv1alpha1.RunnerPhaseIdle, 4, time.Hour), orphan, othersRunner, elsewhere}
	f.build()

	all, err := f.c.candidates(set)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range all {
		names = append(names, r.Name)
	}
	sort.Strings(names)
	if diff := cmp.Diff([]string{"mine", "orphan"}, names); diff != "" {
		t.Errorf("candidates (-want +got):\n%s", diff)
	}
	if _, err := f.sync(set); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"patch runners orphan", "update runnersets/status"}, f.actions()); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	if got := f.set("set").Status.Runners; got != 2 {
		t.Errorf("status.runners = %d, want 2", got)
	}
}

// A controller is made anew for each term of leadership on the same
// informers: the second finds the index there and keeps it.
func TestNewTwiceOnOneInformer(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	i := informers.NewSharedInformerFactory(fake.NewSimpleClientset(), 0)
	sets, runners := i.Octorun().V1alpha1().RunnerSets(), i.Octorun().V1alpha1().Runners()
	for term := range 2 {
		if _, err := New(ctx, k8sfake.NewSimpleClientset(), fake.NewSimpleClientset(), sets, runners, Options{}); err != nil {
			t.Fatalf("term %d: %v", term, err)
		}
	}
	if _, ok := runners.Informer().GetIndexer().GetIndexers()[controllerIndex]; !ok {
		t.Errorf("indexers = %v, want %s", runners.Informer().GetIndexer().GetIndexers(), controllerIndex)
	}
}
