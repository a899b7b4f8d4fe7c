package runner

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	kubeinformers "k8s.io/client-go/informers"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2/ktesting"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned/fake"
	informers "github.com/octorun/octorun/pkg/generated/informers/externalversions"
	"github.com/octorun/octorun/pkg/github"
	"github.com/octorun/octorun/pkg/scopegrant"
)

var noResyncPeriodFunc = func() time.Duration { return 0 }

// fakeGitHub records the controller's GitHub calls and answers as told.
type fakeGitHub struct {
	mu     sync.Mutex
	calls  []string
	nextID int64

	groupErr  error
	jitErr    error
	findErr   error
	found     *github.Runner
	deleteErr error
	getErr    error // GetRunner's error; nil means the runner is there
	jitReqs   []github.JITConfigRequest
	// names are the GitHub runners' names by id, as GetRunner answers.
	names map[int64]string
}

// name gives GitHub's runner id the name.
func (g *fakeGitHub) name(id int64, name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.names == nil {
		g.names = map[int64]string{}
	}
	g.names[id] = name
}

func (g *fakeGitHub) GetRunner(_ context.Context, _ github.Scope, id int64) (*github.Runner, error) {
	g.record("GetRunner")
	if g.getErr != nil {
		return nil, g.getErr
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return &github.Runner{ID: id, Name: g.names[id], Status: "offline"}, nil
}

func (g *fakeGitHub) record(call string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, call)
}

func (g *fakeGitHub) RunnerGroupID(_ context.Context, _ github.Scope, name string) (int64, error) {
	g.record("RunnerGroupID")
	if g.groupErr != nil {
		return 0, g.groupErr
	}
	return 1, nil
}

func (g *fakeGitHub) GenerateJITConfig(_ context.Context, _ github.Scope, r github.JITConfigRequest) (*github.JITConfig, error) {
	g.record("GenerateJITConfig")
	g.jitReqs = append(g.jitReqs, r)
	g.mu.Lock()
	for _, name := range g.names {
		if name == r.Name {
			g.mu.Unlock()
			// GitHub's names are unique in a scope.
			return nil, apiErr(409, github.ErrRunnerNameTaken)
		}
	}
	g.mu.Unlock()
	if g.jitErr != nil {
		err := g.jitErr
		g.jitErr = nil // one failure, then success
		return nil, err
	}
	g.nextID++
	return &github.JITConfig{
		Runner:           github.Runner{ID: 100 + g.nextID, Name: r.Name, OS: "Linux", Status: "offline", Labels: r.Labels},
		EncodedJITConfig: "c2VjcmV0LWNvbmZpZw==",
	}, nil
}

func (g *fakeGitHub) FindRunnerByName(_ context.Context, _ github.Scope, name string) (*github.Runner, error) {
	g.record("FindRunnerByName")
	return g.found, g.findErr
}

func (g *fakeGitHub) DeleteRunner(_ context.Context, _ github.Scope, id int64) error {
	g.record("DeleteRunner")
	return g.deleteErr
}

// fixture is the sample-controller test fixture: fake clientsets, informer
// indexers seeded directly, and the actions the sync is expected to take.
type fixture struct {
	grants     fakeGrants
	scaleSets  ScaleSets
	t          *testing.T
	client     *fake.Clientset
	kubeClient *k8sfake.Clientset
	github     *fakeGitHub
	recorder   *record.FakeRecorder

	runners []*octorunv1alpha1.Runner
	pods    []*corev1.Pod
	secrets []*corev1.Secret
	objects []runtime.Object // of the Octorun clientset
	kube    []runtime.Object // of the Kubernetes clientset

	controller *Controller
}

func newFixture(t *testing.T) *fixture {
	return &fixture{t: t, github: &fakeGitHub{}, grants: fakeGrants{}}
}

// fakeGrants grants every scope but those of its URLs, each refused.
type fakeGrants map[string]bool

func (g fakeGrants) Check(namespace, url, group string) error {
	if g[url] {
		return &scopegrant.NotGrantedError{Namespace: namespace, URL: url, Group: group}
	}
	return nil
}

func (f *fixture) addRunner(r *octorunv1alpha1.Runner) {
	f.runners = append(f.runners, r)
	f.objects = append(f.objects, r)
}

func (f *fixture) addPod(p *corev1.Pod) {
	f.pods = append(f.pods, p)
	f.kube = append(f.kube, p)
}

func (f *fixture) addSecret(s *corev1.Secret) {
	f.secrets = append(f.secrets, s)
	f.kube = append(f.kube, s)
}

