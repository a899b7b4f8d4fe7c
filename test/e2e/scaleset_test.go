package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned"
	"github.com/octorun/octorun/pkg/generated/informers/externalversions"
	"github.com/octorun/octorun/test/framework/octorunproc"
	"github.com/octorun/octorun/test/framework/runneragent"
	"github.com/octorun/octorun/test/githubsim"
)

// scaleSetPrefix is the runner name prefix of the scale-set tests' Octorun.
const scaleSetPrefix = "ss-"

// scaleSetEnv is a scale-set test's world: a namespace, a GitHub simulator,
// the agent playing its runner pods, and the Runners seen in the namespace.
// Octorun runs as its own processes, started by the test, with no webhook
// receiver: a scale set needs no inbound connection.
type scaleSetEnv struct {
	ns      string
	sim     *githubsim.Server
	simURL  string
	client  versioned.Interface
	runners *runnerRecorder
}

func startScaleSetEnv(t *testing.T) *scaleSetEnv {
	t.Helper()
	client := InstallCRDs(t)
	ns := NewNamespace(t)
	grantAll(t, ns)
	sim := githubsim.New(githubsim.Options{Logf: t.Logf})
	sim.AddToken(simToken)
	sim.AddOrganization("octo")
	sim.AddRepository("octo", "hello")
	srv := httptest.NewServer(sim)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		srv.Close()
		sim.Close()
	})
	go (&runneragent.Agent{Client: Client, Sim: sim, Namespace: ns, Errorf: t.Logf}).Run(ctx)
	return &scaleSetEnv{ns: ns, sim: sim, simURL: srv.URL, client: client, runners: recordRunners(t, client, ns)}
}

// octorunArgs are the flags of the env's Octorun: no --github-webhook-addr.
func (e *scaleSetEnv) octorunArgs() []string {
	return []string{"--kubeconfig", ControlPlane.KubeconfigPath, "--github-api-url", e.simURL + "/",
		"--namespace", e.ns, "--pod-namespace", e.ns, "--metrics-addr", "127.0.0.1:0", "--health-probe-addr", "127.0.0.1:0",
		"--runner-name-prefix", scaleSetPrefix, "-v", "2"}
}

// startReplica runs Octorun as startOctorun does, logging to a file named
// after replica, and deletes the test's RunnerSets while it still runs when
// the test ends.
func (e *scaleSetEnv) startReplica(t *testing.T, replica string) *octorunproc.Process {
	t.Helper()
	octorunBin.once.Do(func() {
		octorunBin.path = filepath.Join(ControlPlane.Dir, "octorun")
		octorunBin.err = octorunproc.Build(context.Background(), RepoPath(t), octorunBin.path)
	})
	if octorunBin.err != nil {
		t.Fatal(octorunBin.err)
	}
	p, err := octorunproc.Start(octorunproc.Options{
		Binary:  octorunBin.path,
		Args:    e.octorunArgs(),
		Env:     []string{"GITHUB_TOKEN=" + simToken},
		LogPath: filepath.Join(t.TempDir(), fmt.Sprintf("octorun-%s.log", replica)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(15 * time.Second); err != nil {
			select {
			case <-p.Done():
				// Killed by the test.
			default:
				t.Errorf("Stopping octorun %s: %v", replica, err)
			}
		}
		if t.Failed() {
			t.Logf("Log of octorun %s (pid %d):\n%s", replica, p.Pid, p.LogTail(300))
		}
	})
	// Runs before the processes stop (cleanups run last first).
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_ = e.client.OctorunV1alpha1().RunnerSets(e.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		for _, j := range e.sim.Jobs() {
			if j.Status == githubsim.JobInProgress {
				_ = e.sim.CompleteJob(j.ID)
			}
		}
		for ctx.Err() == nil {
			list, err := e.client.OctorunV1alpha1().RunnerSets(e.ns).List(ctx, metav1.ListOptions{})
			if err == nil && len(list.Items) == 0 {
				return
			}
			time.Sleep(interval)
		}
	})
	return p
}

