package runner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/github"
)

func conditionReason(r *octorunv1alpha1.Runner, condType string) string {
	if c := meta.FindStatusCondition(r.Status.Conditions, condType); c != nil {
		return string(c.Status) + "/" + c.Reason
	}
	return ""
}

// TestRunnerWithFinalizerRegistersAtOnce: a Runner created with the
// finalizer (as the RunnerSet controller creates them) is registered with
// no read first: an earlier attempt's registration would show as GitHub's
// 409 for the name (TestRecoversIDFromSecret).
func TestRunnerWithFinalizerRegistersAtOnce(t *testing.T) {
	f := newFixture(t)
	r := newRunner("r1")
	r.Finalizers = []string{octorunv1alpha1.RunnerFinalizer}
	f.addRunner(r)

	if _, err := f.run(r); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"update runners"}, actions(f.client)); diff != "" {
		t.Errorf("Octorun actions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"create secrets", "create pods"}, actions(f.kubeClient)); diff != "" {
		t.Errorf("Kubernetes actions (-want +got):\n%s", diff)
	}
}

func TestRegistersANewRunner(t *testing.T) {
	f := newFixture(t)
	r := newRunner("r1")
	f.addRunner(r)

	requeue, err := f.run(r)
	if err != nil || requeue != pendingFold {
		t.Fatalf("sync = %v, %v; want no error and a look after %v", requeue, err, pendingFold)
	}
	if diff := cmp.Diff([]string{"RunnerGroupID", "GenerateJITConfig"}, f.github.calls); diff != "" {
		t.Errorf("GitHub calls (-want +got):\n%s", diff)
	}
	req := f.github.jitReqs[0]
	if diff := cmp.Diff(github.JITConfigRequest{
		Name: "test-default.r1", RunnerGroupID: 1, Labels: []string{"self-hosted", "Linux", "X64", "size=large"}, WorkFolder: "_work",
	}, req); diff != "" {
		t.Errorf("JIT request (-want +got):\n%s", diff)
	}
	// The finalizer, then spec.id: no read. The status, Pending while the
	// new pod starts, is left for the pod's start.
	wantOctorun := []string{"update runners", "update runners"}
	if diff := cmp.Diff(wantOctorun, actions(f.client)); diff != "" {
		t.Errorf("Octorun actions (-want +got):\n%s", diff)
	}
	wantKube := []string{"create secrets", "create pods"}
	if diff := cmp.Diff(wantKube, actions(f.kubeClient)); diff != "" {
		t.Errorf("Kubernetes actions (-want +got):\n%s", diff)
	}

	got := f.runner("r1")
	if got.Spec.ID != 101 || got.Spec.OS != "Linux" {
		t.Errorf("spec.id/os = %d/%q, want 101/Linux", got.Spec.ID, got.Spec.OS)
	}
	if got.Status.Phase != "" || len(got.Status.Conditions) != 0 {
		t.Errorf("status = %+v, want none yet", got.Status)
	}
	secret, err := f.kubeClient.CoreV1().Secrets("default").Get(context.Background(), "r1", metav1.GetOptions{})
	if err != nil || string(secret.Data[jitConfigKey]) != "c2VjcmV0LWNvbmZpZw==" || !metav1.IsControlledBy(secret, r) {
		t.Errorf("Secret = %+v, %v; want the JIT config, owned by the Runner", secret, err)
	}
	for _, e := range f.events() {
		if strings.Contains(e, "c2VjcmV0") {
			t.Errorf("An event shows the JIT config: %s", e)
		}
	}
	pod, err := f.kubeClient.CoreV1().Pods("default").Get(context.Background(), "r1", metav1.GetOptions{})
	if err != nil || !metav1.IsControlledBy(pod, r) {
		t.Fatalf("Pod = %v, %v; want one owned by the Runner", pod, err)
	}
}

func TestPodCarriesTheSpec(t *testing.T) {
	r := newRunner("r1")
	r.Spec.Image = octorunv1alpha1.RunnerImage{Name: "example.com/runner:1", PullPolicy: corev1.PullAlways,
		PullSecrets: []corev1.LocalObjectReference{{Name: "pull"}}}
	r.Spec.Placement = octorunv1alpha1.RunnerPlacement{
		NodeSelector: map[string]string{"pool": "ci"},
		Tolerations:  []corev1.Toleration{{Key: "ci", Operator: corev1.TolerationOpExists}},
		Affinity:     &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}},
	}
	r.Spec.Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: *resourceQuantity("2")}}
	r.Spec.ServiceAccountName = "ci"
	r.Spec.SecurityContext = &corev1.SecurityContext{RunAsUser: new(int64)}
	runtimeClass := "gvisor"
	r.Spec.RuntimeClassName = &runtimeClass
	r.Spec.Volumes = []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	r.Spec.VolumeMounts = []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}}
	r.Labels[octorunv1alpha1.LabelRunnerSet] = "set"

	pod := newPod(r, octorunv1alpha1.DefaultRunnerImage)
	c := pod.Spec.Containers[0]
	checks := map[string]bool{
		"image":            c.Image == "example.com/runner:1",
		"pullPolicy":       c.ImagePullPolicy == corev1.PullAlways,
		"pullSecrets":      len(pod.Spec.ImagePullSecrets) == 1 && pod.Spec.ImagePullSecrets[0].Name == "pull",
		"nodeSelector":     pod.Spec.NodeSelector["pool"] == "ci",
		"tolerations":      len(pod.Spec.Tolerations) == 1,
		"affinity":         pod.Spec.Affinity != nil && pod.Spec.Affinity.NodeAffinity != nil,
		"resources":        c.Resources.Limits.Cpu().String() == "2",
		"serviceAccount":   pod.Spec.ServiceAccountName == "ci" && *pod.Spec.AutomountServiceAccountToken,
		"securityContext":  c.SecurityContext != nil && *c.SecurityContext.RunAsUser == 0,
		"runtimeClassName": pod.Spec.RuntimeClassName != nil && *pod.Spec.RuntimeClassName == "gvisor",
		"volumes":          len(pod.Spec.Volumes) == 1 && pod.Spec.Volumes[0].Name == "cache",
		"volumeMounts":     len(c.VolumeMounts) == 1 && c.VolumeMounts[0].MountPath == "/cache",
		"restartPolicy":    pod.Spec.RestartPolicy == corev1.RestartPolicyNever,
		"command":          len(c.Command) == 1 && c.Command[0] == "/home/runner/run.sh",
		"jitconfig":        len(c.Env) == 2 && c.Env[0].Name == "ACTIONS_RUNNER_INPUT_JITCONFIG" && c.Env[0].ValueFrom.SecretKeyRef.Name == "r1",
		"exit code 7":      len(c.Env) == 2 && c.Env[1].Name == "ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE" && c.Env[1].Value == "1",
		"labels":           pod.Labels[octorunv1alpha1.LabelRunner] == "r1" && pod.Labels[octorunv1alpha1.LabelRunnerSet] == "set",
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("The pod does not carry the Runner's %s: %+v", name, pod.Spec)
		}
	}

	// Defaults: non-root, no API token.
	plain := newPod(newRunner("r2"), octorunv1alpha1.DefaultRunnerImage)
	sc := plain.Spec.Containers[0].SecurityContext
	if sc == nil || !*sc.RunAsNonRoot || *sc.RunAsUser != runnerUID {
		t.Errorf("Default security context = %+v, want non-root uid %d", sc, runnerUID)
	}
	if *plain.Spec.AutomountServiceAccountToken {
		t.Error("A runner without a service account gets an API token")
	}
}

