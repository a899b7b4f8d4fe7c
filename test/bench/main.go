// Command bench measures Octorun at scale on a real control plane: each
// scenario starts a fresh kube-apiserver, etcd, controller manager,
// scheduler and kwok, a GitHub simulator, Octorun as a process (built from
// this tree) and the runner agent, then measures from outside. It prints a
// Markdown table and writes every figure as JSON.
//
//	go run ./test/bench                 # the full run (about 25 minutes)
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
	size       string
	scenarios  map[string]bool
	out        string
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
}

var sizes = map[string]config{
	"full": {
		scaleRuns: []scaleRun{{1000, 200}, {1000, 500}, {5000, 500}}, churnRunners: 200, churnJobs: 2000, churnRate: 10, scaleSetJobs: 2000, scaleSetRunners: 200, jobMin: time.Second, jobMax: 10 * time.Second,
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
	flag.StringVar(&cfg.out, "out", "", "Where to write the JSON (default _output/bench/<size>.json)")
	flag.IntVar(&cfg.octorunV, "octorun-v", 0, "Octorun's log verbosity (-v); 6 logs every Kubernetes request")
	flag.Func("octorun-arg", "An extra flag for Octorun, e.g. --octorun-arg=--runner-workers=16 (repeatable)", func(v string) error {
		cfg.octorunArgs = append(cfg.octorunArgs, v)
		return nil
	})
	flag.BoolVar(&cfg.keep, "keep", false, "Keep the scenarios' directories (control plane and Octorun logs, profiles)")
	flag.BoolVar(&cfg.profiles, "profiles", true, "Save Octorun's CPU and heap profiles of the scale-up (pprof) with the scenario")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
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
	if cfg.workDir, err = os.MkdirTemp("", "octorun-bench-"); err != nil {
		return err
	}
	if cfg.keep {
		logf("Keeping logs and profiles in %s", cfg.workDir)
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
	type step struct {
		key string
		run func() (*section, error)
	}
	var steps []step
	for _, sr := range cfg.scaleRuns {
		steps = append(steps, step{"scale", func() (*section, error) { return scaleUp(ctx, cfg, sr) }})
	}
	steps = append(steps,
		step{"churn-burst", func() (*section, error) { return churn(ctx, cfg, 0) }},
		step{"churn-paced", func() (*section, error) { return churn(ctx, cfg, cfg.churnRate) }},
		step{"scaleset", func() (*section, error) { return scaleSetBurst(ctx, cfg) }},
		step{"steady", func() (*section, error) { return steady(ctx, cfg) }},
		step{"jit", func() (*section, error) { return jitRate(ctx, cfg) }},
		step{"go", func() (*section, error) { return goBenchmarks(ctx, cfg) }},
	)
	var failures []error
	for _, st := range steps {
		if !cfg.scenarios[st.key] && !cfg.scenarios[subScenarios[st.key]] {
			continue
		}
		began := time.Now()
		s, err := st.run()
		if err != nil {
			logf("Scenario %s failed: %v", st.key, err)
			failures = append(failures, fmt.Errorf("scenario %s: %w", st.key, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		s.Seconds = time.Since(began).Seconds()
		s.Key = st.key
		logf("%s: done in %.0fs", s.Name, s.Seconds)
		rep.Sections = append(rep.Sections, s)
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
	return errors.Join(failures...)
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
	c.jobMin, c.jobMax, c.syncPeriod, c.goBenchTime = p.jobMin, p.jobMax, p.syncPeriod, p.goBenchTime
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
