package runneragent

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/framework/controlplane"
	"github.com/octorun/octorun/test/githubsim"
)

func TestVersionOfImage(t *testing.T) {
	tests := []struct {
		name, image, want string
	}{
		{name: "tag", image: "ghcr.io/actions/actions-runner:2.327.1", want: "2.327.1"},
		{name: "v tag", image: "example.com/runner:v2.330.0", want: "2.330.0"},
		{name: "tag and digest", image: "ghcr.io/actions/actions-runner:2.331.0@sha256:abcd", want: "2.331.0"},
		{name: "latest", image: "ghcr.io/actions/actions-runner:latest", want: githubsim.LatestRunnerVersion},
		{name: "no tag", image: "ghcr.io/actions/actions-runner", want: githubsim.LatestRunnerVersion},
		{name: "registry port, no tag", image: "localhost:5000/actions-runner", want: githubsim.LatestRunnerVersion},
		{name: "digest only", image: "ghcr.io/actions/actions-runner@sha256:abcd", want: githubsim.LatestRunnerVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VersionOfImage(tt.image); got != tt.want {
				t.Errorf("VersionOfImage(%q) = %q, want %q", tt.image, got, tt.want)
			}
		})
	}
}

// fixture is an agent over a fake clientset whose pods the test adds to the
// lister's indexer directly.
type fixture struct {
	t       *testing.T
	sim     *githubsim.Server
	client  *fake.Clientset
	indexer cache.Indexer
	agent   *Agent
}

func newFixture(t *testing.T) *fixture {
	sim := githubsim.New(githubsim.Options{Logf: t.Logf})
	t.Cleanup(sim.Close)
	client := fake.NewClientset()
	f := &fixture{
		t:       t,
		sim:     sim,
		client:  client,
		indexer: cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{}),
	}
	f.agent = &Agent{Client: client, Sim: sim}
	return f
}

// pod adds a Running runner pod whose JIT config is config.
func (f *fixture) pod(name, image, config string, env ...corev1.EnvVar) *corev1.Pod {
	f.t.Helper()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Data:       map[string][]byte{"jitconfig": []byte(config)},
	}
	if _, err := f.client.CoreV1().Secrets("ns").Create(context.Background(), secret, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	env = append(env, corev1.EnvVar{Name: jitConfigEnv, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: "jitconfig",
	}}})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: name, UID: types.UID("uid-" + name),
			Labels: map[string]string{octorunv1alpha1.LabelRunner: name},
		},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: RunnerContainer, Image: image, Env: env}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	if _, err := f.client.CoreV1().Pods("ns").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	if err := f.indexer.Add(pod); err != nil {
		f.t.Fatal(err)
	}
	return pod
}

func (f *fixture) step() {
	f.t.Helper()
	if err := f.agent.step(context.Background(), corelisters.NewPodLister(f.indexer)); err != nil {
		f.t.Fatal(err)
	}
}

// exitCode is the exit annotation the agent put on a pod, "" if none.
func (f *fixture) exitCode(name string) string {
	f.t.Helper()
	pod, err := f.client.CoreV1().Pods("ns").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return pod.Annotations[controlplane.ExitCodeAnnotation]
}

func TestAgentExitCodes(t *testing.T) {
	f := newFixture(t)
	jit := func(name string) (githubsim.Runner, string) {
		r := f.sim.AddJITRunner("octo", "", name, "linux")
		return r, r.JITConfig
	}
	current, currentConfig := jit("current")
	_, oldConfig := jit("old")
	_, oldStrictConfig := jit("old-strict")
	gone, goneConfig := jit("gone")
	if err := f.sim.RemoveRunner(gone.ID); err != nil {
		t.Fatal(err)
	}

	f.pod("current", "ghcr.io/actions/actions-runner:2.336.0", currentConfig)
	f.step()
	f.pod("twin", "ghcr.io/actions/actions-runner:2.336.0", currentConfig) // same JIT config
	f.pod("old", "ghcr.io/actions/actions-runner:2.327.1", oldConfig)
	f.pod("old-strict", "ghcr.io/actions/actions-runner:2.327.1", oldStrictConfig,
		corev1.EnvVar{Name: DeprecatedExitCodeEnv, Value: "1"})
	f.pod("gone", "ghcr.io/actions/actions-runner:latest", goneConfig)
	f.step()

	got := map[string]string{}
	for _, name := range []string{"current", "twin", "old", "old-strict", "gone"} {
		got[name] = f.exitCode(name)
	}
	want := map[string]string{
		"current":    "",  // connected, waiting for a job
		"twin":       "0", // session conflict: listener 5, run-helper.sh 0
		"old":        "0", // deprecated without the variable: listener 1, exit 0
		"old-strict": "7", // deprecated with ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE=1
		"gone":       "0", // runner not found: listener 1, exit 0
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("exit codes (-want +got):\n%s", diff)
	}
	if r, _ := f.sim.Runner(current.ID); r.Status != "online" || r.Version != "2.336.0" {
		t.Errorf("runner = %s %q, want online 2.336.0", r.Status, r.Version)
	}
	wantCounts := githubsim.ConnectionCounts{Accepted: 1, VersionDeprecated: 2, SessionConflict: 1, NotFound: 1}
	if diff := cmp.Diff(wantCounts, f.sim.Connections()); diff != "" {
		t.Errorf("connections (-want +got):\n%s", diff)
	}
}

func TestAgentExitsZeroWhenTheRegistrationGoes(t *testing.T) {
	for _, tt := range []struct {
		name string
		end  func(sim *githubsim.Server, runner, job int64)
	}{
		{name: "after a successful job", end: func(sim *githubsim.Server, _, job int64) { _ = sim.FinishJob(job, githubsim.ConclusionSuccess) }},
		{name: "after a failed job", end: func(sim *githubsim.Server, _, job int64) { _ = sim.FinishJob(job, githubsim.ConclusionFailure) }},
		{name: "removed without a job", end: func(sim *githubsim.Server, runner, _ int64) { _ = sim.RemoveRunner(runner) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			r := f.sim.AddJITRunner("octo", "", "r", "linux")
			f.pod("r", "ghcr.io/actions/actions-runner:2.330.0", r.JITConfig)
			f.step()
			if f.exitCode("r") != "" {
				t.Fatal("the pod exited before its runner ended")
			}
			var jobID int64
			if tt.name != "removed without a job" {
				jobID = f.sim.QueueJob(githubsim.JobRequest{Owner: "octo", Repo: "hello", Labels: []string{"linux"}}).ID
			}
			tt.end(f.sim, r.ID, jobID)
			f.step()
			if got := f.exitCode("r"); got != "0" {
				t.Errorf("exit code = %q, want 0", got)
			}
		})
	}
}

func TestAgentSessionConflictDelay(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	f.agent.now = func() time.Time { return now }
	f.agent.SessionConflictDelay = 4 * time.Minute
	config := f.sim.AddJITRunner("octo", "", "r", "linux").JITConfig
	f.pod("first", "ghcr.io/actions/actions-runner:2.336.0", config)
	f.step()
	f.pod("second", "ghcr.io/actions/actions-runner:2.336.0", config)
	f.step()
	if f.exitCode("second") != "" {
		t.Fatal("the second process gave up at once")
	}
	now = now.Add(4 * time.Minute)
	f.step()
	if got, first := f.exitCode("second"), f.exitCode("first"); got != "0" || first != "" {
		t.Errorf("exit codes first %q second %q, want running and 0", first, got)
	}
}
