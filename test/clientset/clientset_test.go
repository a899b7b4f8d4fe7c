// Package clientset_test exercises the generated typed clientset, listers and
// informers through the generated fake clientset, as a user's unit tests would.
package clientset_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned/fake"
	informers "github.com/octorun/octorun/pkg/generated/informers/externalversions"
)

const namespace = "runners"

func newRunner(name string) *octorunv1alpha1.Runner {
	return &octorunv1alpha1.Runner{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: namespace,
			Labels:    map[string]string{octorunv1alpha1.LabelRunner: name, "octorun.github.io/size": "large"},
		},
		Spec: octorunv1alpha1.RunnerSpec{
			URL:     "https://github.com/octorun/octorun",
			Group:   "Default",
			Workdir: "_work",
			Image:   octorunv1alpha1.RunnerImage{Name: "ghcr.io/actions/actions-runner:2.330.0"},
		},
	}
}

func newRunnerSet(name string) *octorunv1alpha1.RunnerSet {
	selector := map[string]string{octorunv1alpha1.LabelRunnerSet: name}
	return &octorunv1alpha1.RunnerSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: octorunv1alpha1.RunnerSetSpec{
			Runners:  ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: octorunv1alpha1.RunnerTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: selector},
				Spec:       newRunner(name).Spec,
			},
		},
	}
}

