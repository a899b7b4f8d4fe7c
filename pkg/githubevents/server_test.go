package githubevents

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/klog/v2/ktesting"

	"github.com/octorun/octorun/test/githubsim"
)

// TestServerWithSimulator: the simulated GitHub's signed deliveries, over
// HTTP through a Server, reach the sink; the server shuts down gracefully.
func TestServerWithSimulator(t *testing.T) {
	r, sink, _, reg := newTestReceiver(t, func(o *Options) { o.Now = nil })
	run(t, r)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- NewServer("", r, nil).Serve(ctx, ln) }()

	sim := githubsim.New(githubsim.Options{WebhookURL: "http://" + ln.Addr().String() + DefaultPath, WebhookSecret: string(testSecret)})
	defer sim.Close()
	runner := sim.AddRunner("octo", "", "prod-ns-r1", "linux")
	if err := sim.SetRunnerOnline(runner.ID, true); err != nil {
		t.Fatal(err)
	}
	queued := sim.QueueJob(githubsim.JobRequest{Owner: "octo", Repo: "hello", Labels: []string{"linux"}})
	if err := sim.CompleteJob(queued.ID); err != nil {
		t.Fatal(err)
	}
	// One more job, for the demand: no runner is free.
	sim.QueueJob(githubsim.JobRequest{Owner: "octo", Repo: "hello", Labels: []string{"gpu"}})
	waitForProcessed(t, reg, 4)

	j, _ := sim.Job(queued.ID)
	calls := sink.Calls()
	want := []sinkCall{
		{Method: "JobStarted", Org: "octo", Repo: "hello", RunnerID: runner.ID, RunnerName: "prod-ns-r1", JobID: j.ID, RunID: j.RunID, StartedAt: j.StartedAt.Truncate(time.Second)},
		{Method: "JobCompleted", Org: "octo", Repo: "hello", RunnerID: runner.ID, RunnerName: "prod-ns-r1", JobID: j.ID, RunID: j.RunID,
			StartedAt: j.StartedAt.Truncate(time.Second), CompletedAt: j.CompletedAt.Truncate(time.Second)},
	}
	if diff := cmp.Diff(want, calls, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("Sink calls (-want +got):\n%s", diff)
	}
	if n := queuedJobs(t, r, "octo", "", []string{"gpu"}); n != 1 {
		t.Errorf("QueuedJobs = %d, want 1", n)
	}
	for _, d := range sim.Deliveries() {
		if d.StatusCode != http.StatusAccepted {
			t.Errorf("Delivery %s %s answered %d %s, want 202", d.Event, d.Action, d.StatusCode, d.Err)
		}
	}

	// A redelivery is acknowledged as a duplicate.
	if err := sim.Redeliver(sim.Deliveries()[1].ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(sim.Deliveries()) < 5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if ds := sim.Deliveries(); len(ds) != 5 || ds[4].StatusCode != http.StatusOK {
		t.Errorf("Redelivery: %+v, want a fifth delivery answered 200", ds)
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("The server did not shut down")
	}
}

func TestServerTimeouts(t *testing.T) {
	s := NewServer(":0", http.NotFoundHandler(), nil)
	if s.server.ReadHeaderTimeout == 0 || s.server.ReadTimeout == 0 || s.server.WriteTimeout == 0 || s.server.IdleTimeout == 0 {
		t.Errorf("Server timeouts: %+v; want all set", s.server)
	}
}

func TestLoadSecret(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte(" s3cret \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SECRET": "from-env", "EMPTY": ""}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct {
		name, file, env string
		want            string
		wantErr         bool
	}{
		{name: "file", file: file, env: "SECRET", want: " s3cret "},
		{name: "environment", env: "SECRET", want: "from-env"},
		{name: "empty file", file: empty, env: "SECRET", wantErr: true},
		{name: "missing file", file: filepath.Join(dir, "none"), wantErr: true},
		{name: "empty environment", env: "EMPTY", wantErr: true},
		{name: "unset environment", env: "UNSET", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadSecret(tc.file, tc.env, getenv)
			if (err != nil) != tc.wantErr || string(got) != tc.want {
				t.Errorf("LoadSecret = %q, %v; want %q, error %v", got, err, tc.want, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("The error shows the secret: %v", err)
			}
		})
	}
}