// createScaleSet creates a scale-set RunnerSet of organization octo.
func (e *scaleSetEnv) createScaleSet(t *testing.T, name string, minRunners, maxRunners int32) {
	t.Helper()
	labels := map[string]string{octorunv1alpha1.LabelRunnerSet: name}
	set := &octorunv1alpha1.RunnerSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: octorunv1alpha1.RunnerSetSpec{
			Runners:  ptr.To(minRunners),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: octorunv1alpha1.RunnerTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octo"},
			},
			ScaleSet: &octorunv1alpha1.RunnerScaleSetSpec{MinRunners: ptr.To(minRunners), MaxRunners: ptr.To(maxRunners)},
		},
	}
	if _, err := e.client.OctorunV1alpha1().RunnerSets(e.ns).Create(context.Background(), set, metav1.CreateOptions{}); err != nil {
		t.Fatalf("Creating RunnerSet %s: %v", name, err)
	}
}

// waitListening waits until RunnerSet name has a scale set id, says
// ScaleSetReady=True, and its scale set on the simulator has a session;
// it returns the scale set and the session.
func (e *scaleSetEnv) waitListening(t *testing.T, name string) (githubsim.ScaleSet, githubsim.ScaleSetSession) {
	t.Helper()
	var set githubsim.ScaleSet
	var session githubsim.ScaleSetSession
	var last string
	Eventually(t, "RunnerSet "+name+"'s scale set to listen", func(ctx context.Context) (bool, error) {
		rs, err := e.client.OctorunV1alpha1().RunnerSets(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		var ok bool
		set, session, ok = e.scaleSet(name)
		last = fmt.Sprintf("status.scaleSet %+v, conditions %+v, simulator %+v %+v", rs.Status.ScaleSet, rs.Status.Conditions, set, session)
		c := meta.FindStatusCondition(rs.Status.Conditions, octorunv1alpha1.RunnerSetConditionScaleSetReady)
		return ok && rs.Status.ScaleSet != nil && rs.Status.ScaleSet.ID == set.ID &&
			c != nil && c.Status == metav1.ConditionTrue, nil
	})
	t.Logf("Listening: %s", last)
	return set, session
}

// scaleSet returns the simulator's scale set of the given name and its
// session; ok is false while either is missing.
func (e *scaleSetEnv) scaleSet(name string) (set githubsim.ScaleSet, session githubsim.ScaleSetSession, ok bool) {
	for _, s := range e.sim.ScaleSets() {
		if strings.EqualFold(s.Name, name) {
			for _, sess := range e.sim.Sessions() {
				if sess.ScaleSetID == s.ID {
					return s, sess, true
				}
			}
			return s, session, false
		}
	}
	return set, session, false
}

// specRunners returns RunnerSet name's spec.runners.
func (e *scaleSetEnv) specRunners(ctx context.Context, name string) (int32, error) {
	rs, err := e.client.OctorunV1alpha1().RunnerSets(e.ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	return ptr.Deref(rs.Spec.Runners, -1), nil
}

// waitSpecRunners waits for RunnerSet name's spec.runners to be want.
func (e *scaleSetEnv) waitSpecRunners(t *testing.T, name string, want int32) {
	t.Helper()
	Eventually(t, fmt.Sprintf("RunnerSet %s's spec.runners to be %d", name, want), func(ctx context.Context) (bool, error) {
		n, err := e.specRunners(ctx, name)
		return err == nil && n == want, err
	})
}

// registrations returns the simulator's runners carrying label, as the
// runners of a scale set of that name do.
func (e *scaleSetEnv) registrations(label string) []githubsim.Runner {
	var out []githubsim.Runner
	for _, r := range e.sim.Runners() {
		if slices.ContainsFunc(r.Labels, func(l string) bool { return strings.EqualFold(l, label) }) {
			out = append(out, r)
		}
	}
	return out
}

// waitJobsDone waits for the jobs to complete and checks that each
// succeeded, on a distinct runner Octorun created for the set, which was
// seen Active if the job started after listening (the JobStarted of a job
// that starts while no session is read is lost with the session).
func (e *scaleSetEnv) waitJobsDone(t *testing.T, set string, jobs []githubsim.Job, listening time.Time) {
	t.Helper()
	Eventually(t, fmt.Sprintf("the %d jobs to complete", len(jobs)), func(context.Context) (bool, error) {
		for _, j := range jobs {
			if j, _ := e.sim.Job(j.ID); j.Status != githubsim.JobCompleted {
				return false, nil
			}
		}
		return true, nil
	})
	byName := e.runners.byGitHubName(set)
	ranOn := map[string]int64{}
	for _, j := range jobs {
		j, _ = e.sim.Job(j.ID)
		if j.Conclusion != githubsim.ConclusionSuccess {
			t.Errorf("Job %d ended %q on runner %d %q, want success", j.ID, j.Conclusion, j.RunnerID, j.RunnerName)
		}
		if other, ok := ranOn[j.RunnerName]; ok {
			t.Errorf("Jobs %d and %d both ran on runner %q", other, j.ID, j.RunnerName)
		}
		ranOn[j.RunnerName] = j.ID
		r, ok := byName[j.RunnerName]
		switch {
		case !ok:
			t.Errorf("Job %d ran on runner %d %q, not one of RunnerSet %s's Runners %v", j.ID, j.RunnerID, j.RunnerName, set, slices.Sorted(maps.Keys(byName)))
		case r.id != j.RunnerID:
			t.Errorf("Job %d ran on runner id %d, but Runner %s has id %d", j.ID, j.RunnerID, r.name, r.id)
		case !r.phases[octorunv1alpha1.RunnerPhaseActive] && j.StartedAt.Before(listening):
			t.Logf("Runner %s ran job %d, started before the session was read, and was not seen Active (phases %v)", r.name, j.ID, r.phaseList())
		case !r.phases[octorunv1alpha1.RunnerPhaseActive]:
			t.Errorf("Runner %s ran job %d but was never seen Active (phases %v)", r.name, j.ID, r.phaseList())
		}
	}
}

// waitSetDeleted deletes RunnerSet name and waits for it, its Runners, its
// scale set, its session and its registrations to be gone.
func (e *scaleSetEnv) waitSetDeleted(t *testing.T, name string, scaleSetID int64) {
	t.Helper()
	if err := e.client.OctorunV1alpha1().RunnerSets(e.ns).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var last string
	Eventually(t, "RunnerSet "+name+" and its scale set to be gone", func(ctx context.Context) (bool, error) {
		sets, err := e.client.OctorunV1alpha1().RunnerSets(e.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		_, n, err := e.runnersOf(ctx, name)
		if err != nil {
			return false, err
		}
		var setsLeft []int64
		for _, s := range e.sim.ScaleSets() {
			if s.ID == scaleSetID {
				setsLeft = append(setsLeft, s.ID)
			}
		}
		last = fmt.Sprintf("%d RunnerSets, %d Runners, scale sets %v, sessions %+v, registrations %+v",
			len(sets.Items), n, setsLeft, e.sim.Sessions(), e.registrations(name))
		return len(sets.Items) == 0 && n == 0 && len(setsLeft) == 0 && len(e.sim.Sessions()) == 0 && len(e.registrations(name)) == 0, nil
	})
	t.Logf("Deleted: %s", last)
}

// runnersOf returns the Runners of RunnerSet set, by phase, and how many.
func (e *scaleSetEnv) runnersOf(ctx context.Context, set string) (map[octorunv1alpha1.RunnerPhase]int, int, error) {
	list, err := e.client.OctorunV1alpha1().Runners(e.ns).List(ctx, metav1.ListOptions{LabelSelector: octorunv1alpha1.LabelRunnerSet + "=" + set})
	if err != nil {
		return nil, 0, err
	}
	byPhase := map[octorunv1alpha1.RunnerPhase]int{}
	for _, r := range list.Items {
		byPhase[r.Status.Phase]++
	}
	return byPhase, len(list.Items), nil
}

// runnerRecorder remembers every Runner seen in a namespace through an
// informer, with the phases it went through: Runners of a scale set come
// and go within seconds.
type runnerRecorder struct {
	mu    sync.Mutex
	byUID map[types.UID]*runnerRecord
}

type runnerRecord struct {
	name, set, githubName string
	id                    int64
	phases                map[octorunv1alpha1.RunnerPhase]bool
}

func (r *runnerRecord) phaseList() []string {
	var out []string
	for p := range r.phases {
		out = append(out, string(p))
	}
	sort.Strings(out)
	return out
}

func recordRunners(t *testing.T, client versioned.Interface, ns string) *runnerRecorder {
	t.Helper()
	rec := &runnerRecorder{byUID: map[types.UID]*runnerRecord{}}
	factory := externalversions.NewSharedInformerFactoryWithOptions(client, 0, externalversions.WithNamespace(ns))
	informer := factory.Octorun().V1alpha1().Runners().Informer()
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    rec.see,
		UpdateFunc: func(_, obj any) { rec.see(obj) },
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		factory.Shutdown()
	})
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		t.Fatal("The Runner informer did not sync")
	}
	return rec
}

