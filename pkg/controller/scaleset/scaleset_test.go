package scaleset

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned/fake"
	informers "github.com/octorun/octorun/pkg/generated/informers/externalversions"
	"github.com/octorun/octorun/pkg/github"
	"github.com/octorun/octorun/pkg/runnerscaleset"
	"github.com/octorun/octorun/test/githubsim"
)

const (
	testToken = "ghp_scaleset"
	testNS    = "ci"
	testSet   = "octo-set"
)

type allowAll struct{}

func (allowAll) Check(string, string, string) error { return nil }

// sink records the job messages handed to it.
type sink struct {
	mu                 sync.Mutex
	started, completed []string
}

func (s *sink) JobStarted(_ context.Context, _, _ string, _ int64, name string, _, _ int64, _ time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = append(s.started, name)
	return true, nil
}

func (s *sink) JobCompleted(_ context.Context, _, _ string, _ int64, name string, _, _ int64, _, _ time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.completed = append(s.completed, name)
	return true, nil
}

// env is a scale-set controller on the fake clientset, against the GitHub
// simulator.
type env struct {
	sim    *githubsim.Server
	client *fake.Clientset
	sink   *sink
	cancel context.CancelFunc
	done   chan struct{}
}

func newScaleSetRunnerSet() *octorunv1alpha1.RunnerSet {
	return &octorunv1alpha1.RunnerSet{
		ObjectMeta: metav1.ObjectMeta{Name: "build", Namespace: testNS, UID: "set-uid", Generation: 1},
		Spec: octorunv1alpha1.RunnerSetSpec{
			Runners:  ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "build"}},
			Template: octorunv1alpha1.RunnerTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "build"}},
				Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octo", Group: "Default"},
			},
			ScaleSet: &octorunv1alpha1.RunnerScaleSetSpec{Name: testSet, Labels: []string{"linux"}, MinRunners: ptr.To[int32](1), MaxRunners: ptr.To[int32](5)},
		},
	}
}

func startEnv(t *testing.T, set *octorunv1alpha1.RunnerSet) *env {
	t.Helper()
	sim := githubsim.New(githubsim.Options{Logf: t.Logf})
	sim.AddToken(testToken)
	sim.AddOrganization("octo")
	sim.AddRepository("octo", "hello")
	sim.SetScaleSetPollTimeout(200 * time.Millisecond)
	return startEnvOn(t, sim, set)
}

// stop ends the controller's term and waits for it, sessions closed.
func (e *env) stop() {
	e.cancel()
	<-e.done
}

func (e *env) set(t *testing.T) *octorunv1alpha1.RunnerSet {
	t.Helper()
	set, err := e.client.OctorunV1alpha1().RunnerSets(testNS).Get(context.Background(), "build", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// waitFor polls cond until it holds; the bound is only a guard against a
// hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestScaleSetFollowsAssignedJobs(t *testing.T) {
	e := startEnv(t, newScaleSetRunnerSet())

	var id int64
	waitFor(t, "the scale set, its session and the status", func() bool {
		set := e.set(t)
		sets, sessions := e.sim.ScaleSets(), e.sim.Sessions()
		if set.Status.ScaleSet == nil || len(sets) != 1 || len(sessions) != 1 {
			return false
		}
		id = set.Status.ScaleSet.ID
		return id == sets[0].ID && meta.IsStatusConditionTrue(set.Status.Conditions, octorunv1alpha1.RunnerSetConditionScaleSetReady)
	})
	got := e.sim.ScaleSets()[0]
	if got.Name != testSet || len(got.Labels) != 2 || got.Labels[0] != testSet || got.Labels[1] != "linux" {
		t.Errorf("scale set on GitHub = %+v, want %q with labels [%s linux]", got, testSet, testSet)
	}
	set := e.set(t)
	if !contains(set.Finalizers, octorunv1alpha1.ScaleSetFinalizer) {
		t.Errorf("finalizers = %v, want %s", set.Finalizers, octorunv1alpha1.ScaleSetFinalizer)
	}
	if *set.Spec.Runners != 1 {
		t.Errorf("spec.runners = %d with no job, want minRunners 1", *set.Spec.Runners)
	}

	for range 3 {
		e.sim.QueueScaleSetJob("octo", "hello", testSet, time.Minute)
	}
	waitFor(t, "spec.runners to follow 3 assigned jobs", func() bool {
		set := e.set(t)
		return *set.Spec.Runners == 4 && set.Status.ScaleSet.AssignedJobs == 3
	})
	for range 5 {
		e.sim.QueueScaleSetJob("octo", "hello", testSet, time.Minute)
	}
	waitFor(t, "spec.runners to stop at maxRunners", func() bool {
		set := e.set(t)
		return *set.Spec.Runners == 5 && set.Status.ScaleSet.AssignedJobs == 8
	})
	// Octorun's writes of spec.runners move the generation (the fake
	// clientset does not: the test does) and leave the scale set's
	// settings as they were: it is looked up and created once.
	bumped := e.set(t)
	bumped.Generation++
	if _, err := e.client.OctorunV1alpha1().RunnerSets(testNS).Update(context.Background(), bumped, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new generation to be seen", func() bool {
		c := meta.FindStatusCondition(e.set(t).Status.Conditions, octorunv1alpha1.RunnerSetConditionScaleSetReady)
		return c != nil && c.ObservedGeneration == bumped.Generation
	})
	for k, n := range e.sim.Calls() {
		if strings.Contains(k, "runnergroups") || strings.Contains(k, "runnerscalesets") && !strings.Contains(k, "sessions") && !strings.Contains(k, "messages") {
			if n != 1 {
				t.Errorf("%s called %d times, want once", k, n)
			}
		}
	}
}

