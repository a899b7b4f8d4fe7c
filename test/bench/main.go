// Command bench measures Octorun at scale on a real control plane: each
// scenario starts a fresh kube-apiserver, etcd, controller manager,
// scheduler and kwok, a GitHub simulator, Octorun as a process (built from
// this tree) and the runner agent, then measures from outside. It prints a
// Markdown table and writes every figure as JSON, Octorun's profiles and
// SVG plots (drawn by test/bench/plot) next to it.
//
//	go run ./test/bench                 # the full run (about 35 minutes)
//	go run ./test/bench -size small     # a small run proving the harness (CI)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/octorun/octorun/test/framework/controlplane"
	"github.com/octorun/octorun/test/framework/octorunproc"
	"github.com/octorun/octorun/test/framework/world"
)

// scaleRun is one scale-up: to runners, with Octorun's client at qps.
type scaleRun struct {
	runners int
	qps     float64
}

// config is what a run measures, and how.
type config struct {
	size      string
	scenarios map[string]bool
	out       string
	// outDir, the JSON's path without .json, receives the profiles and
	// plots.
	outDir     string
	plots      string
	keep       bool
	profiles   bool
	root       string
	workDir    string
	octorunBin string

	octorunV    int
	octorunArgs []string
	kubeQPS     float64

	scaleRuns       []scaleRun
	churnRunners    int
	churnJobs       int
	churnRate       float64
	scaleSetJobs    int
	scaleSetRunners int
	jobMin, jobMax  time.Duration
	steadyRunners   int
	steadyDuration  time.Duration
	syncPeriod      time.Duration
	jitDuration     time.Duration
	goBenchTime     string
	goBenchDisabled bool

	// repeat runs every scenario that many times, when set; repeats are
	// the preset's runs by scenario ID otherwise, 1 when not named.
	repeat  int
	repeats map[string]int
}

var sizes = map[string]config{
	"full": {
		// 100 at 20 QPS beside the peer's figure; 1,000 at 500 QPS, the
		// median of 3 runs, for the rate; 5,000 and 10,000 for memory.
		scaleRuns: []scaleRun{{100, 20}, {1000, 200}, {1000, 500}, {5000, 500}, {10000, 500}}, repeats: map[string]int{"scale-1000-500": 3}, churnRunners: 200, churnJobs: 2000, churnRate: 10, scaleSetJobs: 2000, scaleSetRunners: 200, jobMin: time.Second, jobMax: 10 * time.Second,
		steadyRunners: 500, steadyDuration: 10 * time.Minute, syncPeriod: 5 * time.Minute, jitDuration: 3 * time.Minute, goBenchTime: "3s",
	},
	"small": {
		scaleRuns: []scaleRun{{100, 200}}, churnRunners: 20, churnJobs: 100, churnRate: 5, scaleSetJobs: 50, scaleSetRunners: 20, jobMin: time.Second, jobMax: 3 * time.Second,
		steadyRunners: 50, steadyDuration: 30 * time.Second, syncPeriod: 10 * time.Second, jitDuration: 20 * time.Second, goBenchTime: "1x",
	},
}

const allScenarios = "scale,churn,scaleset,steady,jit,go"

// subScenarios name parts of a scenario that may be run alone.
var subScenarios = map[string]string{"churn-burst": "churn", "churn-paced": "churn"}