func (rec *runnerRecorder) see(obj any) {
	runner, ok := obj.(*octorunv1alpha1.Runner)
	if !ok {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	r := rec.byUID[runner.UID]
	if r == nil {
		r = &runnerRecord{
			name: runner.Name, set: runner.Labels[octorunv1alpha1.LabelRunnerSet],
			githubName: octorunv1alpha1.GitHubRunnerName(scaleSetPrefix, runner),
			phases:     map[octorunv1alpha1.RunnerPhase]bool{},
		}
		rec.byUID[runner.UID] = r
	}
	if runner.Spec.ID != 0 {
		r.id = runner.Spec.ID
	}
	if runner.Status.Phase != "" {
		r.phases[runner.Status.Phase] = true
	}
}

// created returns how many Runners of set were seen.
func (rec *runnerRecorder) created(set string) int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	n := 0
	for _, r := range rec.byUID {
		if r.set == set {
			n++
		}
	}
	return n
}

// byGitHubName returns copies of the records of set's Runners by their
// GitHub runner name.
func (rec *runnerRecorder) byGitHubName(set string) map[string]runnerRecord {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := map[string]runnerRecord{}
	for _, r := range rec.byUID {
		if r.set != set {
			continue
		}
		c := *r
		c.phases = map[octorunv1alpha1.RunnerPhase]bool{}
		for p := range r.phases {
			c.phases[p] = true
		}
		out[r.githubName] = c
	}
	return out
}

