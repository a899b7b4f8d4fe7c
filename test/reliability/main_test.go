// Package reliability proves that Octorun survives the bad day: its own
// crashes, GitHub's faults and limits, lost and repeated webhooks, API
// server and etcd outages, busy runners under disruption, a leader lost
// under load and hostile input. Each scenario runs in its own world (a
// fresh control plane with kwok, the GitHub simulator, Octorun built from
// this tree and run as processes) and checks its invariant; every scenario
// also checks that nothing was created twice, no job was killed and nothing
// was left behind.
//
//	go test ./test/reliability -args -size=small   # CI: reduced sizes, same assertions
//	go test -timeout 90m ./test/reliability -args -size=full
//
// The results are printed as a table and written to
// _output/reliability/<size>.json.
package reliability

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/octorun/octorun/test/framework/controlplane"
	"github.com/octorun/octorun/test/framework/octorunproc"
)

var (
	sizeFlag = flag.String("size", "small", "small (CI: reduced sizes and durations) or full (make test-reliability)")
	keepFlag = flag.Bool("keep", false, "Keep every scenario's logs, not only those of failed ones")
	vFlag    = flag.Int("octorun-v", 2, "Octorun's log verbosity")
)

// size is how big and long the scenarios are.
type size struct {
	// Controller killed.
	killRunners, killJobs, kills int
	// GitHub faults.
	faultRunners int
	faultWindow  time.Duration
	// Webhook trouble.
	hookRunners, hookJobs int
	// API server trouble.
	apiRunners int
	// Busy runners.
	busyRunners int
	// Leader failover.
	failoverRunners int
	// Hostile input.
	hugeSet    int
	hugeWindow time.Duration
	// Outdated runners: how long the set of outdated runners is watched.
	outdatedWindow time.Duration
	// Scale set: the jobs of each half (leader killed, GitHub faults), the
	// set's bounds, and the window of faults.
	scaleSetJobs, scaleSetMin, scaleSetMax int
	scaleSetWindow                         time.Duration
	// syncPeriod is Octorun's --sync-period.
	syncPeriod time.Duration
}

var sizes = map[string]size{
	"full": {
		killRunners: 500, killJobs: 200, kills: 10,
		faultRunners: 250, faultWindow: time.Minute,
		hookRunners: 50, hookJobs: 300,
		apiRunners:      300,
		busyRunners:     40,
		failoverRunners: 300,
		hugeSet:         100000, hugeWindow: 2 * time.Minute,
		outdatedWindow: 5 * time.Minute,
		syncPeriod:     time.Minute,
		scaleSetJobs:   120, scaleSetMin: 2, scaleSetMax: 40, scaleSetWindow: time.Minute,
	},
	"small": {
		killRunners: 60, killJobs: 30, kills: 4,
		faultRunners: 50, faultWindow: 15 * time.Second,
		hookRunners: 12, hookJobs: 60,
		apiRunners:      60,
		busyRunners:     8,
		failoverRunners: 60,
		hugeSet:         100000, hugeWindow: 20 * time.Second,
		outdatedWindow: time.Minute,
		syncPeriod:     20 * time.Second,
		scaleSetJobs:   16, scaleSetMin: 1, scaleSetMax: 8, scaleSetWindow: 10 * time.Second,
	},
}

var (
	sz         size
	octorunBin string
	workDir    string
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var ok bool
	if sz, ok = sizes[*sizeFlag]; !ok {
		fmt.Fprintf(os.Stderr, "-size %q: want small or full\n", *sizeFlag)
		return 2
	}
	root, err := controlplane.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if workDir, err = os.MkdirTemp("", "octorun-reliability-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer controlplane.StopAll()
	ctx := context.Background()
	if err := controlplane.BuildTools(ctx, "", os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "building the control plane:", err)
		return 1
	}
	octorunBin = filepath.Join(workDir, "octorun")
	if err := octorunproc.Build(ctx, root, octorunBin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	results.write(filepath.Join(root, "_output", "reliability", *sizeFlag+".json"))
	if code == 0 && !*keepFlag {
		os.RemoveAll(workDir)
	} else {
		fmt.Fprintf(os.Stderr, "Kept the scenarios' logs in %s\n", workDir)
	}
	return code
}

// result is what one scenario did and found.
type result struct {
	Scenario  string `json:"scenario"`
	Invariant string `json:"invariant"`
	Passed    bool   `json:"passed"`
	Seconds   float64
	Runners   int `json:"runners"` // Runners created
	Jobs      int `json:"jobs"`    // jobs run
	Faults    int `json:"faults"`  // faults injected
	FaultKind string
	// Duplicates are Runners created beyond need, Runners with two pods
	// and GitHub runners registered for two Runners.
	Duplicates int `json:"duplicates"`
	JobsKilled int `json:"jobsKilled"`
	// Orphans are GitHub runners, pods and Secrets without a Runner left
	// at the end.
	Orphans int            `json:"orphans"`
	Figures map[string]any `json:"figures,omitempty"`
}

// resultList collects the scenarios' results for the table.
type resultList struct {
	sync.Mutex
	list []*result
}

var results resultList

func record(r *result) {
	results.Lock()
	defer results.Unlock()
	results.list = append(results.list, r)
}

func (rs *resultList) write(path string) {
	rs.Lock()
	defer rs.Unlock()
	if len(rs.list) == 0 {
		return
	}
	sort.SliceStable(rs.list, func(i, j int) bool { return rs.list[i].Scenario < rs.list[j].Scenario })
	var b strings.Builder
	fmt.Fprintf(&b, "\nReliability suite, size %s\n\n", *sizeFlag)
	b.WriteString("| Scenario | Invariant | Runners | Jobs | Faults injected | Duplicates | Jobs killed | Orphans | Result |\n")
	b.WriteString("|---|---|---:|---:|---|---:|---:|---:|---|\n")
	for _, r := range rs.list {
		verdict := "passed"
		if !r.Passed {
			verdict = "FAILED"
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d %s | %d | %d | %d | %s (%.0f s) |\n",
			r.Scenario, r.Invariant, r.Runners, r.Jobs, r.Faults, r.FaultKind, r.Duplicates, r.JobsKilled, r.Orphans, verdict, r.Seconds)
	}
	b.WriteString("\nFigures:\n\n")
	for _, r := range rs.list {
		keys := make([]string, 0, len(r.Figures))
		for k := range r.Figures {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "- %s: %s: %v\n", r.Scenario, k, r.Figures[k])
		}
	}
	fmt.Print(b.String())
	out, err := json.MarshalIndent(map[string]any{"size": *sizeFlag, "finished": time.Now().UTC(), "scenarios": rs.list}, "", "  ")
	if err == nil && os.MkdirAll(filepath.Dir(path), 0o755) == nil {
		if err := os.WriteFile(path, append(out, '\n'), 0o644); err == nil {
			fmt.Printf("\nWrote %s\n", path)
		}
	}
}
