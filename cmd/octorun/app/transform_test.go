package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubeinformers "k8s.io/client-go/informers"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"
	"sigs.k8s.io/yaml"

	"github.com/octorun/octorun/cmd/octorun/app/options"
	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/controller/runner"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned/fake"
	"github.com/octorun/octorun/pkg/github"
)

// TestTrimPodFields fills every field of a pod and lists the fields that
// survive the trim: exactly those the Runner controller reads.
func TestTrimPodFields(t *testing.T) {
	pod := &corev1.Pod{}
	fill(reflect.ValueOf(pod).Elem())
	got := leaves(reflect.ValueOf(trimPod(pod)).Elem(), "")
	want := []string{
		// Identity, ownership, creation and deletion: event handlers,
		// IsControlledBy, UID-preconditioned deletes, the wait for a new
		// pod to start.
		"metadata.creationTimestamp",
		"metadata.deletionTimestamp",
		"metadata.name",
		"metadata.namespace",
		"metadata.ownerReferences[].apiVersion",
		"metadata.ownerReferences[].blockOwnerDeletion",
		"metadata.ownerReferences[].controller",
		"metadata.ownerReferences[].kind",
		"metadata.ownerReferences[].name",
		"metadata.ownerReferences[].uid",
		"metadata.resourceVersion",
		"metadata.uid",
		// The disruption patch's diff.
		"metadata.annotations{}",
		"metadata.labels{}",
		// The image of an outdated runner; scheduled or not.
		"spec.containers[].image",
		"spec.containers[].name",
		"spec.nodeName",
		// How the runner runs or ended.
		"status.containerStatuses[].image",
		"status.containerStatuses[].name",
		"status.containerStatuses[].state.running.startedAt",
		"status.containerStatuses[].state.terminated.exitCode",
		"status.containerStatuses[].state.terminated.finishedAt",
		"status.containerStatuses[].state.terminated.reason",
		"status.containerStatuses[].state.terminated.signal",
		"status.containerStatuses[].state.terminated.startedAt",
		"status.containerStatuses[].state.waiting.message",
		"status.containerStatuses[].state.waiting.reason",
		"status.message",
		"status.phase",
		"status.reason",
		// What the informer's objects carry anyway.
		"apiVersion",
		"kind",
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fields kept (-want +got):\n%s", diff)
	}
}

func TestTrimPod(t *testing.T) {
	full := goldenPod(t, "pod-dind-settings.yaml")
	full.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "octorun"}}
	full.Spec.NodeName = "node-1"
	full.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: "10.0.0.1", HostIP: "192.168.0.1",
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "runner", Image: "ghcr.io/actions/actions-runner:2.336.0", ImageID: "sha256:0123", ContainerID: "containerd://4567",
			State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Unix(1_800_000_000, 0)}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: strings.Repeat("x", 4096)}},
		}},
		InitContainerStatuses: []corev1.ContainerStatus{{Name: "dind", Image: "docker:dind"}},
	}
	if len(full.Spec.Volumes) == 0 || len(full.Spec.Containers[0].Env) == 0 {
		t.Fatal("The golden pod has no volumes or environment to drop")
	}

	trimmed, err := TrimPod(full.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	pod := trimmed.(*corev1.Pod)
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"name", pod.Name, full.Name},
		{"labels", pod.Labels, full.Labels},
		{"annotations", pod.Annotations, full.Annotations},
		{"owner references", pod.OwnerReferences, full.OwnerReferences},
		{"node", pod.Spec.NodeName, full.Spec.NodeName},
		{"container images", pod.Spec.Containers[1].Image, full.Spec.Containers[1].Image},
		{"phase", pod.Status.Phase, full.Status.Phase},
		{"runner state", pod.Status.ContainerStatuses[0].State, full.Status.ContainerStatuses[0].State},
		{"managedFields", pod.ManagedFields, []metav1.ManagedFieldsEntry(nil)},
		{"volumes", pod.Spec.Volumes, []corev1.Volume(nil)},
		{"init containers", pod.Spec.InitContainers, []corev1.Container(nil)},
		{"environment", pod.Spec.Containers[0].Env, []corev1.EnvVar(nil)},
		{"security context", pod.Spec.SecurityContext, (*corev1.PodSecurityContext)(nil)},
		{"conditions", pod.Status.Conditions, []corev1.PodCondition(nil)},
		{"last termination", pod.Status.ContainerStatuses[0].LastTerminationState, corev1.ContainerState{}},
		{"init container statuses", pod.Status.InitContainerStatuses, []corev1.ContainerStatus(nil)},
	} {
		if diff := cmp.Diff(tc.want, tc.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}

	again, _ := TrimPod(pod.DeepCopy())
	if diff := cmp.Diff(pod, again); diff != "" {
		t.Errorf("The trim is not idempotent (-once +twice):\n%s", diff)
	}
	// Any other object loses its managedFields only; a tombstone passes.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", Labels: map[string]string{"a": "b"}, ManagedFields: full.ManagedFields}}
	if got, _ := TrimPod(ns); got.(*corev1.Namespace).ManagedFields != nil || got.(*corev1.Namespace).Labels["a"] != "b" {
		t.Errorf("TrimPod(namespace) = %+v", got)
	}
	tombstone := cache.DeletedFinalStateUnknown{Key: "default/r1", Obj: pod}
	if got, _ := TrimPod(tombstone); got != any(tombstone) {
		t.Errorf("TrimPod(tombstone) = %+v", got)
	}
}

