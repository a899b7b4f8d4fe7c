// Package runneragent plays the runner process of Octorun's runner pods on
// kwok nodes, where no container runs: when a runner pod is Running it tells
// the GitHub simulator that the runner with the pod's JIT config is online,
// and when the simulator's runner finished its job (or was removed from
// GitHub) it makes the pod exit, as the real runner exits after its one job.
package runneragent

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/framework/controlplane"
	"github.com/octorun/octorun/test/githubsim"
)

// Simulator is the part of the GitHub simulator the agent drives.
type Simulator interface {
	RunnerByJITConfig(encoded string) (githubsim.Runner, bool)
	Runner(id int64) (githubsim.Runner, bool)
	SetRunnerOnline(id int64, online bool) error
	Jobs() []githubsim.Job
}

// jitConfigEnv is where Octorun's runner pods get their JIT config.
const jitConfigEnv = "ACTIONS_RUNNER_INPUT_JITCONFIG"

// Agent plays the runners of the pods of one namespace ("" for all).
type Agent struct {
	Client    kubernetes.Interface
	Sim       Simulator
	Namespace string
	// Interval between two looks; zero means 50ms.
	Interval time.Duration
	// Errorf reports problems; nil means they are ignored.
	Errorf func(format string, args ...any)

	runners map[types.UID]int64 // pod → simulator runner
}

// Run plays the runners until ctx is done. It watches the runner pods
// through an informer, so looking often costs the API server nothing.
func (a *Agent) Run(ctx context.Context) {
	if a.Interval == 0 {
		a.Interval = 50 * time.Millisecond
	}
	a.runners = map[types.UID]int64{}
	factory := informers.NewSharedInformerFactoryWithOptions(a.Client, 0, informers.WithNamespace(a.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = octorunv1alpha1.LabelRunner }))
	pods := factory.Core().V1().Pods()
	informer := pods.Informer()
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return
	}
	ticker := time.NewTicker(a.Interval)
	defer ticker.Stop()
	for {
		if err := a.step(ctx, pods.Lister()); err != nil && ctx.Err() == nil && a.Errorf != nil {
			a.Errorf("runner agent: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func (a *Agent) step(ctx context.Context, lister corelisters.PodLister) error {
	pods, err := lister.List(labels.Everything())
	if err != nil {
		return err
	}
	var completed map[int64]bool // runners whose job completed, read when needed
	live := make(map[types.UID]bool, len(pods))
	var errs []error
	for _, pod := range pods {
		id, known := a.runners[pod.UID]
		if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodFailed {
			continue // its runner process is gone: below
		}
		live[pod.UID] = true
		if pod.Status.Phase != corev1.PodRunning {
			continue
		}
		if _, exiting := pod.Annotations[controlplane.ExitCodeAnnotation]; exiting {
			continue
		}
		if !known {
			r, err := a.runnerOf(ctx, pod)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if r == nil {
				continue
			}
			if err := a.Sim.SetRunnerOnline(r.ID, true); err != nil {
				errs = append(errs, fmt.Errorf("starting runner %d of pod %s/%s: %w", r.ID, pod.Namespace, pod.Name, err))
				continue
			}
			a.runners[pod.UID] = r.ID
			continue
		}
		if _, registered := a.Sim.Runner(id); registered {
			continue
		}
		// The runner is gone from GitHub: after its job, exit 0; removed
		// without one, the runner process fails.
		if !completed[id] {
			// The jobs may have moved on since the last look.
			completed = a.completedRunners()
		}
		code := "1"
		if completed[id] {
			code = "0"
		}
		if err := a.exit(ctx, pod, code); err != nil {
			errs = append(errs, err)
		}
	}
	// A runner whose pod is deleted or failed lost its process: GitHub sees
	// it go offline, and a job it ran fails, as a killed runner's would.
	for uid, id := range a.runners {
		if live[uid] {
			continue
		}
		delete(a.runners, uid)
		if r, registered := a.Sim.Runner(id); registered && r.Status == "online" {
			if err := a.Sim.SetRunnerOnline(id, false); err != nil {
				errs = append(errs, fmt.Errorf("stopping runner %d: %w", id, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (a *Agent) completedRunners() map[int64]bool {
	completed := map[int64]bool{}
	for _, job := range a.Sim.Jobs() {
		if job.Status == githubsim.JobCompleted && job.RunnerID != 0 {
			completed[job.RunnerID] = true
		}
	}
	return completed
}

// runnerOf finds the simulator's runner of a pod through its JIT config.
func (a *Agent) runnerOf(ctx context.Context, pod *corev1.Pod) (*githubsim.Runner, error) {
	for _, c := range pod.Spec.Containers {
		for _, env := range c.Env {
			if env.Name != jitConfigEnv || env.ValueFrom == nil || env.ValueFrom.SecretKeyRef == nil {
				continue
			}
			ref := env.ValueFrom.SecretKeyRef
			secret, err := a.Client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			r, ok := a.Sim.RunnerByJITConfig(string(secret.Data[ref.Key]))
			if !ok {
				return nil, nil // an unknown config: the real runner would fail to connect
			}
			return &r, nil
		}
	}
	return nil, nil
}

func (a *Agent) exit(ctx context.Context, pod *corev1.Pod, code string) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, controlplane.ExitCodeAnnotation, code)
	_, err := a.Client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("ending pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}