func TestPhases(t *testing.T) {
	running := func(r *octorunv1alpha1.Runner) *corev1.Pod { return podOf(r, corev1.PodRunning, true) }
	job := octorunv1alpha1.JobAssignment{JobID: 7, RunID: 3, AssignedAt: metav1.Unix(1_800_000_000, 0)}.String()
	tests := []struct {
		name       string
		phase      octorunv1alpha1.RunnerPhase
		annotation string
		pod        func(*octorunv1alpha1.Runner) *corev1.Pod
		wantPhase  octorunv1alpha1.RunnerPhase
		wantReason string // PodReady
		wantEvict  map[string]string
	}{
		{name: "pod scheduled, not running", phase: octorunv1alpha1.RunnerPhasePending,
			pod:       func(r *octorunv1alpha1.Runner) *corev1.Pod { return podOf(r, corev1.PodPending, false) },
			wantPhase: octorunv1alpha1.RunnerPhasePending, wantReason: "False/PodPending"},
		{name: "pod running", phase: octorunv1alpha1.RunnerPhasePending, pod: running,
			wantPhase: octorunv1alpha1.RunnerPhaseIdle, wantReason: "True/PodRunning", wantEvict: map[string]string{annotationSafeToEvict: "true"}},
		{name: "job assigned", phase: octorunv1alpha1.RunnerPhaseIdle, annotation: job, pod: running,
			wantPhase: octorunv1alpha1.RunnerPhaseActive, wantReason: "True/PodRunning",
			wantEvict: map[string]string{annotationSafeToEvict: "false", annotationDoNotDisrupt: "true"}},
		{name: "pod succeeded", phase: octorunv1alpha1.RunnerPhaseActive, annotation: job,
			pod:       func(r *octorunv1alpha1.Runner) *corev1.Pod { return podOf(r, corev1.PodSucceeded, false) },
			wantPhase: octorunv1alpha1.RunnerPhaseComplete, wantReason: "False/PodTerminated"},
		{name: "pod failed", phase: octorunv1alpha1.RunnerPhaseIdle,
			pod:       func(r *octorunv1alpha1.Runner) *corev1.Pod { return podOf(r, corev1.PodFailed, false) },
			wantPhase: octorunv1alpha1.RunnerPhaseFailed, wantReason: "False/PodTerminated"},
		{name: "pod evicted", phase: octorunv1alpha1.RunnerPhaseIdle,
			pod: func(r *octorunv1alpha1.Runner) *corev1.Pod {
				p := podOf(r, corev1.PodFailed, false)
				p.Status.Reason = "Evicted"
				return p
			},
			wantPhase: octorunv1alpha1.RunnerPhaseFailed, wantReason: "False/PodTerminated"},
		{name: "image cannot be pulled", phase: octorunv1alpha1.RunnerPhasePending,
			pod: func(r *octorunv1alpha1.Runner) *corev1.Pod {
				p := podOf(r, corev1.PodPending, false)
				p.Status.ContainerStatuses[0].State.Waiting = &corev1.ContainerStateWaiting{Reason: "InvalidImageName"}
				return p
			},
			wantPhase: octorunv1alpha1.RunnerPhaseFailed, wantReason: "False/ImagePullFailed"},
		{name: "image pull backing off", phase: octorunv1alpha1.RunnerPhasePending,
			pod: func(r *octorunv1alpha1.Runner) *corev1.Pod {
				p := podOf(r, corev1.PodPending, false)
				p.Status.ContainerStatuses[0].State.Waiting = &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "back-off"}
				return p
			},
			wantPhase: octorunv1alpha1.RunnerPhasePending, wantReason: "False/PodPending"},
		{name: "pod of an idle runner deleted", phase: octorunv1alpha1.RunnerPhaseIdle,
			wantPhase: octorunv1alpha1.RunnerPhaseFailed, wantReason: "False/PodMissing"},
		{name: "complete stays complete", phase: octorunv1alpha1.RunnerPhaseComplete, pod: running,
			wantPhase: octorunv1alpha1.RunnerPhaseComplete, wantReason: "True/PodRunning"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			r := registered(newRunner("r1"), 101, tt.phase)
			if tt.annotation != "" {
				r.Annotations = map[string]string{octorunv1alpha1.AnnotationJobAssignment: tt.annotation}
			}
			f.addRunner(r)
			if tt.pod != nil {
				f.addPod(tt.pod(r))
			}
			if _, err := f.run(r); err != nil {
				t.Fatalf("sync: %v", err)
			}
			if len(f.github.calls) != 0 {
				t.Errorf("GitHub calls %v, want none for a registered runner", f.github.calls)
			}
			got := f.runner("r1")
			if got.Status.Phase != tt.wantPhase {
				t.Errorf("phase = %s, want %s", got.Status.Phase, tt.wantPhase)
			}
			if reason := conditionReason(got, octorunv1alpha1.RunnerConditionPodReady); reason != tt.wantReason {
				t.Errorf("PodReady = %s, want %s", reason, tt.wantReason)
			}
			if tt.wantEvict != nil {
				pod, _ := f.kubeClient.CoreV1().Pods("default").Get(context.Background(), "r1", metav1.GetOptions{})
				for k, v := range tt.wantEvict {
					if pod.Annotations[k] != v {
						t.Errorf("pod annotation %s = %q, want %q", k, pod.Annotations[k], v)
					}
				}
				if _, ok := tt.wantEvict[annotationDoNotDisrupt]; !ok && pod.Annotations[annotationDoNotDisrupt] != "" {
					t.Errorf("pod keeps %s while %s", annotationDoNotDisrupt, tt.wantPhase)
				}
			}
		})
	}
}