func main() {
	var cfg config
	var scenarios, scale string
	flag.StringVar(&cfg.size, "size", "full", "Preset sizes: full (the published figures) or small (proves the harness in a few minutes)")
	flag.StringVar(&scenarios, "scenarios", allScenarios, "Comma-separated scenarios to run")
	flag.StringVar(&scale, "scale-runners", "", "Comma-separated scale-ups, each N (runners, at --kube-api-qps) or N@QPS (default: the preset's)")
	flag.IntVar(&cfg.churnRunners, "churn-runners", 0, "RunnerSet size of the churn scenario (default: the preset's)")
	flag.IntVar(&cfg.churnJobs, "churn-jobs", 0, "Jobs of the churn scenario (default: the preset's)")
	flag.Float64Var(&cfg.churnRate, "churn-rate", 0, "Jobs a second arriving in the paced churn (default: the preset's)")
	flag.IntVar(&cfg.scaleSetJobs, "scaleset-jobs", 0, "Jobs of the scale-set scenario (default: the preset's)")
	flag.IntVar(&cfg.scaleSetRunners, "scaleset-max-runners", 0, "maxRunners of the scale-set scenario's RunnerSet (default: the preset's)")
	flag.IntVar(&cfg.steadyRunners, "steady-runners", 0, "Idle runners of the steady-state scenario (default: the preset's)")
	flag.DurationVar(&cfg.steadyDuration, "steady-duration", 0, "Length of the steady-state window (default: the preset's)")
	flag.DurationVar(&cfg.jitDuration, "jit-duration", 0, "Length of the registration-rate window (default: the preset's)")
	flag.Float64Var(&cfg.kubeQPS, "kube-api-qps", 200, "Octorun's Kubernetes client QPS (burst: twice as many), unless a scale-up says otherwise")
	flag.StringVar(&cfg.out, "out", "", "Where to write the JSON (default _output/bench/<size>.json); profiles and plots go to the directory of its name without .json")
	flag.IntVar(&cfg.repeat, "repeat", 0, "Run each scenario this many times and report the median with the spread (default: the preset's, 3 for the full run's 1,000 runners at 500 QPS, 1 otherwise)")
	flag.StringVar(&cfg.plots, "plots", "", "Also write the SVG plots to this directory, e.g. docs/images")
	var replot string
	flag.StringVar(&replot, "replot", "", "Run nothing: draw the plots of this JSON of an earlier run (to its directory, and -plots)")
	flag.IntVar(&cfg.octorunV, "octorun-v", 0, "Octorun's log verbosity (-v); 6 logs every Kubernetes request")
	flag.Func("octorun-arg", "An extra flag for Octorun, e.g. --octorun-arg=--runner-workers=16 (repeatable)", func(v string) error {
		cfg.octorunArgs = append(cfg.octorunArgs, v)
		return nil
	})
	flag.BoolVar(&cfg.keep, "keep", false, "Keep the scenarios' directories (control plane and Octorun logs)")
	flag.BoolVar(&cfg.profiles, "profiles", true, "Keep Octorun's CPU and heap profiles (pprof) of the scale-ups and bursts with the plots")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if replot != "" {
		if err := plotJSON(ctx, replot, cfg.plots); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, cfg, scenarios, scale); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(ctx context.Context, cfg config, scenarios, scale string) error {
	preset, ok := sizes[cfg.size]
	if !ok {
		return fmt.Errorf("--size %q: want full or small", cfg.size)
	}
	if err := cfg.fill(preset, scenarios, scale); err != nil {
		return err
	}
	var err error
	if cfg.root, err = controlplane.RepoRoot(); err != nil {
		return err
	}
	if cfg.out == "" {
		cfg.out = filepath.Join(cfg.root, "_output", "bench", cfg.size+".json")
	}
	cfg.outDir = strings.TrimSuffix(cfg.out, ".json")
	if err := os.MkdirAll(cfg.outDir, 0o755); err != nil {
		return err
	}
	if cfg.workDir, err = os.MkdirTemp("", "octorun-bench-"); err != nil {
		return err
	}
	if cfg.keep {
		logf("Keeping logs in %s", cfg.workDir)
	} else {
		defer os.RemoveAll(cfg.workDir)
	}
	defer controlplane.StopAll()

	logf("Building the control plane (minutes the first time, cached afterwards) and Octorun")
	if err := controlplane.BuildTools(ctx, "", os.Stderr); err != nil {
		return fmt.Errorf("building the control plane: %w", err)
	}
	cfg.octorunBin = filepath.Join(cfg.workDir, "octorun")
	if err := octorunproc.Build(ctx, cfg.root, cfg.octorunBin); err != nil {
		return err
	}

	rep := report{
		Size: cfg.size, Started: time.Now().UTC(), Command: "go run ./test/bench " + strings.Join(os.Args[1:], " "),
		Machine:      machine(),
		KubeQPS:      cfg.kubeQPS,
		HarnessNotes: fmt.Sprintf("Each scenario runs on a fresh control plane. kube-scheduler, kube-controller-manager and the bench's own clients run at %d QPS / %d burst, and kwok unthrottled, so they do not throttle.", world.HarnessQPS, world.HarnessBurst),
	}
	// A step runs one scenario in a world of its own, in the directory
	// and under the file names of id (with -run2, -run3 when repeated).
	type step struct {
		key, id string
		run     func(id string) (*section, error)
	}
	var steps []step
	for _, sr := range cfg.scaleRuns {
		steps = append(steps, step{"scale", sr.id(), func(id string) (*section, error) { return scaleUp(ctx, cfg, sr, id) }})
	}
	steps = append(steps,
		step{"churn-burst", "churn-burst", func(id string) (*section, error) { return churn(ctx, cfg, 0, id) }},
		step{"churn-paced", "churn-paced", func(id string) (*section, error) { return churn(ctx, cfg, cfg.churnRate, id) }},
		step{"scaleset", "scaleset", func(id string) (*section, error) { return scaleSetBurst(ctx, cfg, id) }},
		step{"steady", "steady", func(id string) (*section, error) { return steady(ctx, cfg, id) }},
		step{"jit", "jit", func(id string) (*section, error) { return jitRate(ctx, cfg, id) }},
		step{"go", "go", func(string) (*section, error) { return goBenchmarks(ctx, cfg) }},
	)
	var failures []error
steps:
	for _, st := range steps {
		if !cfg.scenarios[st.key] && !cfg.scenarios[subScenarios[st.key]] {
			continue
		}
		n := cfg.runsOf(st.id)
		var runs []*section
		for i := range n {
			id := st.id
			if i > 0 {
				id = fmt.Sprintf("%s-run%d", st.id, i+1)
			}
			began := time.Now()
			s, err := st.run(id)
			if err != nil {
				logf("Scenario %s failed: %v", id, err)
				failures = append(failures, fmt.Errorf("scenario %s: %w", id, err))
				if ctx.Err() != nil {
					break steps
				}
				continue
			}
			s.Seconds = time.Since(began).Seconds()
			s.Key, s.ID, s.Runs = st.key, st.id, 1
			if n > 1 {
				logf("%s: run %d of %d done in %.0fs", s.Name, i+1, n, s.Seconds)
			} else {
				logf("%s: done in %.0fs", s.Name, s.Seconds)
			}
			runs = append(runs, s)
		}
		if len(runs) > 0 {
			rep.Sections = append(rep.Sections, merge(runs))
		}
	}
	rep.Finished = time.Now().UTC()

	fmt.Print(rep.markdown())
	if err := os.MkdirAll(filepath.Dir(cfg.out), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(cfg.out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	logf("Wrote %s", cfg.out)
	if err := plotJSON(ctx, cfg.out, cfg.plots); err != nil {
		failures = append(failures, err)
	}
	return errors.Join(failures...)
}

// plotJSON draws the plots of the run in file, a bench JSON, into the
// directory of its name without .json and, when set, into also. The
// plotting library lives in test/bench/plot, a module of its own.
func plotJSON(ctx context.Context, file, also string) error {
	root, err := controlplane.RepoRoot()
	if err != nil {
		return err
	}
	abs := func(p string) (string, error) {
		if filepath.IsAbs(p) {
			return p, nil
		}
		return filepath.Abs(p)
	}
	if file, err = abs(file); err != nil {
		return err
	}
	args := []string{"run", ".", "-in", file, "-out", strings.TrimSuffix(file, ".json")}
	if also != "" {
		if also, err = abs(also); err != nil {
			return err
		}
		args = append(args, "-out", also)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = filepath.Join(root, "test", "bench", "plot")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("drawing the plots (go %s in %s): %w", strings.Join(args, " "), cmd.Dir, err)
	}
	return nil
}

// id names a scale-up's files: scale-<runners>-<QPS>.
func (sr scaleRun) id() string { return fmt.Sprintf("scale-%d-%g", sr.runners, sr.qps) }

// runsOf is how many times the scenario of id runs.
func (c config) runsOf(id string) int {
	switch {
	case id == "go":
		return 1 // -benchtime decides
	case c.repeat > 0:
		return c.repeat
	case c.repeats[id] > 0:
		return c.repeats[id]
	}
	return 1
}

// fill takes what the flags left unset from the preset.
func (c *config) fill(p config, scenarios, scale string) error {
	c.scenarios = map[string]bool{}
	for _, s := range strings.Split(scenarios, ",") {
		s = strings.TrimSpace(s)
		if _, sub := subScenarios[s]; !sub && !strings.Contains(","+allScenarios+",", ","+s+",") {
			return fmt.Errorf("--scenarios: unknown scenario %q (want some of %s, or churn-burst or churn-paced)", s, allScenarios)
		}
		c.scenarios[s] = true
	}
	c.scaleRuns = p.scaleRuns
	if scale != "" {
		c.scaleRuns = nil
		for _, f := range strings.Split(scale, ",") {
			runners, qps, hasQPS := strings.Cut(f, "@")
			sr := scaleRun{qps: c.kubeQPS}
			if _, err := fmt.Sscan(runners, &sr.runners); err != nil || sr.runners <= 0 {
				return fmt.Errorf("--scale-runners: %q is not a positive number", runners)
			}
			if hasQPS {
				if _, err := fmt.Sscan(qps, &sr.qps); err != nil || sr.qps <= 0 {
					return fmt.Errorf("--scale-runners: %q is not a positive QPS", qps)
				}
			}
			c.scaleRuns = append(c.scaleRuns, sr)
		}
	}
	setInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setDuration := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt(&c.churnRunners, p.churnRunners)
	setInt(&c.churnJobs, p.churnJobs)
	if c.churnRate <= 0 {
		c.churnRate = p.churnRate
	}
	setInt(&c.scaleSetJobs, p.scaleSetJobs)
	setInt(&c.scaleSetRunners, p.scaleSetRunners)
	setInt(&c.steadyRunners, p.steadyRunners)
	setDuration(&c.steadyDuration, p.steadyDuration)
	setDuration(&c.jitDuration, p.jitDuration)
	c.jobMin, c.jobMax, c.syncPeriod, c.goBenchTime, c.repeats = p.jobMin, p.jobMax, p.syncPeriod, p.goBenchTime, p.repeats
	if c.kubeQPS <= 0 {
		return errors.New("--kube-api-qps must be positive")
	}
	return nil
}

func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				model = strings.TrimSpace(value)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB", math.Round(float64(kb)/(1<<20)))
		}
	}
	return fmt.Sprintf("%d CPUs (%s)%s, %s/%s, %s", runtime.NumCPU(), model, mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