func TestScaleSetAdoptsAndDeletes(t *testing.T) {
	set := newScaleSetRunnerSet()
	e := startEnv(t, set)
	waitFor(t, "the scale set", func() bool { return len(e.sim.ScaleSets()) == 1 && len(e.sim.Sessions()) == 1 })
	id := e.sim.ScaleSets()[0].ID

	// A new term (a new leader) adopts the scale set of the set's name
	// rather than create another, once the former term closed its session.
	e.stop()
	if n := len(e.sim.Sessions()); n != 0 {
		t.Fatalf("%d sessions left after the term ended, want the session deleted", n)
	}
	live := e.set(t)
	live.Status = octorunv1alpha1.RunnerSetStatus{} // as if the id was never recorded
	e2 := startEnvOn(t, e.sim, live)
	waitFor(t, "the adoption", func() bool {
		s := e2.set(t)
		return s.Status.ScaleSet != nil && s.Status.ScaleSet.ID == id && len(e.sim.Sessions()) == 1
	})
	if n := len(e.sim.ScaleSets()); n != 1 {
		t.Errorf("%d scale sets, want the one adopted", n)
	}

	// Deleting the set deletes its scale set, then lets the set go.
	deleting := e2.set(t)
	deleting.DeletionTimestamp = ptr.To(metav1.Now())
	if _, err := e2.client.OctorunV1alpha1().RunnerSets(testNS).Update(context.Background(), deleting, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the scale set's deletion", func() bool {
		return len(e.sim.ScaleSets()) == 0 && !contains(e2.set(t).Finalizers, octorunv1alpha1.ScaleSetFinalizer)
	})
	if n := len(e.sim.Sessions()); n != 0 {
		t.Errorf("%d sessions left, want none", n)
	}
}

// startEnvOn starts a controller on the simulator of an earlier env.
func startEnvOn(t *testing.T, sim *githubsim.Server, set *octorunv1alpha1.RunnerSet) *env {
	t.Helper()
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	clients, err := runnerscaleset.NewClients(runnerscaleset.Options{
		APIURL: srv.URL + "/", Credentials: github.Credentials{Token: testToken}, RetryMax: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	client := fake.NewSimpleClientset(set)
	factory := informers.NewSharedInformerFactory(client, 0)
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	e := &env{sim: sim, client: client, sink: &sink{}, cancel: cancel, done: make(chan struct{})}
	c, err := New(ctx, k8sfake.NewSimpleClientset(), client, clients, e.sink,
		factory.Octorun().V1alpha1().RunnerSets(), factory.Octorun().V1alpha1().Runners(),
		Options{Grants: allowAll{}, Owner: "test", SessionBackoff: 10 * time.Millisecond, MaxSessionBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	go func() {
		defer close(e.done)
		if err := c.Run(ctx, 1); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(e.stop)
	return e
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestMessageGone(t *testing.T) {
	for _, tc := range []struct {
		err  string
		want bool
	}{
		{`request DELETE …/messages/4 failed(status="404 Not Found"): unexpected status code 404 Not Found: GitHub.DistributedTask.WebApi.TaskAgentMessageNotFoundException, GitHub.DistributedTask.WebApi: Message 4 not found.`, true},
		{`request DELETE …/messages/4 failed(status="404 Not Found"): unexpected status code 404 Not Found: GitHub.DistributedTask.WebApi.TaskAgentSessionNotFoundException, GitHub.DistributedTask.WebApi: Session s not found.`, false},
		{`failed to issue the request: connection refused`, false},
	} {
		if got := messageGone(errors.New(tc.err)); got != tc.want {
			t.Errorf("messageGone(%q) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