// A runner holding a job has its pod labelled busy, under the namespace's
// PodDisruptionBudget that allows no eviction, so a node drain waits for
// the job (a reliability suite finding: drains killed jobs). Once the
// runner is Idle again, or done, the label goes.
func TestBusyPodsAreProtectedFromEviction(t *testing.T) {
	job := octorunv1alpha1.JobAssignment{JobID: 7, AssignedAt: metav1.Unix(1_800_000_000, 0)}.String()
	f := newFixture(t)
	r := registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhaseIdle)
	r.Annotations = map[string]string{octorunv1alpha1.AnnotationJobAssignment: job}
	pod := podOf(r, corev1.PodRunning, true)
	f.addRunner(r)
	f.addPod(pod)
	for range 2 {
		if _, err := f.run(r); err != nil {
			t.Fatalf("sync: %v", err)
		}
	}
	ctx := context.Background()
	got, err := f.kubeClient.CoreV1().Pods("default").Get(ctx, "r1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Labels[octorunv1alpha1.LabelBusy] != "true" {
		t.Errorf("busy label = %q, want true", got.Labels[octorunv1alpha1.LabelBusy])
	}
	pdb, err := f.kubeClient.PolicyV1().PodDisruptionBudgets("default").Get(ctx, octorunv1alpha1.BusyRunnersPDB, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("PodDisruptionBudget: %v", err)
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 0 ||
		pdb.Spec.Selector.MatchLabels[octorunv1alpha1.LabelBusy] != "true" {
		t.Errorf("PodDisruptionBudget spec = %+v, want maxUnavailable 0 of busy pods", pdb.Spec)
	}
	creates := 0
	for _, a := range actions(f.kubeClient) {
		if a == "create poddisruptionbudgets" {
			creates++
		}
	}
	if creates != 1 {
		t.Errorf("PodDisruptionBudget created %d times, want once", creates)
	}

	// No longer busy: the label goes.
	if got := busyLabels(octorunv1alpha1.RunnerPhaseIdle); len(got) != 0 {
		t.Errorf("busyLabels(Idle) = %v, want none", got)
	}
	patch := diffKeys(map[string]string{octorunv1alpha1.LabelBusy: "true"}, busyLabels(octorunv1alpha1.RunnerPhaseComplete), octorunv1alpha1.LabelBusy)
	if v, ok := patch[octorunv1alpha1.LabelBusy]; !ok || v != nil {
		t.Errorf("patch of a done runner's pod = %v, want the busy label removed", patch)
	}
}

// TestSteadyStateIsFree: a synced Idle or Active runner costs no GitHub call
// and no write when it is resynced.
func TestSteadyStateIsFree(t *testing.T) {
	job := octorunv1alpha1.JobAssignment{JobID: 7, AssignedAt: metav1.Unix(1_800_000_000, 0)}.String()
	for _, phase := range []octorunv1alpha1.RunnerPhase{octorunv1alpha1.RunnerPhaseIdle, octorunv1alpha1.RunnerPhaseActive} {
		t.Run(string(phase), func(t *testing.T) {
			f := newFixture(t)
			r := registered(newRunner("r1"), 101, phase)
			if phase == octorunv1alpha1.RunnerPhaseActive {
				r.Annotations = map[string]string{octorunv1alpha1.AnnotationJobAssignment: job}
			}
			pod := podOf(r, corev1.PodRunning, true)
			pod.Annotations = evictionAnnotations(phase)
			maps.Copy(pod.Labels, busyLabels(phase))
			status := computeStatus(r, observation{pod: pod, job: mustJob(t, r)}, metav1.Unix(1_800_000_000, 0))
			r.Status = status
			f.addRunner(r)
			f.addPod(pod)
			for range 3 {
				if _, err := f.run(r); err != nil {
					t.Fatalf("sync: %v", err)
				}
				if len(f.github.calls) != 0 || len(actions(f.client)) != 0 || len(actions(f.kubeClient)) != 0 {
					t.Fatalf("resync of a %s runner: GitHub %v, Octorun %v, Kubernetes %v; want nothing",
						phase, f.github.calls, actions(f.client), actions(f.kubeClient))
				}
			}
		})
	}
}

func mustJob(t *testing.T, r *octorunv1alpha1.Runner) *octorunv1alpha1.JobAssignment {
	job, err := octorunv1alpha1.JobAssignmentOf(r)
	if err != nil {
		t.Fatal(err)
	}
	return job
}

