// Package runneragent plays the runner process of Octorun's runner pods on
// kwok nodes, where no container runs: when a runner pod is Running it
// connects the runner with the pod's JIT config to the GitHub simulator,
// reporting the version of the pod's runner image, and it makes the pod exit
// with the code the real runner's run.sh would exit with.
//
// The exit codes follow actions/runner: the listener returns a ReturnCode
// (src/Runner.Common/Constants.cs) and src/Misc/layoutroot/run-helper.sh
// (and run.sh) turn it into the process's exit code:
//
//	listener code                          exit
//	0 success (after its job)              0
//	1 terminated (runner not found, gone)  0
//	5 session conflict                     0
//	7 version deprecated                   7 if ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE=1, else 0
//	anything else unknown                  0
//
// So a pod that exits 0 did not necessarily run a job.
package runneragent

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	// ConnectRunner creates the runner's session, as its listener does.
	ConnectRunner(id int64, version string) error
	SetRunnerOnline(id int64, online bool) error
}

const (
	// jitConfigEnv is where Octorun's runner pods get their JIT config
	// (actions/runner src/Runner.Listener/CommandSettings.cs reads
	// ACTIONS_RUNNER_INPUT_JITCONFIG).
	jitConfigEnv = "ACTIONS_RUNNER_INPUT_JITCONFIG"
	// DeprecatedExitCodeEnv makes a runner whose version is deprecated exit
	// 7 instead of 0 (actions/runner run-helper.sh.template and
	// Program.cs GetRunnerVersionDeprecatedExitCode).
	DeprecatedExitCodeEnv = "ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE"
	// RunnerContainer is the name of the container whose image tag gives
	// the runner's version.
	RunnerContainer = "runner"
	// ExitVersionDeprecated is run-helper.sh's exit code for a deprecated
	// runner version (Constants.cs ReturnCode.RunnerVersionDeprecated).
	ExitVersionDeprecated = 7
)

// Agent plays the runners of the pods of one namespace ("" for all).
type Agent struct {
	Client    kubernetes.Interface
	Sim       Simulator
	Namespace string
	// Interval between two looks; zero means 50ms.
	Interval time.Duration
	// SessionConflictDelay is how long the second process of a runner
	// (another pod with the same JIT config) keeps trying before it exits
	// 0. The real listener retries for four minutes (actions/runner
	// src/Runner.Listener/MessageListener.cs _sessionConflictRetryLimit);
	// zero exits at once.
	SessionConflictDelay time.Duration
	// Errorf reports problems; nil means they are ignored.
	Errorf func(format string, args ...any)
	// now is the clock; nil means time.Now.
	now func() time.Time

	runners   map[types.UID]int64     // pod → simulator runner it connected
	conflicts map[types.UID]time.Time // pod → when its session first conflicted
}

// Run plays the runners until ctx is done. It watches the runner pods
// through an informer, so looking often costs the API server nothing.
func (a *Agent) Run(ctx context.Context) {
	if a.Interval == 0 {
		a.Interval = 50 * time.Millisecond
	}
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
	if a.runners == nil {
		a.runners = map[types.UID]int64{}
		a.conflicts = map[types.UID]time.Time{}
	}
	if a.now == nil {
		a.now = time.Now
	}
	pods, err := lister.List(labels.Everything())
	if err != nil {
		return err
	}
	live := make(map[types.UID]bool, len(pods))
	var errs []error
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
			continue // its runner process is gone: below
		}
		live[pod.UID] = true
		if pod.Status.Phase != corev1.PodRunning {
			continue
		}
		if _, exiting := pod.Annotations[controlplane.ExitCodeAnnotation]; exiting {
			continue
		}
		if err := a.play(ctx, pod); err != nil {
			errs = append(errs, err)
		}
	}
	// A runner whose pod is deleted or ended lost its process: GitHub sees
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
	for uid := range a.conflicts {
		if !live[uid] {
			delete(a.conflicts, uid)
		}
	}
	return errors.Join(errs...)
}