// TestTrimPodRunnerController runs the Runner controller once on the pod
// informer of NewInformers and once on one that keeps whole pods, for pods
// in each state the controller tells apart, and compares what it wrote:
// the Runner's status and the pod's patches.
func TestTrimPodRunnerController(t *testing.T) {
	past := metav1.Unix(1_700_000_000, 0)
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: past}}
	waiting := func(reason, message string) corev1.ContainerState {
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}
	}
	terminated := func(code int32, reason string) corev1.ContainerState {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: code, Reason: reason, StartedAt: past, FinishedAt: past, Message: "the runner's last words", ContainerID: "containerd://1",
		}}
	}
	started := &octorunv1alpha1.JobAssignment{JobID: 5, RunID: 6, AssignedAt: past}
	completed := &octorunv1alpha1.JobAssignment{JobID: 5, RunID: 6, AssignedAt: past, CompletedAt: &past}
	for _, tc := range []struct {
		name   string
		golden string
		job    *octorunv1alpha1.JobAssignment
		pod    func(*corev1.Pod)
		want   octorunv1alpha1.RunnerPhase
	}{
		{name: "unscheduled", golden: "pod-plain.yaml", pod: func(p *corev1.Pod) {
			p.Spec.NodeName = ""
			p.Status.Phase = corev1.PodPending
		}, want: octorunv1alpha1.RunnerPhasePending},
		{name: "starting", golden: "pod-settings.yaml", pod: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "runner", State: waiting("ContainerCreating", "")}}
		}, want: octorunv1alpha1.RunnerPhasePending},
		{name: "image pull back-off", golden: "pod-dind.yaml", pod: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "runner", Image: "ghcr.io/actions/actions-runner:9", State: waiting("ImagePullBackOff", "Back-off pulling image")}}
		}, want: octorunv1alpha1.RunnerPhasePending},
		{name: "invalid image", golden: "pod-kubernetes.yaml", pod: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "runner", Image: "not an image", State: waiting("InvalidImageName", "couldn't parse image name")}}
		}, want: octorunv1alpha1.RunnerPhaseFailed},
		{name: "running", golden: "pod-dind-settings.yaml", pod: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "dind", State: running}, {Name: "runner", State: running}}
		}, want: octorunv1alpha1.RunnerPhaseIdle},
		{name: "running a job", golden: "pod-kubernetes-settings.yaml", job: started, pod: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "runner", State: running}}
		}, want: octorunv1alpha1.RunnerPhaseActive},
		{name: "running a job, the pod being deleted", golden: "pod-settings.yaml", job: started, pod: func(p *corev1.Pod) {
			p.DeletionTimestamp = &past
			p.Finalizers = []string{"example.com/keep"}
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "runner", State: running}}
		}, want: octorunv1alpha1.RunnerPhaseActive},
		{name: "exited after its job", golden: "pod-plain.yaml", job: completed, pod: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodSucceeded
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "runner", State: terminated(0, "Completed")}}
		}, want: octorunv1alpha1.RunnerPhaseComplete},
		{name: "exited with no job seen", golden: "pod-settings.yaml", pod: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodSucceeded
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "runner", State: terminated(0, "Completed")}}
		}, want: octorunv1alpha1.RunnerPhaseComplete},
		{name: "outdated", golden: "pod-settings.yaml", pod: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "runner", State: terminated(octorunv1alpha1.ExitCodeVersionDeprecated, "Error")}}
		}, want: octorunv1alpha1.RunnerPhaseFailed},
		{name: "failed during its job", golden: "pod-dind.yaml", job: started, pod: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "runner", State: terminated(137, "OOMKilled")}}
		}, want: octorunv1alpha1.RunnerPhaseFailed},
		{name: "evicted", golden: "pod-plain.yaml", pod: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
			p.Status.Reason, p.Status.Message = "Evicted", "The node was low on resource: memory."
		}, want: octorunv1alpha1.RunnerPhaseFailed},
		{name: "someone else's pod", golden: "pod-plain.yaml", pod: func(p *corev1.Pod) {
			p.OwnerReferences[0].UID = "another-uid"
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "runner", State: running}}
		}, want: octorunv1alpha1.RunnerPhasePending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := goldenPod(t, tc.golden)
			// Created long ago: the controller writes Pending at once.
			pod.UID, pod.ResourceVersion, pod.CreationTimestamp, pod.Spec.NodeName = "pod-uid", "7", past, "node-1"
			tc.pod(pod)
			r := &octorunv1alpha1.Runner{
				ObjectMeta: metav1.ObjectMeta{
					Name: "r1", Namespace: "default", UID: "r1-uid", Generation: 1, ResourceVersion: "3",
					Labels:     map[string]string{octorunv1alpha1.LabelRunner: "r1"},
					Finalizers: []string{octorunv1alpha1.RunnerFinalizer},
				},
				Spec: octorunv1alpha1.RunnerSpec{URL: "https://github.com/octo", Group: "Default", ID: 101, OS: "Linux"},
			}
			if tc.job != nil {
				r.Annotations = map[string]string{octorunv1alpha1.AnnotationJobAssignment: tc.job.String()}
			}

			whole := runOnce(t, r, pod, false)
			trimmed := runOnce(t, r, pod, true)
			if whole.status.Phase != tc.want {
				t.Errorf("Phase = %q, want %q (conditions %+v)", whole.status.Phase, tc.want, whole.status.Conditions)
			}
			if diff := cmp.Diff(whole, trimmed, cmp.AllowUnexported(written{})); diff != "" {
				t.Errorf("What the controller wrote (-whole pod +trimmed pod):\n%s", diff)
			}
		})
	}
}