func TestRegistrationFailures(t *testing.T) {
	tests := []struct {
		name        string
		url         string
		groupErr    error
		jitErr      error
		found       *github.Runner
		deleteErr   error
		wantCalls   []string
		wantPhase   octorunv1alpha1.RunnerPhase
		wantReason  string
		wantRequeue time.Duration
		wantErr     bool
		wantID      int64
	}{
		{name: "unauthorized", jitErr: apiErr(401, github.ErrUnauthorized),
			wantCalls: []string{"RunnerGroupID", "GenerateJITConfig"}, wantPhase: octorunv1alpha1.RunnerPhasePending,
			wantReason: "False/Unauthorized", wantRequeue: time.Minute},
		{name: "unknown organization", jitErr: apiErr(404, github.ErrNotFound),
			wantCalls: []string{"RunnerGroupID", "GenerateJITConfig"}, wantPhase: octorunv1alpha1.RunnerPhasePending,
			wantReason: "False/ScopeNotFound", wantRequeue: time.Minute},
		{name: "unknown group", groupErr: fmt.Errorf("group x: %w", github.ErrRunnerGroupNotFound),
			wantCalls: []string{"RunnerGroupID"}, wantPhase: octorunv1alpha1.RunnerPhasePending,
			wantReason: "False/RunnerGroupNotFound", wantRequeue: time.Minute},
		{name: "rate limited", jitErr: &github.RetryAfterError{After: 42 * time.Second, Reason: "secondary rate limit"},
			wantCalls: []string{"RunnerGroupID", "GenerateJITConfig"}, wantPhase: octorunv1alpha1.RunnerPhasePending,
			wantReason: "False/RateLimited", wantRequeue: 42 * time.Second},
		{name: "GitHub down", jitErr: apiErr(502, github.ErrServer),
			wantCalls: []string{"RunnerGroupID", "GenerateJITConfig"}, wantPhase: octorunv1alpha1.RunnerPhasePending,
			wantReason: "False/RegistrationFailed", wantErr: true},
		{name: "invalid request", jitErr: apiErr(422, github.ErrInvalidRequest),
			wantCalls: []string{"RunnerGroupID", "GenerateJITConfig"}, wantPhase: octorunv1alpha1.RunnerPhaseFailed,
			wantReason: "False/RegistrationRejected"},
		{name: "endpoint spammed: transient", jitErr: apiErr(422, github.ErrEndpointSpammed),
			wantCalls: []string{"RunnerGroupID", "GenerateJITConfig"}, wantPhase: octorunv1alpha1.RunnerPhasePending,
			wantReason: "False/RegistrationFailed", wantErr: true},
		{name: "App not installed", jitErr: apiErr(404, github.ErrNotInstalled),
			wantCalls: []string{"RunnerGroupID", "GenerateJITConfig"}, wantPhase: octorunv1alpha1.RunnerPhasePending,
			wantReason: "False/NotInstalled", wantRequeue: time.Minute},
		{name: "name taken by an orphan", jitErr: apiErr(409, github.ErrRunnerNameTaken),
			found:     &github.Runner{ID: 55, Name: "test-default.r1", Status: "offline"},
			wantCalls: []string{"RunnerGroupID", "GenerateJITConfig", "FindRunnerByName", "DeleteRunner"},
			wantPhase: octorunv1alpha1.RunnerPhasePending, wantReason: "False/Registering", wantRequeue: time.Millisecond},
		{name: "name taken by an orphan GitHub will not delete yet", jitErr: apiErr(409, github.ErrRunnerNameTaken),
			found: &github.Runner{ID: 55, Name: "test-default.r1", Status: "offline"}, deleteErr: apiErr(422, github.ErrInvalidRequest),
			wantCalls: []string{"RunnerGroupID", "GenerateJITConfig", "FindRunnerByName", "DeleteRunner"},
			wantPhase: octorunv1alpha1.RunnerPhasePending, wantReason: "False/Registering", wantErr: true},
		{name: "name taken by a live runner", jitErr: apiErr(409, github.ErrRunnerNameTaken),
			found:     &github.Runner{ID: 55, Name: "test-default.r1", Status: "online"},
			wantCalls: []string{"RunnerGroupID", "GenerateJITConfig", "FindRunnerByName"},
			wantPhase: octorunv1alpha1.RunnerPhaseFailed, wantReason: "False/RunnerNameTaken"},
		{name: "URL of another GitHub", url: "https://ghe.example.com/octo",
			wantPhase: octorunv1alpha1.RunnerPhaseFailed, wantReason: "False/InvalidURL"},
		{name: "invalid URL", url: "https://github.com/octo/repo/extra",
			wantPhase: octorunv1alpha1.RunnerPhaseFailed, wantReason: "False/InvalidURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.github.groupErr, f.github.jitErr, f.github.found, f.github.deleteErr = tt.groupErr, tt.jitErr, tt.found, tt.deleteErr
			r := newRunner("r1")
			if tt.url != "" {
				r.Spec.URL = tt.url
			}
			f.addRunner(r)
			requeue, err := f.run(r)
			if (err != nil) != tt.wantErr {
				t.Fatalf("sync error = %v, want error %v", err, tt.wantErr)
			}
			if requeue != tt.wantRequeue {
				t.Errorf("requeue after %s, want %s", requeue, tt.wantRequeue)
			}
			if diff := cmp.Diff(tt.wantCalls, f.github.calls); diff != "" {
				t.Errorf("GitHub calls (-want +got):\n%s", diff)
			}
			got := f.runner("r1")
			if got.Status.Phase != tt.wantPhase {
				t.Errorf("phase = %s, want %s", got.Status.Phase, tt.wantPhase)
			}
			if reason := conditionReason(got, octorunv1alpha1.RunnerConditionRegistered); reason != tt.wantReason {
				t.Errorf("Registered = %s, want %s", reason, tt.wantReason)
			}
			if got.Spec.ID != tt.wantID {
				t.Errorf("spec.id = %d, want %d", got.Spec.ID, tt.wantID)
			}
			if pods, _ := f.kubeClient.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{}); len(pods.Items) != 0 {
				t.Errorf("A pod was created for an unregistered runner")
			}
		})
	}
}

func apiErr(status int, kind error) error {
	return fmt.Errorf("GitHub call: %d: %w", status, kind)
}

