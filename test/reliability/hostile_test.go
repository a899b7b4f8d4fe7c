package reliability

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	certutil "k8s.io/client-go/util/cert"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/framework/octorunproc"
	"github.com/octorun/octorun/test/framework/world"
	"github.com/octorun/octorun/test/githubsim"
)

// TestHostileInput sends Octorun's servers what an attacker or a broken
// client would, gives the API server absurd specs, and scales a RunnerSet
// to 100,000.
func TestHostileInput(t *testing.T) {
	r := newResult(t, "7. Hostile input: webhooks, AdmissionReviews, absurd specs, a RunnerSet of 100,000",
		"clear rejections or bounded behaviour; no panic; memory bounded")
	ctx := context.Background()
	dir := t.TempDir()
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey("127.0.0.1", []net.IP{net.ParseIP("127.0.0.1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	admissionAddr, err := octorunproc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	w := startWorld(t, world.Options{
		Nodes: 2, AgentEvery: 200 * time.Millisecond, WithWebhooks: true,
		// GitHub's own limits: a huge set meets them.
		Sim:         githubsim.Options{SecondaryPointsPerMinute: 900, WebhookWorkers: 4},
		OctorunArgs: []string{"--admission-addr=" + admissionAddr, "--admission-cert-file=" + certFile, "--admission-key-file=" + keyFile},
	})
	octorun := w.Octorun()

	t.Run("webhook receiver", func(t *testing.T) { hostileWebhooks(ctx, t, w, r) })
	t.Run("admission", func(t *testing.T) { hostileAdmission(ctx, t, w, "https://"+admissionAddr, r) })
	t.Run("absurd specs", func(t *testing.T) { absurdSpecs(ctx, t, w, r) })
	t.Run("RunnerSet of 100,000", func(t *testing.T) { hugeSet(ctx, t, w, r) })

	if err := w.CheckAlive(); err != nil || w.Octorun() != octorun {
		t.Errorf("Octorun did not survive: %v", err)
	}
	usage, err := octorun.Usage()
	if err != nil {
		t.Fatal(err)
	}
	r.Figures["Octorun peak RSS"] = fmt.Sprintf("%.0f MiB", float64(usage.PeakRSS)/(1<<20))
	if usage.PeakRSS > 512<<20 {
		t.Errorf("Octorun's peak RSS was %d MiB, want at most 512", usage.PeakRSS>>20)
	}
	if b, err := os.ReadFile(octorun.LogPath); err == nil && bytes.Contains(b, []byte("panic")) {
		t.Errorf("Octorun's log has a panic")
	}
	r.FaultKind = "hostile requests"
}

// hostileWebhooks sends the receiver forged, malformed, oversized, replayed
// and flooding deliveries.
func hostileWebhooks(ctx context.Context, t *testing.T, w *world.World, r *result) {
	url := "http://" + w.Octorun().Webhooks + "/github/webhooks"
	secret, err := os.ReadFile(filepath.Join(w.Dir, "webhook-secret"))
	if err != nil {
		t.Fatal(err)
	}
	post := func(body []byte, headers map[string]string) int {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "workflow_job")
		req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("hostile-%d", time.Now().UnixNano()))
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0 // the server may hang up on an oversized body
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	signed := func(body []byte) map[string]string {
		return map[string]string{"X-Hub-Signature-256": githubsim.Sign(secret, body)}
	}
	valid := []byte(`{"action":"queued","workflow_job":{"id":1,"run_id":1,"labels":["self-hosted"],"status":"queued"},"repository":{"name":"app","owner":{"login":"octo"}},"organization":{"login":"octo"}}`)
	huge := bytes.Repeat([]byte("A"), 32<<20)
	cases := []struct {
		name    string
		body    []byte
		headers map[string]string
		want    []int
	}{
		{"forged signature", valid, map[string]string{"X-Hub-Signature-256": "sha256=" + strings.Repeat("0", 64)}, []int{401, 403}},
		{"no signature", valid, nil, []int{401, 403}},
		{"signature of another secret", valid, map[string]string{"X-Hub-Signature-256": githubsim.Sign([]byte("guess"), valid)}, []int{401, 403}},
		{"malformed JSON, signed", []byte(`{"action":`), signed([]byte(`{"action":`)), []int{400}},
		{"JSON of the wrong shape, signed", []byte(`[1,2,3]`), signed([]byte(`[1,2,3]`)), []int{400}},
		{"32 MiB body, unsigned", huge, nil, []int{0, 401, 413}},
		{"32 MiB body, signed", huge, signed(huge), []int{0, 413}},
		{"wrong content type", valid, map[string]string{"Content-Type": "text/plain", "X-Hub-Signature-256": githubsim.Sign(secret, valid)}, []int{400, 415}},
	}
	for _, c := range cases {
		got := post(c.body, c.headers)
		ok := false
		for _, want := range c.want {
			ok = ok || got == want
		}
		if !ok {
			t.Errorf("%s: answered %d, want one of %v", c.name, got, c.want)
		}
		r.Faults++
	}
	// Replays: the simulator redelivers deliveries Octorun answered;
	// they must be taken as duplicates, not acted on twice.
	queueJobs(ctx, w, 3, 0, time.Second, time.Second)
	if err := w.CreateRunnerSet(ctx, setName, 3); err != nil {
		t.Fatal(err)
	}
	waitJobs(ctx, t, w, 3, 2*time.Minute)
	var replayed int
	for _, d := range w.Sim.Deliveries() {
		if d.StatusCode/100 == 2 {
			if err := w.Sim.Redeliver(d.ID); err == nil {
				replayed++
			}
		}
	}
	r.Faults += replayed
	if err := w.WaitFor(ctx, "replays answered", time.Minute, func() (bool, error) {
		families, err := w.Octorun().Scrape(ctx)
		if err != nil {
			return false, nil
		}
		duplicates := 0.0
		for _, m := range families["octorun_githubevents_deliveries_total"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == "duplicate" {
					duplicates += m.GetCounter().GetValue()
				}
			}
		}
		return int(duplicates) >= replayed, nil
	}); err != nil {
		t.Errorf("Replayed deliveries were not all taken as duplicates: %v", err)
	}
	// A flood of garbage from many clients at once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[int]int{}
	for i := range 2000 {
		wg.Go(func() {
			code := post([]byte(fmt.Sprintf(`{"n":%d}`, i)), map[string]string{"X-Hub-Signature-256": "sha256=00"})
			mu.Lock()
			answers[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if answers[http.StatusUnauthorized] != 2000 {
		t.Errorf("The flood of forged deliveries was answered %v, want 401 to all", answers)
	}
	r.Faults += 2000
	r.Figures["webhook requests"] = fmt.Sprintf("%d hostile, %d replays, 2000 forged in a flood (answered %v)", len(cases), replayed, answers)
}

// Absurd specs, for the admission webhook and the API server alike.
func tenThousandVolumes(ru *octorunv1alpha1.Runner) {
	for i := range 10000 {
		ru.Spec.Volumes = append(ru.Spec.Volumes, corev1.Volume{Name: fmt.Sprintf("v%d", i), VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}
}

func aMegabyteOfLabels(ru *octorunv1alpha1.Runner) {
	if ru.Labels == nil {
		ru.Labels = map[string]string{}
	}
	for i := range 16000 {
		ru.Labels[fmt.Sprintf("l%05d", i)] = strings.Repeat("x", 60)
	}
}

// hostileAdmission sends garbage and absurd AdmissionReviews to the
// admission webhook, as a broken or hostile client of its port would.
func hostileAdmission(ctx context.Context, t *testing.T, w *world.World, base string, r *result) {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the test's own self-signed certificate
	}}
	review := func(obj runtime.Object, kind string) []byte {
		raw, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{
				UID:       "hostile",
				Kind:      metav1.GroupVersionKind{Group: octorunv1alpha1.GroupName, Version: "v1alpha1", Kind: kind},
				Resource:  metav1.GroupVersionResource{Group: octorunv1alpha1.GroupName, Version: "v1alpha1", Resource: strings.ToLower(kind) + "s"},
				Operation: admissionv1.Create,
				Namespace: namespace,
				Object:    runtime.RawExtension{Raw: raw},
			},
		})
		return b
	}
	runner := func(url string, mutate func(*octorunv1alpha1.Runner)) *octorunv1alpha1.Runner {
		ru := &octorunv1alpha1.Runner{
			TypeMeta:   metav1.TypeMeta{APIVersion: "octorun.github.io/v1alpha1", Kind: "Runner"},
			ObjectMeta: metav1.ObjectMeta{Name: "hostile", Namespace: namespace},
			Spec:       octorunv1alpha1.RunnerSpec{URL: url},
		}
		if mutate != nil {
			mutate(ru)
		}
		return ru
	}
	set := w.RunnerSet("huge", 100000)
	set.TypeMeta = metav1.TypeMeta{APIVersion: octorunv1alpha1.SchemeGroupVersion.String(), Kind: "RunnerSet"}
	cases := []struct {
		name string
		body []byte
		// allowed: "" any answer, "denied" a refusal with a message.
		want string
	}{
		{name: "empty body", body: nil},
		{name: "not JSON", body: []byte("\x00\x01garbage")},
		{name: "JSON without a request", body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`)},
		{name: "object of the wrong shape", body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"group":"octorun.github.io","version":"v1alpha1","kind":"Runner"},"operation":"CREATE","object":[1,2]}}`)},
		{name: "20 MiB body", body: bytes.Repeat([]byte("{"), 20<<20)},
		{name: "unicode host", body: review(runner("https://gíthub.com/octo", nil), "Runner"), want: "denied"},
		{name: "unicode owner", body: review(runner("https://github.com/ōcto", nil), "Runner"), want: "denied"},
		{name: "10,000 volumes", body: review(runner("https://github.com/octo", tenThousandVolumes), "Runner")},
		{name: "1 MB of labels", body: review(runner("https://github.com/octo", aMegabyteOfLabels), "Runner")},
		{name: "RunnerSet of 100,000", body: review(set, "RunnerSet")},
	}
	for _, path := range []string{"/validate", "/mutate"} {
		for _, c := range cases {
			r.Faults++
			start := time.Now()
			resp, err := client.Post(base+path, "application/json", bytes.NewReader(c.body))
			if err != nil {
				t.Errorf("%s %s: %v", path, c.name, err)
				continue
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			took := time.Since(start)
			if resp.StatusCode >= 500 {
				t.Errorf("%s %s: answered %d: %s", path, c.name, resp.StatusCode, body)
			}
			if took > 5*time.Second {
				t.Errorf("%s %s: answered in %s, more than the API server's 5s timeout", path, c.name, took.Round(time.Millisecond))
			}
			if c.want == "denied" && path == "/validate" {
				var out admissionv1.AdmissionReview
				if err := json.Unmarshal(body, &out); err != nil || out.Response == nil || out.Response.Allowed || out.Response.Result == nil || out.Response.Result.Message == "" {
					t.Errorf("%s %s: answered %d %s, want a denial with a message", path, c.name, resp.StatusCode, body)
				}
			}
			t.Logf("%s %s: %d in %s", path, c.name, resp.StatusCode, took.Round(time.Millisecond))
		}
	}
	r.Figures["AdmissionReviews"] = fmt.Sprintf("%d hostile or absurd, to /validate and /mutate", len(cases))
}

// absurdSpecs creates Runners with absurd specs through the API server:
// each is refused with a message, or Octorun takes it to a phase that says
// what happened.
func absurdSpecs(ctx context.Context, t *testing.T, w *world.World, r *result) {
	specs := map[string]func(*octorunv1alpha1.Runner){
		"10,000 volumes":       tenThousandVolumes,
		"1 MB of labels":       aMegabyteOfLabels,
		"unicode host":         func(ru *octorunv1alpha1.Runner) { ru.Spec.URL = "https://gíthub.com/octo" },
		"unicode owner":        func(ru *octorunv1alpha1.Runner) { ru.Spec.URL = "https://github.com/ōcto" },
		"owner GitHub refuses": func(ru *octorunv1alpha1.Runner) { ru.Spec.URL = "https://github.com/octo.run" },
	}
	outcomes := map[string]string{}
	i := 0
	for name, mutate := range specs {
		i++
		r.Faults++
		ru := &octorunv1alpha1.Runner{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("absurd-%d", i), Namespace: namespace, Labels: map[string]string{}},
			Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/" + world.Org},
		}
		mutate(ru)
		_, err := w.Octo.OctorunV1alpha1().Runners(namespace).Create(ctx, ru, metav1.CreateOptions{})
		if err != nil {
			msg := err.Error()
			if len(msg) > 160 {
				msg = msg[:160] + "…"
			}
			outcomes[name] = "refused by the API server: " + msg
			continue
		}
		var phase octorunv1alpha1.RunnerPhase
		var why string
		err = w.WaitFor(ctx, name+" settled", time.Minute, func() (bool, error) {
			got, err := w.Octo.OctorunV1alpha1().Runners(namespace).Get(ctx, ru.Name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			phase = got.Status.Phase
			why = ""
			for _, c := range got.Status.Conditions {
				if c.Status != metav1.ConditionTrue {
					why += c.Reason + " "
				}
			}
			return phase == octorunv1alpha1.RunnerPhaseIdle || phase == octorunv1alpha1.RunnerPhaseFailed, nil
		})
		if err != nil {
			t.Errorf("%s: accepted, and the Runner is still %q after a minute (%s)", name, phase, why)
		}
		outcomes[name] = fmt.Sprintf("accepted; Octorun took it to %s %s", phase, strings.TrimSpace(why))
		if err := w.Octo.OctorunV1alpha1().Runners(namespace).Delete(ctx, ru.Name, metav1.DeleteOptions{}); err != nil {
			t.Error(err)
		}
	}
	for name, o := range outcomes {
		t.Logf("%s: %s", name, o)
		r.Figures["absurd spec: "+name] = o
	}
}

// hugeSet scales a RunnerSet to 100,000 against GitHub's limits for a
// while, then back down.
func hugeSet(ctx context.Context, t *testing.T, w *world.World, r *result) {
	r.Faults++
	if err := w.Scale(ctx, setName, sz.hugeSet); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	before, err := w.Octorun().Usage()
	if err != nil {
		t.Fatal(err)
	}
	sleep(ctx, sz.hugeWindow)
	runners, err := runnersOf(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	registered := 0
	for _, ru := range runners {
		if ru.Spec.ID != 0 {
			registered++
		}
	}
	after, err := w.Octorun().Usage()
	if err != nil {
		t.Fatal(err)
	}
	r.Figures["RunnerSet of 100,000"] = fmt.Sprintf("after %s: %d Runners, %d registered (GitHub allows 180 a minute); Octorun RSS %.0f → %.0f MiB",
		time.Since(start).Round(time.Second), len(runners), registered, float64(before.RSS)/(1<<20), float64(after.RSS)/(1<<20))
	t.Log(r.Figures["RunnerSet of 100,000"])
	if unregistered := len(runners) - registered; unregistered > 500+50 {
		t.Errorf("%d Runners wait for their registration; want at most 500 (and those finishing)", unregistered)
	}
	// Back to a sane size: the extra Runners go, deregistered from GitHub.
	if err := w.Scale(ctx, setName, 3); err != nil {
		t.Fatal(err)
	}
	took := waitConverged(ctx, t, w, 3, 10*time.Minute)
	r.Figures["scaled back down to 3 in"] = took.Round(time.Second).String()
	audit(ctx, t, w, r, -1)
}