// play runs one Running pod's runner process one step: connect it, or see
// whether it ended.
func (a *Agent) play(ctx context.Context, pod *corev1.Pod) error {
	if id, connected := a.runners[pod.UID]; connected {
		if _, registered := a.Sim.Runner(id); registered {
			return nil
		}
		// The registration is gone: after its job the runner exits 0;
		// removed without one, the listener gets "runner not found" (code
		// 1), which run-helper.sh also turns into 0.
		return a.exit(ctx, pod, 0)
	}
	config, found, err := a.jitConfigOf(ctx, pod)
	if err != nil || !found {
		return err
	}
	id, _, err := githubsim.DecodeJITConfig(config)
	if err != nil {
		// The listener cannot read its settings: an unexpected exception is
		// a retryable error (2), and run.sh relaunches it forever.
		return nil
	}
	if _, registered := a.Sim.Runner(id); registered {
		if _, ok := a.Sim.RunnerByJITConfig(config); !ok {
			// Another runner's id with credentials GitHub did not issue:
			// the listener is refused as if not found (code 1, exit 0).
			return a.exit(ctx, pod, 0)
		}
	}
	container := runnerContainer(pod)
	err = a.Sim.ConnectRunner(id, VersionOfImage(container.Image))
	switch {
	case err == nil:
		a.runners[pod.UID] = id
		delete(a.conflicts, pod.UID)
		return nil
	case errors.Is(err, githubsim.ErrRunnerNotFound):
		return a.exit(ctx, pod, 0)
	case errors.Is(err, githubsim.ErrRunnerVersionDeprecated):
		return a.exit(ctx, pod, deprecatedExitCode(container))
	case errors.Is(err, githubsim.ErrSessionConflict):
		first, seen := a.conflicts[pod.UID]
		if !seen {
			first = a.now()
			a.conflicts[pod.UID] = first
		}
		if a.now().Sub(first) < a.SessionConflictDelay {
			return nil // the listener retries every 30 seconds
		}
		return a.exit(ctx, pod, 0)
	}
	return fmt.Errorf("starting runner %d of pod %s/%s: %w", id, pod.Namespace, pod.Name, err)
}

// deprecatedExitCode is what run-helper.sh exits with when the listener
// found its version deprecated: 7 only when the container's environment
// has ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE=1 (run-helper.sh
// compares with "1"), else the listener returns 1 and the script exits 0.
func deprecatedExitCode(c *corev1.Container) int {
	for _, env := range c.Env {
		if env.Name == DeprecatedExitCodeEnv && env.Value == "1" {
			return ExitVersionDeprecated
		}
	}
	return 0
}

// runnerContainer is the container named "runner", or else the one given
// the JIT config, or else the first.
func runnerContainer(pod *corev1.Pod) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == RunnerContainer {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.Containers {
		for _, env := range pod.Spec.Containers[i].Env {
			if env.Name == jitConfigEnv {
				return &pod.Spec.Containers[i]
			}
		}
	}
	if len(pod.Spec.Containers) == 0 {
		return &corev1.Container{}
	}
	return &pod.Spec.Containers[0]
}

// VersionOfImage is the runner version an image runs, read from its tag:
// "ghcr.io/actions/actions-runner:2.327.1" runs 2.327.1. An image without a
// tag, or whose tag is not a version ("latest"), runs the newest release,
// githubsim.LatestRunnerVersion.
func VersionOfImage(image string) string {
	ref, _, _ := strings.Cut(image, "@") // drop a digest
	name := ref[strings.LastIndex(ref, "/")+1:]
	if _, tag, ok := strings.Cut(name, ":"); ok && githubsim.ValidRunnerVersion(tag) {
		return strings.TrimPrefix(tag, "v")
	}
	return githubsim.LatestRunnerVersion
}

// jitConfigOf reads the JIT config a pod's runner starts with, from the
// container environment (a literal value or a Secret); found is false while
// there is none to read.
func (a *Agent) jitConfigOf(ctx context.Context, pod *corev1.Pod) (config string, found bool, err error) {
	for _, c := range pod.Spec.Containers {
		for _, env := range c.Env {
			if env.Name != jitConfigEnv {
				continue
			}
			if env.Value != "" {
				return env.Value, true, nil
			}
			if env.ValueFrom == nil || env.ValueFrom.SecretKeyRef == nil {
				continue
			}
			ref := env.ValueFrom.SecretKeyRef
			secret, err := a.Client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return "", false, nil
			}
			if err != nil {
				return "", false, err
			}
			return string(secret.Data[ref.Key]), true, nil
		}
	}
	return "", false, nil
}

// exit makes a pod's runner process exit with code (see the package
// documentation for which code the real runner exits with when).
func (a *Agent) exit(ctx context.Context, pod *corev1.Pod, code int) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"%d"}}}`, controlplane.ExitCodeAnnotation, code)
	_, err := a.Client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("ending pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}