// TestRecoversIDFromSecret: the write of spec.id was lost after the Secret
// was stored; GitHub's 409 for the runner's name sends the next sync to the
// Secret, whose id it takes once GitHub shows the id carries the Runner's
// name. A Secret anyone could have written in the namespace makes Octorun
// adopt nobody else's runner: the Runner's name is free on GitHub, so it is
// registered anew and the Secret takes the new registration, as does one
// of a registration gone from GitHub.
func TestRecoversIDFromSecret(t *testing.T) {
	for _, tc := range []struct {
		name       string
		githubName string // of runner 777; empty: GitHub has no such runner
		wantID     int64
		wantCalls  []string
	}{
		{name: "Octorun's registration", githubName: "test-default.r1", wantID: 777,
			wantCalls: []string{"RunnerGroupID", "GenerateJITConfig", "GetRunner"}},
		{name: "another's runner", githubName: "victim-runner", wantID: 101,
			wantCalls: []string{"RunnerGroupID", "GenerateJITConfig"}},
		{name: "gone from GitHub", wantID: 101,
			wantCalls: []string{"RunnerGroupID", "GenerateJITConfig"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			r := newRunner("r1")
			r.Finalizers = []string{octorunv1alpha1.RunnerFinalizer}
			f.addRunner(r)
			f.addSecret(newSecret(r, 777, "test-default.r1", "Linux", "config"))
			if tc.githubName != "" {
				f.github.name(777, tc.githubName)
			} else {
				f.github.getErr = apiErr(404, github.ErrNotFound)
			}
			if _, err := f.run(r); err != nil {
				t.Fatalf("sync: %v", err)
			}
			if diff := cmp.Diff(tc.wantCalls, f.github.calls); diff != "" {
				t.Errorf("GitHub calls (-want +got):\n%s", diff)
			}
			got := f.runner("r1")
			if got.Spec.ID != tc.wantID {
				t.Errorf("spec.id = %d, want %d", got.Spec.ID, tc.wantID)
			}
			for _, cond := range got.Status.Conditions {
				if strings.Contains(cond.Message, "victim") {
					t.Errorf("Condition %s tells another runner's name: %q", cond.Type, cond.Message)
				}
			}
			secret, err := f.kubeClient.CoreV1().Secrets("default").Get(context.Background(), "r1", metav1.GetOptions{})
			if err != nil || secret.Annotations[annotationRunnerID] != strconv.FormatInt(tc.wantID, 10) {
				t.Errorf("Secret = %v, %v; want it to record runner %d", secret.Annotations, err, tc.wantID)
			}
		})
	}
}