// TestScaleSetFromZero: a scale-set RunnerSet of 0 to 10 runners, with
// Octorun taking no inbound connection, starts with no Runner, gets one per
// job GitHub assigns to its scale set, runs each job on its own runner, and
// comes back to none; deleting it deletes the scale set.
func TestScaleSetFromZero(t *testing.T) {
	e := startScaleSetEnv(t)
	const name, jobs = "e2e-scale", 4
	e.startReplica(t, "octorun-0")
	e.createScaleSet(t, name, 0, 10)

	set, session := e.waitListening(t, name)
	if byPhase, n, err := e.runnersOf(context.Background(), name); err != nil || n != 0 {
		t.Fatalf("Before any job: %d Runners %v (%v), want none", n, byPhase, err)
	}
	if set.Org != "octo" || !slices.Contains(set.Labels, name) {
		t.Errorf("Scale set on the simulator = %+v, want octo's, labelled %s", set, name)
	}
	t.Logf("Scale set %d, session %s of %q", set.ID, session.ID, session.Owner)

	var queued []githubsim.Job
	for range jobs {
		queued = append(queued, e.sim.QueueScaleSetJob("octo", "hello", name, 3*time.Second))
	}
	e.waitSpecRunners(t, name, jobs)
	e.waitJobsDone(t, name, queued, time.Time{})
	e.waitSpecRunners(t, name, 0)
	Eventually(t, "no Runner and no registration left", func(ctx context.Context) (bool, error) {
		_, n, err := e.runnersOf(ctx, name)
		return err == nil && n == 0 && len(e.registrations(name)) == 0, err
	})
	if n := e.runners.created(name); n > jobs {
		t.Errorf("%d Runners created for %d jobs", n, jobs)
	}
	if rs, err := e.client.OctorunV1alpha1().RunnerSets(e.ns).Get(context.Background(), name, metav1.GetOptions{}); err != nil {
		t.Error(err)
	} else if s := rs.Status.ScaleSet; s == nil || s.AssignedJobs != 0 || s.RunningJobs != 0 {
		t.Errorf("status.scaleSet = %+v, want no assigned or running job", s)
	}
	if ds := e.sim.Deliveries(); len(ds) != 0 {
		t.Errorf("%d webhook deliveries, want none", len(ds))
	}

	e.waitSetDeleted(t, name, set.ID)
}