func TestRunners(t *testing.T) {
	ctx := t.Context()
	existing := newRunner("existing")
	client := fake.NewSimpleClientset(existing)
	runners := client.OctorunV1alpha1().Runners(namespace)

	w, err := runners.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	defer w.Stop()

	expectEvent(t, w, watch.Added, "existing") // the fake replays existing objects

	created, err := runners.Create(ctx, newRunner("runner-1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	expectEvent(t, w, watch.Added, "runner-1")

	got, err := runners.Get(ctx, "runner-1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if diff := cmp.Diff(created.Spec, got.Spec); diff != "" {
		t.Errorf("Get returned another spec (-created +got):\n%s", diff)
	}

	list, err := runners.List(ctx, metav1.ListOptions{LabelSelector: "octorun.github.io/size=large"})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if names := runnerNames(list.Items); !cmp.Equal(names, []string{"existing", "runner-1"}) {
		t.Errorf("List returned %v, want [existing runner-1]", names)
	}

	got = got.DeepCopy()
	got.Status.Phase = octorunv1alpha1.RunnerPhaseIdle
	got.Status.Conditions = []metav1.Condition{{
		Type:               octorunv1alpha1.RunnerConditionRegistered,
		Status:             metav1.ConditionTrue,
		Reason:             octorunv1alpha1.ReasonRegistered,
		LastTransitionTime: metav1.Now(),
	}}
	if _, err := runners.UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("UpdateStatus: %v", err)
	}
	expectEvent(t, w, watch.Modified, "runner-1")
	got, err = runners.Get(ctx, "runner-1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Get after UpdateStatus: %v", err)
	}
	if got.Status.Phase != octorunv1alpha1.RunnerPhaseIdle || len(got.Status.Conditions) != 1 {
		t.Errorf("Status after UpdateStatus = %+v, want phase Idle with one condition", got.Status)
	}

	if err := runners.Delete(ctx, "runner-1", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	expectEvent(t, w, watch.Deleted, "runner-1")
}

func TestRunnerSets(t *testing.T) {
	ctx := t.Context()
	client := fake.NewSimpleClientset()
	sets := client.OctorunV1alpha1().RunnerSets(namespace)

	w, err := sets.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	defer w.Stop()

	if _, err := sets.Create(ctx, newRunnerSet("set-1"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	expectEvent(t, w, watch.Added, "set-1")

	list, err := sets.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "set-1" {
		t.Fatalf("List returned %d items, want set-1 only", len(list.Items))
	}

	set := list.Items[0].DeepCopy()
	set.Status = octorunv1alpha1.RunnerSetStatus{
		Runners:            3,
		IdleRunners:        2,
		ActiveRunners:      1,
		Selector:           octorunv1alpha1.LabelRunnerSet + "=set-1",
		ObservedGeneration: 1,
	}
	if _, err := sets.UpdateStatus(ctx, set, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("UpdateStatus: %v", err)
	}
	expectEvent(t, w, watch.Modified, "set-1")

	got, err := sets.Get(ctx, "set-1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if diff := cmp.Diff(set.Status, got.Status); diff != "" {
		t.Errorf("Status after UpdateStatus (-want +got):\n%s", diff)
	}
	if *got.Spec.Runners != 3 {
		t.Errorf("spec.runners = %d, want 3", *got.Spec.Runners)
	}
}

// TestInformersAndListers drives the generated shared informers and listers
// from the fake clientset: objects created, status-updated and deleted through
// the typed client show up in the listers.
func TestInformersAndListers(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	client := fake.NewSimpleClientset(newRunner("existing"))
	// The fake clientset has no resource versions, so an object created
	// between an informer's list and its watch would be missed: wait for
	// both informers to watch before creating anything.
	watching := make(chan struct{}, 2)
	client.PrependWatchReactor("*", func(action clienttesting.Action) (bool, watch.Interface, error) {
		w, err := client.Tracker().Watch(action.GetResource(), action.GetNamespace())
		if err != nil {
			return false, nil, err
		}
		watching <- struct{}{}
		return true, w, nil
	})
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(namespace))
	runnerInformer := factory.Octorun().V1alpha1().Runners()
	setInformer := factory.Octorun().V1alpha1().RunnerSets()
	runnerLister, setLister := runnerInformer.Lister(), setInformer.Lister()

	factory.Start(ctx.Done())
	defer func() {
		cancel() // stop the informers before waiting for them
		factory.Shutdown()
	}()
	if !cache.WaitForCacheSync(ctx.Done(), runnerInformer.Informer().HasSynced, setInformer.Informer().HasSynced) {
		t.Fatal("Informer caches did not sync")
	}
	for range 2 {
		select {
		case <-watching:
		case <-time.After(wait.ForeverTestTimeout):
			t.Fatal("Informers did not start watching")
		}
	}
	if _, err := runnerLister.Runners(namespace).Get("existing"); err != nil {
		t.Fatalf("Lister does not hold the initial Runner: %v", err)
	}

	runners := client.OctorunV1alpha1().Runners(namespace)
	for _, name := range []string{"runner-1", "runner-2"} {
		if _, err := runners.Create(ctx, newRunner(name), metav1.CreateOptions{}); err != nil {
			t.Fatalf("Create %s: %v", name, err)
		}
	}
	if _, err := client.OctorunV1alpha1().RunnerSets(namespace).Create(ctx, newRunnerSet("set-1"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("Create RunnerSet: %v", err)
	}
	eventually(t, "the lister to hold 3 Runners and 1 RunnerSet", func() bool {
		rs, _ := runnerLister.List(labels.Everything())
		sets, _ := setLister.RunnerSets(namespace).List(labels.Everything())
		return len(rs) == 3 && len(sets) == 1
	})

	r, err := runnerLister.Runners(namespace).Get("runner-1")
	if err != nil {
		t.Fatalf("Lister Get: %v", err)
	}
	r = r.DeepCopy() // never mutate the cache
	r.Status.Phase = octorunv1alpha1.RunnerPhaseActive
	if _, err := runners.UpdateStatus(ctx, r, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("UpdateStatus: %v", err)
	}
	eventually(t, "the lister to see runner-1 Active", func() bool {
		r, err := runnerLister.Runners(namespace).Get("runner-1")
		return err == nil && r.Status.Phase == octorunv1alpha1.RunnerPhaseActive
	})

	if err := runners.Delete(ctx, "runner-2", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	eventually(t, "the lister to drop runner-2", func() bool {
		_, err := runnerLister.Runners(namespace).Get("runner-2")
		return err != nil
	})
	selected, err := runnerLister.Runners(namespace).List(labels.SelectorFromSet(labels.Set{"octorun.github.io/size": "large"}))
	if err != nil {
		t.Fatalf("Lister List: %v", err)
	}
	if names := runnerNames(deref(selected)); !cmp.Equal(names, []string{"existing", "runner-1"}) {
		t.Errorf("Lister selected %v, want [existing runner-1]", names)
	}
}

// TestClientsetInterface keeps the fake a drop-in for the real clientset.
func TestClientsetInterface(t *testing.T) {
	var _ versioned.Interface = fake.NewSimpleClientset()
	var _ versioned.Interface = &versioned.Clientset{}
}

func expectEvent(t *testing.T, w watch.Interface, typ watch.EventType, name string) {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatalf("Watch closed while waiting for %s %s", typ, name)
		}
		obj, err := meta.Accessor(ev.Object)
		if err != nil {
			t.Fatalf("Watch event %s carries %T: %v", ev.Type, ev.Object, err)
		}
		if ev.Type != typ || obj.GetName() != name {
			t.Fatalf("Watch event = %s %s, want %s %s", ev.Type, obj.GetName(), typ, name)
		}
	case <-time.After(wait.ForeverTestTimeout):
		t.Fatalf("No watch event %s %s", typ, name)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, wait.ForeverTestTimeout, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("Waiting for %s: %v", what, err)
	}
}

func runnerNames(runners []octorunv1alpha1.Runner) []string {
	names := make([]string, 0, len(runners))
	for _, r := range runners {
		names = append(names, r.Name)
	}
	slices.Sort(names) // list order is not part of the contract
	return names
}

func deref(runners []*octorunv1alpha1.Runner) []octorunv1alpha1.Runner {
	out := make([]octorunv1alpha1.Runner, 0, len(runners))
	for _, r := range runners {
		out = append(out, *r)
	}
	return out
}