// TestRecoversFromStaleCache: GitHub's 409 for the name of a Runner whose
// spec.id the cache does not show yet sends the sync to the live Runner,
// and nothing more is done.
func TestRecoversFromStaleCache(t *testing.T) {
	f := newFixture(t)
	r := newRunner("r1")
	r.Finalizers = []string{octorunv1alpha1.RunnerFinalizer}
	f.addRunner(r)
	f.github.name(555, "test-default.r1")
	_, ctx := ktesting.NewTestContext(t)
	c := f.newController(ctx)
	live := r.DeepCopy()
	live.Spec.ID = 555
	if _, err := f.client.OctorunV1alpha1().Runners("default").Update(ctx, live, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.client.ClearActions()
	if _, err := c.sync(ctx, cache.MetaObjectToName(r)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"RunnerGroupID", "GenerateJITConfig"}, f.github.calls); diff != "" {
		t.Errorf("GitHub calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"create pods"}, actions(f.kubeClient)); diff != "" {
		t.Errorf("Kubernetes actions (-want +got):\n%s", diff)
	}
	if got := f.runner("r1"); got.Spec.ID != 555 {
		t.Errorf("spec.id = %d, want 555", got.Spec.ID)
	}
}

// TestScopeNotGranted: a Runner whose namespace has no ScopeGrant for its
// scope makes no GitHub call and gets no finalizer; it says why and waits
// for a grant.
func TestScopeNotGranted(t *testing.T) {
	f := newFixture(t)
	r := newRunner("r1")
	f.grants[r.Spec.URL] = true
	f.addRunner(r)
	requeue, err := f.run(r)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	if len(f.github.calls) != 0 {
		t.Errorf("GitHub calls %v, want none", f.github.calls)
	}
	got := f.runner("r1")
	if len(got.Finalizers) != 0 || got.Spec.ID != 0 {
		t.Errorf("finalizers %v, spec.id %d: want neither", got.Finalizers, got.Spec.ID)
	}
	cond := meta.FindStatusCondition(got.Status.Conditions, octorunv1alpha1.RunnerConditionRegistered)
	if cond == nil || cond.Reason != octorunv1alpha1.ReasonScopeNotGranted || !strings.Contains(cond.Message, "ScopeGrant") {
		t.Errorf("Registered condition = %+v, want ScopeNotGranted", cond)
	}
	if requeue != time.Minute {
		t.Errorf("requeue after %s, want the retry period", requeue)
	}
}

// TestDeletionLeavesAnothersRunner: a Runner whose spec.id names a GitHub
// runner of another name (written by a tenant, not by Octorun) is released
// without removing that runner from GitHub.
func TestDeletionLeavesAnothersRunner(t *testing.T) {
	f := newFixture(t)
	now := metav1.Unix(1_800_000_000, 0)
	r := registered(newRunner("r1"), 555, octorunv1alpha1.RunnerPhaseIdle)
	r.DeletionTimestamp = &now
	f.addRunner(r)
	f.github.name(555, "victim-runner")
	if _, err := f.run(r); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if diff := cmp.Diff([]string{"GetRunner"}, f.github.calls); diff != "" {
		t.Errorf("GitHub calls (-want +got):\n%s", diff)
	}
	if got := f.runner("r1"); len(got.Finalizers) != 0 {
		t.Errorf("finalizers = %v, want none", got.Finalizers)
	}
}

// TestDeletionOfOwnRegistrationAsksNobody: the runner this process
// registered is removed with no question to GitHub first.
func TestDeletionOfOwnRegistrationAsksNobody(t *testing.T) {
	f := newFixture(t)
	r := newRunner("r1")
	f.addRunner(r)
	_, ctx := ktesting.NewTestContext(t)
	c := f.newController(ctx)
	if _, err := c.sync(ctx, cache.MetaObjectToName(r)); err != nil {
		t.Fatalf("sync: %v", err)
	}
	got := f.runner("r1")
	now := metav1.Unix(1_800_000_000, 0)
	got.DeletionTimestamp = &now
	got.ResourceVersion = "999"
	c.runners.Wrote(got)
	f.github.calls = nil
	if _, err := c.sync(ctx, cache.MetaObjectToName(r)); err != nil {
		t.Fatalf("sync of the deleted Runner: %v", err)
	}
	if diff := cmp.Diff([]string{"DeleteRunner"}, f.github.calls); diff != "" {
		t.Errorf("GitHub calls (-want +got):\n%s", diff)
	}
}

// TestUnstorableConfigIsDeregistered: when the JIT config cannot be kept,
// the registration is removed again, so no GitHub runner is left without a
// pod.
func TestUnstorableConfigIsDeregistered(t *testing.T) {
	f := newFixture(t)
	r := newRunner("r1")
	f.addRunner(r)
	_, ctx := ktesting.NewTestContext(t)
	c := f.newController(ctx)
	f.kubeClient.PrependReactor("create", "secrets", func(core.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("quota exceeded")
	})
	if _, err := c.sync(ctx, cache.MetaObjectToName(r)); err == nil {
		t.Fatal("sync succeeded without storing the config")
	}
	if diff := cmp.Diff([]string{"RunnerGroupID", "GenerateJITConfig", "DeleteRunner"}, f.github.calls); diff != "" {
		t.Errorf("GitHub calls (-want +got):\n%s", diff)
	}
	if got := f.runner("r1"); got.Spec.ID != 0 {
		t.Errorf("spec.id = %d, want none", got.Spec.ID)
	}
}

func TestDeletion(t *testing.T) {
	now := metav1.Unix(1_800_000_000, 0)
	job := octorunv1alpha1.JobAssignment{JobID: 7, AssignedAt: now}.String()
	completedJob := octorunv1alpha1.JobAssignment{JobID: 7, AssignedAt: now, CompletedAt: &now}.String()
	tests := []struct {
		name          string
		runner        func() *octorunv1alpha1.Runner
		pod           func(*octorunv1alpha1.Runner) *corev1.Pod
		deleteErr     error
		wantCalls     []string
		wantFinalizer bool
		wantBusy      bool
		wantRequeue   time.Duration
		wantErr       bool
	}{
		{name: "idle runner", runner: func() *octorunv1alpha1.Runner {
			return registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhaseIdle)
		},
			pod:       func(r *octorunv1alpha1.Runner) *corev1.Pod { return podOf(r, corev1.PodRunning, true) },
			wantCalls: []string{"GetRunner", "DeleteRunner"}},
		{name: "active runner waits for its job", runner: func() *octorunv1alpha1.Runner {
			r := registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhaseActive)
			r.Annotations = map[string]string{octorunv1alpha1.AnnotationJobAssignment: job}
			return r
		},
			pod:           func(r *octorunv1alpha1.Runner) *corev1.Pod { return podOf(r, corev1.PodRunning, true) },
			wantFinalizer: true},
		{name: "job landed during deletion", runner: func() *octorunv1alpha1.Runner {
			return registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhaseIdle)
		},
			pod:       func(r *octorunv1alpha1.Runner) *corev1.Pod { return podOf(r, corev1.PodRunning, true) },
			deleteErr: apiErr(422, github.ErrRunnerBusy), wantCalls: []string{"GetRunner", "DeleteRunner"}, wantFinalizer: true, wantBusy: true},
		{name: "another 422 on delete is an error, retried", runner: func() *octorunv1alpha1.Runner {
			return registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhaseIdle)
		},
			pod:       func(r *octorunv1alpha1.Runner) *corev1.Pod { return podOf(r, corev1.PodRunning, true) },
			deleteErr: apiErr(422, github.ErrInvalidRequest), wantCalls: []string{"GetRunner", "DeleteRunner"}, wantFinalizer: true, wantErr: true},
		{name: "already gone from GitHub", runner: func() *octorunv1alpha1.Runner {
			return registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhaseIdle)
		},
			pod:       func(r *octorunv1alpha1.Runner) *corev1.Pod { return podOf(r, corev1.PodRunning, true) },
			deleteErr: apiErr(404, github.ErrNotFound), wantCalls: []string{"GetRunner", "DeleteRunner"}},
		{name: "rate limited", runner: func() *octorunv1alpha1.Runner {
			return registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhaseIdle)
		},
			pod:       func(r *octorunv1alpha1.Runner) *corev1.Pod { return podOf(r, corev1.PodRunning, true) },
			deleteErr: &github.RetryAfterError{After: time.Minute, Reason: "pacing"}, wantCalls: []string{"GetRunner", "DeleteRunner"},
			wantFinalizer: true, wantRequeue: time.Minute},
		{name: "never registered", runner: func() *octorunv1alpha1.Runner {
			r := newRunner("r1")
			r.Finalizers = []string{octorunv1alpha1.RunnerFinalizer}
			return r
		}},
		{name: "GitHub completed the job of a complete runner", runner: func() *octorunv1alpha1.Runner {
			r := registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhaseComplete)
			r.Annotations = map[string]string{octorunv1alpha1.AnnotationJobAssignment: completedJob}
			return r
		},
			pod: func(r *octorunv1alpha1.Runner) *corev1.Pod { return podOf(r, corev1.PodSucceeded, false) }},
		{name: "GitHub had removed the registration when the runner ended", runner: func() *octorunv1alpha1.Runner {
			r := registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhaseComplete)
			r.Status.Conditions = append(r.Status.Conditions, metav1.Condition{
				Type: octorunv1alpha1.RunnerConditionExited, Status: metav1.ConditionTrue, Reason: octorunv1alpha1.ReasonRegistrationRemoved,
			})
			return r
		},
			pod: func(r *octorunv1alpha1.Runner) *corev1.Pod { return podOf(r, corev1.PodSucceeded, false) }},
		{name: "complete runner whose job completion was not seen", runner: func() *octorunv1alpha1.Runner {
			r := registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhaseComplete)
			r.Annotations = map[string]string{octorunv1alpha1.AnnotationJobAssignment: job}
			return r
		},
			pod:       func(r *octorunv1alpha1.Runner) *corev1.Pod { return podOf(r, corev1.PodSucceeded, false) },
			deleteErr: apiErr(404, github.ErrNotFound), wantCalls: []string{"GetRunner", "DeleteRunner"}},
		{name: "job's completion on its way", runner: func() *octorunv1alpha1.Runner {
			r := registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhaseComplete)
			r.Annotations = map[string]string{octorunv1alpha1.AnnotationJobAssignment: job}
			return r
		},
			pod:           func(r *octorunv1alpha1.Runner) *corev1.Pod { return exitedPod(r, 0, now.Add(-4*time.Second)) },
			wantFinalizer: true, wantRequeue: DefaultExitGracePeriod - 4*time.Second},
		{name: "job's completion never came", runner: func() *octorunv1alpha1.Runner {
			r := registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhaseComplete)
			r.Annotations = map[string]string{octorunv1alpha1.AnnotationJobAssignment: job}
			return r
		},
			pod:       func(r *octorunv1alpha1.Runner) *corev1.Pod { return exitedPod(r, 0, now.Add(-time.Minute)) },
			deleteErr: apiErr(404, github.ErrNotFound), wantCalls: []string{"GetRunner", "DeleteRunner"}},
		{name: "runner that exited without a job", runner: func() *octorunv1alpha1.Runner {
			return registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhaseFailed)
		},
			pod:       func(r *octorunv1alpha1.Runner) *corev1.Pod { return exitedPod(r, 0, now.Time) },
			wantCalls: []string{"GetRunner", "DeleteRunner"}},
		{name: "failed runner", runner: func() *octorunv1alpha1.Runner {
			return registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhaseFailed)
		},
			pod:       func(r *octorunv1alpha1.Runner) *corev1.Pod { return podOf(r, corev1.PodFailed, false) },
			wantCalls: []string{"GetRunner", "DeleteRunner"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.github.deleteErr = tt.deleteErr
			r := tt.runner()
			r.DeletionTimestamp = &now
			f.addRunner(r)
			var pod *corev1.Pod
			if tt.pod != nil {
				pod = tt.pod(r)
				f.addPod(pod)
			}
			if r.Spec.ID != 0 {
				f.addSecret(newSecret(r, r.Spec.ID, "n", "Linux", "config"))
				f.github.name(r.Spec.ID, "test-default."+r.Name)
			}
			requeue, err := f.run(r)
			if (err != nil) != tt.wantErr {
				t.Fatalf("sync error = %v, want error %v", err, tt.wantErr)
			}
			if requeue != tt.wantRequeue {
				t.Errorf("requeue after %s, want %s", requeue, tt.wantRequeue)
			}
			if diff := cmp.Diff(tt.wantCalls, f.github.calls); diff != "" {
				t.Errorf("GitHub calls (-want +got):\n%s", diff)
			}
			got := f.runner("r1")
			if has := len(got.Finalizers) > 0; has != tt.wantFinalizer {
				t.Errorf("finalizer kept = %v, want %v", has, tt.wantFinalizer)
			}
			if _, busy := got.Annotations[octorunv1alpha1.AnnotationJobAssignment]; tt.wantBusy && !busy {
				t.Error("A busy runner was not marked as holding a job")
			}
			// The Secret and an ended pod are the garbage collector's once
			// the Runner is gone: Octorun makes no request for them.
			for _, a := range actions(f.kubeClient) {
				if strings.HasSuffix(a, " secrets") {
					t.Errorf("The finalizer made a request of the Secret: %s", a)
				}
				if a == "delete pods" && pod != nil && podEnded(pod) {
					t.Errorf("The finalizer deleted an ended pod")
				}
			}
			_, podErr := f.kubeClient.CoreV1().Pods("default").Get(context.Background(), "r1", metav1.GetOptions{})
			if released := !tt.wantFinalizer; released && r.Spec.ID != 0 && pod != nil && !podEnded(pod) && podErr == nil {
				t.Errorf("Released Runner left its running pod")
			}

			if tt.wantFinalizer && tt.pod != nil && podErr != nil {
				t.Errorf("The pod of a Runner still held was deleted: %v", podErr)
			}
		})
	}
}