// TestScaleSetFailover: two Octorun replicas; the leader holds the scale
// set's session and is killed (SIGKILL, no chance to delete the session)
// while jobs run. The other replica takes the lease and, once the dead
// session expires, the session; every job, queued before or after the kill,
// runs once on a runner of its own, and no Runner is created beyond one a
// job and minRunners.
func TestScaleSetFailover(t *testing.T) {
	e := startScaleSetEnv(t)
	const name = "e2e-failover"
	const minRunners, before, after = 1, 3, 3
	// Longer than the takeover of the lease (about 9 s here), so that the
	// new leader meets the dead session and opens its own only after it
	// expired, retrying.
	const sessionTTL = 12 * time.Second
	e.sim.SetScaleSetSessionIdleTTL(sessionTTL)
	replicas := map[string]*octorunproc.Process{
		"octorun-a": e.startReplica(t, "octorun-a"),
		"octorun-b": e.startReplica(t, "octorun-b"),
	}
	e.createScaleSet(t, name, minRunners, 10)
	_, first := e.waitListening(t, name)

	var leader, follower string
	Eventually(t, "one replica to lead", func(context.Context) (bool, error) {
		var leading []string
		for pod, p := range replicas {
			if p.LogContains("Leading: starting") {
				leading = append(leading, pod)
			}
		}
		if len(leading) > 1 {
			return false, fmt.Errorf("both replicas lead: %v", leading)
		}
		if len(leading) == 1 {
			leader = leading[0]
		}
		return leader != "", nil
	})
	for pod := range replicas {
		if pod != leader {
			follower = pod
		}
	}
	t.Logf("%s leads; session %s of %q", leader, first.ID, first.Owner)
	e.waitIdle(t, name, minRunners)

	var jobs []githubsim.Job
	for range before {
		jobs = append(jobs, e.sim.QueueScaleSetJob("octo", "hello", name, 4*time.Second))
	}
	Eventually(t, "a job to start before the kill", func(context.Context) (bool, error) {
		for _, j := range jobs {
			if j, _ := e.sim.Job(j.ID); j.Status != githubsim.JobQueued {
				return true, nil
			}
		}
		return false, nil
	})
	replicas[leader].Kill()
	killed := time.Now()
	for range after {
		jobs = append(jobs, e.sim.QueueScaleSetJob("octo", "hello", name, 2*time.Second))
	}

	Eventually(t, follower+" to lead", func(context.Context) (bool, error) {
		return replicas[follower].LogContains("Leading: starting"), nil
	})
	// While the dead session holds the scale set, the new leader says so.
	var second githubsim.ScaleSetSession
	var refused *metav1.Condition
	Eventually(t, "a new session of the scale set", func(ctx context.Context) (bool, error) {
		rs, err := e.client.OctorunV1alpha1().RunnerSets(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		// The new leader's first word is ScaleSetPending, before its first
		// attempt at a session meets the dead one.
		if c := meta.FindStatusCondition(rs.Status.Conditions, octorunv1alpha1.RunnerSetConditionScaleSetReady); c != nil && c.Status == metav1.ConditionFalse &&
			c.Reason == octorunv1alpha1.ReasonSessionFailed && refused == nil {
			refused = c.DeepCopy()
		}
		var ok bool
		_, second, ok = e.scaleSet(name)
		return ok && second.ID != first.ID, nil
	})
	listening := time.Now()
	const createSession = "POST /_actions/{tenant}/_apis/runtime/runnerscalesets/{id}/sessions"
	t.Logf("%d session creations in all, %d calls answered 409", e.sim.Calls()[createSession], e.sim.CallsByStatus()[409])
	if took := listening.Sub(killed); took < sessionTTL {
		t.Errorf("A new session %s after the kill, before the dead one expired (%s)", took, sessionTTL)
	}
	if refused == nil || refused.Reason != octorunv1alpha1.ReasonSessionFailed {
		t.Errorf("While the dead session held the scale set, ScaleSetReady was %+v, want False SessionFailed", refused)
	} else {
		t.Logf("While the dead session held the scale set: ScaleSetReady=False %s: %s", refused.Reason, refused.Message)
	}
	// The owner is the process's host name, the pod's name in a cluster:
	// both replicas share one here, so the session's id tells them apart.
	t.Logf("%s leads, and holds session %s of %q %s after the kill", follower, second.ID, second.Owner, time.Since(killed).Round(100*time.Millisecond))

	e.waitJobsDone(t, name, jobs, listening)
	e.waitSpecRunners(t, name, minRunners)
	e.waitIdle(t, name, minRunners)
	if n, want := e.runners.created(name), len(jobs)+minRunners; n > want {
		t.Errorf("%d Runners created for %d jobs and minRunners %d, want at most %d", n, len(jobs), minRunners, want)
	}
	set, _, _ := e.scaleSet(name)
	e.waitSetDeleted(t, name, set.ID)
}

// TestScaleSetIdleRunnersOutliveJobs: a scale set of at least one runner
// runs jobs that end one after the other. A job's end lowers spec.runners
// by one and its one-job runner goes by itself: the idle runner kept for
// minRunners must stay, not be deleted and replaced at each job's end.
func TestScaleSetIdleRunnersOutliveJobs(t *testing.T) {
	e := startScaleSetEnv(t)
	const name, minRunners, jobs = "e2e-idle", 1, 3
	e.startReplica(t, "octorun-0")
	e.createScaleSet(t, name, minRunners, 10)
	e.waitListening(t, name)
	e.waitIdle(t, name, minRunners)
	var queued []githubsim.Job
	for i := range jobs {
		queued = append(queued, e.sim.QueueScaleSetJob("octo", "hello", name, time.Duration(2+i)*time.Second))
	}
	e.waitJobsDone(t, name, queued, time.Time{})
	e.waitSpecRunners(t, name, minRunners)
	e.waitIdle(t, name, minRunners)
	if n, want := e.runners.created(name), jobs+minRunners; n > want {
		t.Errorf("%d Runners created for %d jobs and minRunners %d, want at most %d", n, jobs, minRunners, want)
	}
	set, _, _ := e.scaleSet(name)
	e.waitSetDeleted(t, name, set.ID)
}

// waitIdle waits for RunnerSet name to have exactly want Runners, all Idle.
func (e *scaleSetEnv) waitIdle(t *testing.T, name string, want int) {
	t.Helper()
	Eventually(t, fmt.Sprintf("RunnerSet %s to have exactly %d Idle Runners", name, want), func(ctx context.Context) (bool, error) {
		byPhase, n, err := e.runnersOf(ctx, name)
		return err == nil && n == want && byPhase[octorunv1alpha1.RunnerPhaseIdle] == want, err
	})
}