// written is what a sync of the Runner controller wrote.
type written struct {
	status  octorunv1alpha1.RunnerStatus // conditions without their times
	patches []string                     // of the pod
}

// runOnce runs the Runner controller until it writes the Runner's status,
// on the informers of NewInformers when trim, else on informers that keep
// whole pods.
func runOnce(t *testing.T, r *octorunv1alpha1.Runner, pod *corev1.Pod, trim bool) written {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	kube := k8sfake.NewClientset(pod.DeepCopy())
	octorun := fake.NewSimpleClientset(r.DeepCopy())
	i := NewInformers(Clients{Kube: kube, Octorun: octorun}, &options.Options{})
	pods := i.Kube.Core().V1().Pods()
	if !trim {
		whole := kubeinformers.NewSharedInformerFactoryWithOptions(kube, 0, kubeinformers.WithTransform(StripManagedFields))
		pods = whole.Core().V1().Pods()
		pods.Informer()
		i.Kube = whole
	}

	var mu sync.Mutex
	var w written
	statuses := make(chan octorunv1alpha1.RunnerStatus, 1)
	kube.PrependReactor("patch", "pods", func(a core.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		w.patches = append(w.patches, string(a.(core.PatchAction).GetPatch()))
		return false, nil, nil
	})
	octorun.PrependReactor("update", "runners", func(a core.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "status" {
			select {
			case statuses <- a.(core.UpdateAction).GetObject().(*octorunv1alpha1.Runner).Status:
			default:
			}
		}
		return false, nil, nil
	})

	c, err := runner.New(ctx, kube, octorun, goneGitHub{}, i.Octorun.Octorun().V1alpha1().Runners(), pods, runner.Options{
		Grants: grantAll{}, ExitGracePeriod: time.Nanosecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	i.Start(ctx)
	done := make(chan error)
	go func() { done <- c.Run(ctx, 1) }()
	defer func() {
		cancel()
		<-done
		i.Shutdown()
	}()

	select {
	case w.status = <-statuses:
	case <-time.After(wait):
		t.Fatalf("The controller wrote no status in %s", wait)
	}
	if got, _ := pods.Lister().Pods(pod.Namespace).Get(pod.Name); trim && got != nil && got.Spec.Volumes != nil {
		t.Errorf("NewInformers cached the pod whole")
	}
	for i := range w.status.Conditions {
		w.status.Conditions[i].LastTransitionTime = metav1.Time{}
	}
	mu.Lock()
	defer mu.Unlock()
	return w
}

// wait bounds a run of the controller, so a broken controller fails the
// test rather than hanging it; a run takes milliseconds.
const wait = 30 * time.Second

type grantAll struct{}

func (grantAll) Check(namespace, url, group string) error { return nil }

// goneGitHub has every registration removed, as after an ephemeral
// runner's job.
type goneGitHub struct{}

func (goneGitHub) RunnerGroupID(context.Context, github.Scope, string) (int64, error) {
	return 1, nil
}

func (goneGitHub) GenerateJITConfig(context.Context, github.Scope, github.JITConfigRequest) (*github.JITConfig, error) {
	return nil, errors.New("not expected")
}

func (goneGitHub) FindRunnerByName(context.Context, github.Scope, string) (*github.Runner, error) {
	return nil, github.ErrNotFound
}

func (goneGitHub) GetRunner(context.Context, github.Scope, int64) (*github.Runner, error) {
	return nil, github.ErrNotFound
}

func (goneGitHub) DeleteRunner(context.Context, github.Scope, int64) error { return nil }

// goldenPod reads a pod the Runner controller makes, from its golden
// files.
func goldenPod(t *testing.T, name string) *corev1.Pod {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "pkg", "controller", "runner", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{}
	if err := yaml.Unmarshal(data, pod); err != nil {
		t.Fatal(err)
	}
	return pod
}

// fill sets every settable field of v, every slice and map to one element.
func fill(v reflect.Value) {
	switch v.Interface().(type) {
	case metav1.Time:
		v.Set(reflect.ValueOf(metav1.Unix(1_800_000_000, 0)))
		return
	case metav1.MicroTime:
		v.Set(reflect.ValueOf(metav1.NewMicroTime(time.Unix(1_800_000_000, 0))))
		return
	case resource.Quantity:
		v.Set(reflect.ValueOf(resource.MustParse("1")))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case reflect.Map:
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		v.Set(reflect.MakeMap(v.Type()))
		v.SetMapIndex(k, e)
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	default:
		panic(fmt.Sprintf("fill: unexpected kind %s at %s", v.Kind(), v.Type()))
	}
}

// leaves returns the JSON paths of the non-zero leaves of v, sorted; maps
// count as leaves.
func leaves(v reflect.Value, path string) []string {
	var out []string
	switch v.Interface().(type) {
	case metav1.Time, metav1.MicroTime, resource.Quantity:
		if !v.IsZero() {
			out = append(out, path)
		}
		return out
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			out = leaves(v.Elem(), path)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			p := path
			if name != "" {
				p = strings.TrimPrefix(path+"."+name, ".")
			}
			out = append(out, leaves(v.Field(i), p)...)
		}
	case reflect.Slice:
		for i := range v.Len() {
			out = append(out, leaves(v.Index(i), path+"[]")...)
		}
	case reflect.Map:
		if v.Len() > 0 {
			out = append(out, path+"{}")
		}
	default:
		if !v.IsZero() {
			out = append(out, path)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