// TestRetriedFinalizerDeregistersOnce: when releasing the Runner fails after
// GitHub removed its runner, the retry does not ask GitHub again.
func TestRetriedFinalizerDeregistersOnce(t *testing.T) {
	f := newFixture(t)
	now := metav1.Unix(1_800_000_000, 0)
	r := registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhaseIdle)
	r.DeletionTimestamp = &now
	f.addRunner(r)
	f.addPod(podOf(r, corev1.PodRunning, true))
	f.github.name(101, "test-default.r1")
	_, ctx := ktesting.NewTestContext(t)
	c := f.newController(ctx)
	failed := false
	f.client.PrependReactor("update", "runners", func(core.Action) (bool, runtime.Object, error) {
		if !failed {
			failed = true
			return true, nil, errors.New("etcd unavailable")
		}
		return false, nil, nil
	})
	if _, err := c.sync(ctx, cache.MetaObjectToName(r)); err == nil {
		t.Fatal("sync succeeded although releasing the Runner failed")
	}
	if _, err := c.sync(ctx, cache.MetaObjectToName(r)); err != nil {
		t.Fatalf("retried sync: %v", err)
	}
	if diff := cmp.Diff([]string{"GetRunner", "DeleteRunner"}, f.github.calls); diff != "" {
		t.Errorf("GitHub calls (-want +got):\n%s", diff)
	}
	if got := f.runner("r1"); len(got.Finalizers) != 0 {
		t.Errorf("finalizers = %v, want none", got.Finalizers)
	}
}

// TestStaleCacheWritesStatusOnce: a sync working from a cache that is behind
// the previous sync's status write gets a conflict, reads the Runner, finds
// the status already written and does not write it again.
func TestStaleCacheWritesStatusOnce(t *testing.T) {
	f := newFixture(t)
	r := registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhasePending)
	f.addRunner(r)
	f.addPod(podOf(r, corev1.PodRunning, true))
	_, ctx := ktesting.NewTestContext(t)
	c := f.newController(ctx)
	if _, err := c.sync(ctx, cache.MetaObjectToName(r)); err != nil {
		t.Fatal(err)
	}
	if got := f.runner("r1").Status.Phase; got != octorunv1alpha1.RunnerPhaseIdle {
		t.Fatalf("phase = %s, want Idle", got)
	}
	// The cache still holds the Pending Runner; a later sync computes the
	// same status at another time, and the API server refuses its write.
	c.now = func() time.Time { return time.Unix(1_800_000_100, 0) }
	conflicted := false
	f.client.PrependReactor("update", "runners", func(a core.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "status" && !conflicted {
			conflicted = true
			return true, nil, apierrors.NewConflict(octorunv1alpha1.Resource("runners"), "r1", errors.New("stale"))
		}
		return false, nil, nil
	})
	f.client.ClearActions()
	if _, err := c.sync(ctx, cache.MetaObjectToName(r)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"update runners/status", "get runners"}, actions(f.client)); diff != "" {
		t.Errorf("Octorun actions (-want +got):\n%s", diff)
	}
}

