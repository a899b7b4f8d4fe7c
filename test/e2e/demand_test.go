package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/framework/octorunproc"
	"github.com/octorun/octorun/test/githubsim"
)

// demandConvergence is how soon after the last delivery every replica must
// export the true number of queued jobs.
const demandConvergence = 5 * time.Second

// TestDemandAcrossReplicas runs two Octorun processes behind a proxy that
// splits the simulator's webhook deliveries between them at random, as the
// Service in front of the two replicas of manifests/deployment.yaml does:
// a job's queued and in_progress deliveries often go to different replicas.
// Jobs are queued, started and completed at random, deliveries come several
// at once, some late and some twice, and one replica is restarted half-way.
// Both replicas' octorun_runnerset_queued_jobs must equal the simulator's
// queued jobs within 5 s of the last delivery, and a waiting job (waiting
// for an environment's approval) must not count.
func TestDemandAcrossReplicas(t *testing.T) {
	client := InstallCRDs(t)
	ns := NewNamespace(t)
	grantAll(t, ns)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	const reorderDelay = 500 * time.Millisecond
	sim := githubsim.New(githubsim.Options{
		Logf:                 func(string, ...any) {},
		WebhookWorkers:       4,
		WebhookDuplicateRate: 0.1,
		WebhookReorderRate:   0.2,
		WebhookReorderDelay:  reorderDelay,
	})
	sim.AddToken(simToken)
	sim.AddOrganization("octo")
	sim.AddRepository("octo", "hello")
	srv := httptest.NewServer(sim)
	defer srv.Close()
	defer sim.Close()

	// Runners of someone else, outside Octorun: the simulator starts jobs
	// on them when they are online and idle.
	var runners []int64
	for i := range 3 {
		runners = append(runners, sim.AddRunner("octo", "", fmt.Sprintf("ext-%d", i), "self-hosted").ID)
	}

	secretFile := filepath.Join(t.TempDir(), "webhook-secret")
	if err := os.WriteFile(secretFile, []byte(envWebhookSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	type replica struct {
		proc                             *octorunproc.Process
		args                             []string
		metricsAddr, healthAddr, webhook string
	}
	newReplica := func() *replica {
		var addrs [3]string
		for i := range addrs {
			var err error
			if addrs[i], err = octorunproc.FreeAddr(); err != nil {
				t.Fatal(err)
			}
		}
		metricsAddr, healthAddr, hookAddr := addrs[0], addrs[1], addrs[2]
		// The metrics are scraped without a token.
		r := &replica{metricsAddr: metricsAddr, healthAddr: healthAddr, webhook: "http://" + hookAddr, args: []string{
			"--kubeconfig", ControlPlane.KubeconfigPath, "--github-api-url", srv.URL + "/",
			"--namespace", ns, "--pod-namespace", ns, "--runner-name-prefix", "demand-",
			"--metrics-addr", metricsAddr, "--metrics-secure=false", "--health-probe-addr", healthAddr, "--github-webhook-addr", hookAddr,
			"--github-webhook-secret-file", secretFile, "-v", "2",
		}}
		r.proc = startOctorun(t, r.args...)
		return r
	}
	replicas := []*replica{newReplica(), newReplica()}
	waitReady := func(r *replica) {
		t.Helper()
		Eventually(t, "Octorun at "+r.healthAddr+" to be ready", func(context.Context) (bool, error) {
			resp, err := http.Get("http://" + r.healthAddr + "/readyz")
			if err != nil {
				return false, nil
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, nil
		})
	}
	for _, r := range replicas {
		waitReady(r)
	}

	split := &webhookSplitter{rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))}
	for _, r := range replicas {
		split.add(r.webhook)
	}
	proxy := httptest.NewServer(split)
	defer proxy.Close()
	sim.SetWebhook(proxy.URL+"/github/webhooks", envWebhookSecret)

	set := &octorunv1alpha1.RunnerSet{
		ObjectMeta: metav1.ObjectMeta{Name: "demand"},
		Spec: octorunv1alpha1.RunnerSetSpec{
			Runners:  ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{octorunv1alpha1.LabelRunnerSet: "demand"}},
			Template: octorunv1alpha1.RunnerTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{octorunv1alpha1.LabelRunnerSet: "demand"}},
				Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octo"},
			},
		},
	}
	if _, err := client.OctorunV1alpha1().RunnerSets(ns).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	// step queues a job, starts the oldest queued one on a runner, or
	// completes a running one, at random.
	step := func() {
		jobs := sim.Jobs()
		var running []int64
		for _, j := range jobs {
			if j.Status == githubsim.JobInProgress {
				running = append(running, j.ID)
			}
		}
		switch n := rng.IntN(10); {
		case n < 6:
			sim.QueueJob(githubsim.JobRequest{Owner: "octo", Repo: "hello", Labels: []string{"self-hosted"}})
		case n < 8:
			// A runner comes online, takes the oldest queued job if it is
			// idle, and goes offline again once idle.
			id := runners[rng.IntN(len(runners))]
			_ = sim.SetRunnerOnline(id, true)
			if r, ok := sim.Runner(id); ok && !r.Busy {
				_ = sim.SetRunnerOnline(id, false)
			}
		case len(running) > 0:
			id := running[rng.IntN(len(running))]
			if j, ok := sim.Job(id); ok {
				_ = sim.CompleteJob(id)
				// The runner would take the next job: it leaves instead,
				// unless it took one already.
				if r, ok := sim.Runner(j.RunnerID); ok && !r.Busy {
					_ = sim.SetRunnerOnline(r.ID, false)
				}
			}
		}
		time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
	}
	trueQueued := func() int {
		n := 0
		for _, j := range sim.Jobs() {
			if j.Status == githubsim.JobQueued {
				n++
			}
		}
		return n
	}
	exported := func(r *replica) (int, bool) {
		return scrape(r.metricsAddr, `octorun_runnerset_queued_jobs{namespace="`+ns+`",runnerset="demand"} `)
	}
	// commits are the job store's writes for deliveries of the replicas
	// (the restarted one's since its restart).
	commits := func() int {
		n := 0
		for _, r := range replicas {
			for _, result := range []string{"success", "error"} {
				c, _ := scrape(r.metricsAddr, `octorun_jobstore_writes_total{reason="commit",result="`+result+`"} `)
				n += c
			}
		}
		return n
	}
	// converge waits for the deliveries to be over, then checks that both
	// replicas export the true count within demandConvergence of the last.
	converge := func(phase string) {
		t.Helper()
		var last []githubsim.Delivery
		for stable := 0; stable < int((reorderDelay+time.Second)/(100*time.Millisecond)); {
			time.Sleep(100 * time.Millisecond)
			ds := sim.Deliveries()
			if len(ds) == len(last) {
				stable++
			} else {
				stable = 0
			}
			last = ds
		}
		var lastAnswer time.Time
		failed := 0
		for _, d := range last {
			if d.AnsweredAt.After(lastAnswer) {
				lastAnswer = d.AnsweredAt
			}
			if d.StatusCode/100 != 2 {
				failed++
				t.Errorf("%s: delivery %s (%s of job %d) failed: status %d %s", phase, d.ID, d.Action, d.JobID, d.StatusCode, d.Err)
			}
		}
		want := trueQueued()
		var got [2]int
		var known [2]bool
		for {
			for i, r := range replicas {
				got[i], known[i] = exported(r)
			}
			if known[0] && known[1] && got[0] == want && got[1] == want {
				t.Logf("%s: %d deliveries (%v to each replica), %d jobs queued: both replicas agree %s after the last delivery; %d job store writes",
					phase, len(last), split.counts(), want, time.Since(lastAnswer).Round(10*time.Millisecond), commits())
				break
			}
			if time.Since(lastAnswer) > demandConvergence {
				t.Fatalf("%s: %s after the last delivery the replicas export %v (known %v) queued jobs, want %d",
					phase, time.Since(lastAnswer).Round(10*time.Millisecond), got, known, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	for range 80 {
		step()
	}
	converge("Random split")

	// A job waiting for an environment's approval is no demand.
	waiting := waitingPayload(t, 999_999_999)
	req, _ := http.NewRequest(http.MethodPost, proxy.URL+"/github/webhooks", bytes.NewReader(waiting))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "workflow_job")
	req.Header.Set("X-GitHub-Delivery", "e2e-waiting-1")
	req.Header.Set("X-Hub-Signature-256", githubsim.Sign([]byte(envWebhookSecret), waiting))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Errorf("The waiting delivery: status %d", resp.StatusCode)
	}
	time.Sleep(time.Second)
	for i, r := range replicas {
		if got, _ := exported(r); got != trueQueued() {
			t.Errorf("After a waiting delivery replica %d exports %d queued jobs, want %d", i, got, trueQueued())
		}
	}

	// Restart a replica half-way: the Service stops sending it deliveries
	// (its pod terminates), it stops gracefully, deliveries go on to the
	// other, and it comes back.
	b := replicas[1]
	split.setUp(b.webhook, false)
	for range 20 {
		step()
	}
	if err := b.proc.Stop(15 * time.Second); err != nil {
		t.Errorf("Stopping a replica: %v", err)
	}
	for range 30 {
		step()
	}
	b.proc = startOctorun(t, b.args...)
	waitReady(b)
	split.setUp(b.webhook, true)
	for range 60 {
		step()
	}
	converge("After a restart")

	// Everything queued starts or is cancelled: no phantom demand is left.
	for _, id := range runners {
		_ = sim.SetRunnerOnline(id, true)
	}
	for trueQueued() > 0 || len(runningJobs(sim)) > 0 {
		for _, id := range runningJobs(sim) {
			_ = sim.CompleteJob(id)
		}
		time.Sleep(20 * time.Millisecond)
	}
	converge("All jobs done")

	if err := client.OctorunV1alpha1().RunnerSets(ns).Delete(ctx, "demand", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// scrape returns the value of the series starting with prefix (name,
// labels and a space) that Octorun's metrics server at addr exports.
func scrape(addr, prefix string) (int, bool) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			n, err := strconv.ParseFloat(v, 64)
			return int(n), err == nil
		}
	}
	return 0, false
}