func (f *fixture) newController(ctx context.Context) *Controller {
	f.client = fake.NewSimpleClientset(f.objects...)
	f.kubeClient = k8sfake.NewSimpleClientset(f.kube...)
	i := informers.NewSharedInformerFactory(f.client, noResyncPeriodFunc())
	k := kubeinformers.NewSharedInformerFactory(f.kubeClient, noResyncPeriodFunc())

	c, err := New(ctx, f.kubeClient, f.client, f.github,
		i.Octorun().V1alpha1().Runners(), k.Core().V1().Pods(),
		Options{RunnerNamePrefix: "test-", RetryPeriod: time.Minute, Grants: f.grants, ScaleSets: f.scaleSets})
	if err != nil {
		f.t.Fatalf("New: %v", err)
	}
	f.recorder = record.NewFakeRecorder(100)
	c.recorder = f.recorder
	c.now = func() time.Time { return time.Unix(1_800_000_000, 0) }

	for _, r := range f.runners {
		if err := i.Octorun().V1alpha1().Runners().Informer().GetIndexer().Add(r); err != nil {
			f.t.Fatal(err)
		}
	}
	for _, p := range f.pods {
		if err := k.Core().V1().Pods().Informer().GetIndexer().Add(p); err != nil {
			f.t.Fatal(err)
		}
	}
	f.controller = c
	return c
}

var alwaysReady = func() bool { return true }

// run syncs the Runner once.
func (f *fixture) run(r *octorunv1alpha1.Runner) (time.Duration, error) {
	_, ctx := ktesting.NewTestContext(f.t)
	c := f.newController(ctx)
	f.client.ClearActions()
	f.kubeClient.ClearActions()
	return c.sync(ctx, cache.MetaObjectToName(r))
}

// actions returns the actions of a clientset as "verb resource[/subresource]",
// without list and watch.
func actions(client interface{ Actions() []core.Action }) []string {
	var out []string
	for _, a := range client.Actions() {
		if a.GetVerb() == "list" || a.GetVerb() == "watch" {
			continue
		}
		s := a.GetVerb() + " " + a.GetResource().Resource
		if sub := a.GetSubresource(); sub != "" {
			s += "/" + sub
		}
		out = append(out, s)
	}
	return out
}

// runner reads the Runner back from the fake clientset.
func (f *fixture) runner(name string) *octorunv1alpha1.Runner {
	f.t.Helper()
	r, err := f.client.OctorunV1alpha1().Runners("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatalf("Getting Runner %s: %v", name, err)
	}
	return r
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

func newRunner(name string) *octorunv1alpha1.Runner {
	return &octorunv1alpha1.Runner{
		TypeMeta: metav1.TypeMeta{APIVersion: octorunv1alpha1.SchemeGroupVersion.String(), Kind: "Runner"},
		ObjectMeta: metav1.ObjectMeta{
			Name:       name,
			Namespace:  "default",
			UID:        types.UID(name + "-uid"),
			Generation: 1,
			Labels:     map[string]string{octorunv1alpha1.LabelRunner: name, "octorun.github.io/size": "large"},
		},
		Spec: octorunv1alpha1.RunnerSpec{
			URL:     "https://github.com/octo",
			Group:   "Default",
			Workdir: "_work",
			Image:   octorunv1alpha1.RunnerImage{Name: octorunv1alpha1.DefaultRunnerImage, PullPolicy: corev1.PullIfNotPresent},
		},
	}
}

// registered returns a Runner registered as id, with the finalizer.
func registered(r *octorunv1alpha1.Runner, id int64, phase octorunv1alpha1.RunnerPhase) *octorunv1alpha1.Runner {
	r.Spec.ID, r.Spec.OS = id, "Linux"
	r.Finalizers = []string{octorunv1alpha1.RunnerFinalizer}
	r.Status.Phase = phase
	return r
}

// podOf returns the Runner's pod in the given pod phase; running makes its
// container run.
func podOf(r *octorunv1alpha1.Runner, phase corev1.PodPhase, running bool) *corev1.Pod {
	p := newPod(r, octorunv1alpha1.DefaultRunnerImage)
	p.UID = types.UID(r.Name + "-pod-uid")
	p.Spec.NodeName = "node-1"
	p.Status.Phase = phase
	cs := corev1.ContainerStatus{Name: runnerContainer, Image: p.Spec.Containers[0].Image}
	if running {
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.Now()}
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
	return p
}

func resourceQuantity(s string) *resource.Quantity {
	q := resource.MustParse(s)
	return &q
}