// TestReleasedRunnerIsLeftAlone: a sync from a cache that still shows a
// Runner this process released makes no request.
func TestReleasedRunnerIsLeftAlone(t *testing.T) {
	f := newFixture(t)
	now := metav1.Unix(1_800_000_000, 0)
	r := registered(newRunner("r1"), 101, octorunv1alpha1.RunnerPhaseComplete)
	r.DeletionTimestamp = &now
	f.addRunner(r)
	_, ctx := ktesting.NewTestContext(t)
	c := f.newController(ctx)
	if _, err := c.sync(ctx, cache.MetaObjectToName(r)); err != nil {
		t.Fatal(err)
	}
	if got := actions(f.client); len(got) == 0 || got[len(got)-1] != "update runners" {
		t.Fatalf("Octorun actions = %v, want the finalizer removed last", got)
	}
	f.client.ClearActions()
	f.kubeClient.ClearActions()
	if _, err := c.sync(ctx, cache.MetaObjectToName(r)); err != nil {
		t.Fatal(err)
	}
	if got := append(actions(f.client), actions(f.kubeClient)...); len(got) != 0 {
		t.Errorf("actions of the second sync = %v, want none", got)
	}
}

// TestFoldPending: a new Runner's Pending goes unwritten only while its
// new pod starts with nothing to tell.
func TestFoldPending(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	pending := octorunv1alpha1.RunnerStatus{Phase: octorunv1alpha1.RunnerPhasePending, Conditions: []metav1.Condition{
		{Type: octorunv1alpha1.RunnerConditionPodReady, Status: metav1.ConditionFalse, Reason: octorunv1alpha1.ReasonPodPending},
	}}
	pod := func(age time.Duration) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(now.Add(-age))}}
	}
	imagePull := *pending.DeepCopy()
	imagePull.Conditions[0].Reason = octorunv1alpha1.ReasonImagePullFailed
	written := newRunner("r")
	written.Status = pending
	for _, tc := range []struct {
		name     string
		runner   *octorunv1alpha1.Runner
		status   octorunv1alpha1.RunnerStatus
		obs      observation
		wantFold bool
		wantWait time.Duration
	}{
		{name: "new pod starting", runner: newRunner("r"), status: pending, obs: observation{pod: pod(3 * time.Second)}, wantFold: true, wantWait: pendingFold - 3*time.Second},
		{name: "pod pending too long", runner: newRunner("r"), status: pending, obs: observation{pod: pod(pendingFold)}},
		{name: "image does not pull", runner: newRunner("r"), status: imagePull, obs: observation{pod: pod(time.Second)}},
		{name: "no pod", runner: newRunner("r"), status: pending},
		{name: "status written before", runner: written, status: pending, obs: observation{pod: pod(time.Second)}},
		{name: "registration trouble", runner: newRunner("r"), status: pending, obs: observation{pod: pod(time.Second), registration: registration{reason: octorunv1alpha1.ReasonRateLimited}}},
		{name: "idle", runner: newRunner("r"), status: octorunv1alpha1.RunnerStatus{Phase: octorunv1alpha1.RunnerPhaseIdle}, obs: observation{pod: pod(time.Second)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wait, fold := foldPending(tc.runner, tc.status, tc.obs, now)
			if fold != tc.wantFold || wait != tc.wantWait && tc.wantFold {
				t.Errorf("foldPending = %v, %v; want %v, %v", wait, fold, tc.wantWait, tc.wantFold)
			}
		})
	}
}

// TestPodIsCreatedOnce: a sync right after the pod's creation, before the
// pod informer delivers the pod, does not create it again (which the API
// server would answer with AlreadyExists, costing a read as well).
func TestPodIsCreatedOnce(t *testing.T) {
	f := newFixture(t)
	r := registered(newRunner("r1"), 101, "")
	r.Finalizers = []string{octorunv1alpha1.RunnerFinalizer}
	f.addRunner(r)
	f.addSecret(newSecret(r, 101, "test-default.r1", "Linux", "config"))

	if _, err := f.run(r); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"create pods"}, actions(f.kubeClient)); diff != "" {
		t.Fatalf("first sync: Kubernetes actions (-want +got):\n%s", diff)
	}
	_, ctx := ktesting.NewTestContext(t)
	f.kubeClient.ClearActions()
	if _, err := f.controller.sync(ctx, cache.MetaObjectToName(r)); err != nil {
		t.Fatal(err)
	}
	if got := actions(f.kubeClient); len(got) != 0 {
		t.Errorf("second sync: Kubernetes actions %v, want none", got)
	}
}

// TestDeletionLeavesTheStatus: deleting a Runner moves its generation (as
// the API server does for custom resources); the finalizer writes no status
// for that alone before releasing it.
func TestDeletionLeavesTheStatus(t *testing.T) {
	now := metav1.Unix(1_800_000_000, 0)
	r := registered(newRunner("r1"), 101, "")
	r.Annotations = map[string]string{octorunv1alpha1.AnnotationJobAssignment: octorunv1alpha1.JobAssignment{
		JobID: 7, AssignedAt: now, CompletedAt: &now}.String()}
	pod := podOf(r, corev1.PodSucceeded, false)
	// The status a sync of the live Runner wrote.
	r.Status = computeStatus(r, observation{pod: pod, job: &octorunv1alpha1.JobAssignment{JobID: 7, AssignedAt: now, CompletedAt: &now}}, now)
	if r.Status.Phase != octorunv1alpha1.RunnerPhaseComplete {
		t.Fatalf("phase %s, want Complete", r.Status.Phase)
	}
	r.DeletionTimestamp = &now
	r.Generation++

	f := newFixture(t)
	f.addRunner(r)
	f.addPod(pod)
	f.addSecret(newSecret(r, r.Spec.ID, "n", "Linux", "config"))
	if _, err := f.run(r); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"update runners"}, actions(f.client)); diff != "" {
		t.Errorf("Octorun actions (-want +got):\n%s", diff)
	}
	if got := f.runner("r1"); len(got.Finalizers) != 0 {
		t.Errorf("finalizers %v, want none", got.Finalizers)
	}
}