func runningJobs(sim *githubsim.Server) []int64 {
	var ids []int64
	for _, j := range sim.Jobs() {
		if j.Status == githubsim.JobInProgress {
			ids = append(ids, j.ID)
		}
	}
	return ids
}

// waitingPayload is a workflow_job "waiting" event: a job of octo/hello
// waiting for an environment's approval.
func waitingPayload(t *testing.T, jobID int64) []byte {
	t.Helper()
	now := time.Now().UTC().Format(time.RFC3339)
	body, err := json.Marshal(map[string]any{
		"action": "waiting",
		"workflow_job": map[string]any{
			"id": jobID, "run_id": jobID, "status": "waiting", "labels": []string{"self-hosted"},
			"created_at": now, "started_at": now, "name": "deploy", "steps": []any{},
		},
		"repository":   map[string]any{"id": 1, "name": "hello", "full_name": "octo/hello", "owner": map[string]any{"login": "octo", "id": 2}},
		"organization": map[string]any{"login": "octo", "id": 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// webhookSplitter sends each delivery to one of its backends, at random
// among those up, as a Service does; it forwards the answer.
type webhookSplitter struct {
	mu       sync.Mutex
	rng      *rand.Rand
	backends []string
	up       []bool
	sent     []int
}

func (s *webhookSplitter) add(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.backends, s.up, s.sent = append(s.backends, url), append(s.up, true), append(s.sent, 0)
}

func (s *webhookSplitter) setUp(url string, up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, b := range s.backends {
		if b == url {
			s.up[i] = up
		}
	}
}

func (s *webhookSplitter) counts() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.sent...)
}

func (s *webhookSplitter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	var up []int
	for i, ok := range s.up {
		if ok {
			up = append(up, i)
		}
	}
	i := up[s.rng.IntN(len(up))]
	s.sent[i]++
	backend := s.backends[i]
	s.mu.Unlock()
	req, err := http.NewRequestWithContext(r.Context(), r.Method, backend+r.URL.Path, bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}
