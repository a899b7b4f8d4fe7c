package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// report is a whole run, as written to JSON.
type report struct {
	Size         string     `json:"size"`
	Command      string     `json:"command"`
	Machine      string     `json:"machine"`
	KubeQPS      float64    `json:"octorunKubeAPIQPS"`
	HarnessNotes string     `json:"harnessNotes"`
	Started      time.Time  `json:"started"`
	Finished     time.Time  `json:"finished"`
	Sections     []*section `json:"scenarios"`
}

// section is one scenario's figures.
type section struct {
	// Key is the scenario's name in -scenarios (churn-burst, not churn).
	Key     string         `json:"key"`
	Name    string         `json:"name"`
	Bound   string         `json:"boundBy"`
	Seconds float64        `json:"seconds"`
	Figures []figure       `json:"figures"`
	Details map[string]any `json:"details,omitempty"`
}

// figure is one measured value, with the goal it is held against.
type figure struct {
	Name  string   `json:"name"`
	Value *float64 `json:"value"` // nil: nothing to measure (e.g. no samples)
	Unit  string   `json:"unit"`
	Goal  string   `json:"goal,omitempty"`
	Met   *bool    `json:"met,omitempty"`
}

func (s *section) add(name string, value float64, unit, goal string, met *bool) {
	f := figure{Name: name, Unit: unit, Goal: goal, Met: met}
	if !math.IsNaN(value) && !math.IsInf(value, 0) {
		f.Value = &value
	} else {
		f.Met = nil
	}
	s.Figures = append(s.Figures, f)
}

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s\n\nMachine: %s. Octorun's Kubernetes clients: %g QPS, burst %g, unless a scenario says otherwise. %s\n\n",
		"`"+r.Command+"`", r.Machine, r.KubeQPS, 2*r.KubeQPS, r.HarnessNotes)
	b.WriteString("| Scenario | Figure | Value | Goal | Met |\n|---|---|---:|---|---|\n")
	for _, s := range r.Sections {
		for i, f := range s.Figures {
			scenario := ""
			if i == 0 {
				scenario = s.Name
			}
			value := "n/a"
			if f.Value != nil {
				value = formatValue(*f.Value) + " " + f.Unit
			}
			met := ""
			if f.Met != nil {
				met = map[bool]string{true: "yes", false: "**no**"}[*f.Met]
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", scenario, f.Name, value, f.Goal, met)
		}
	}
	for _, c := range comparisons {
		b.WriteString(r.beside(c))
	}
	b.WriteString("\nWhat bounds each scenario:\n\n")
	for _, s := range r.Sections {
		fmt.Fprintf(&b, "- %s (%.0f s): %s\n", s.Name, s.Seconds, s.Bound)
	}
	return b.String()
}

// comparison prints two scenarios' figures of the same name side by side.
type comparison struct {
	title, left, right string // scenario keys
}

var comparisons = []comparison{
	{"Webhook mode beside scale-set mode, jobs queued at once", "churn-burst", "scaleset"},
}

// beside renders a comparison when the run has both scenarios: every
// figure of the right one that the left one also has, in the right one's
// order.
func (r *report) beside(c comparison) string {
	var left, right *section
	for _, s := range r.Sections {
		switch s.Key {
		case c.left:
			left = s
		case c.right:
			right = s
		}
	}
	if left == nil || right == nil {
		return ""
	}
	format := func(f figure) string {
		if f.Value == nil {
			return "n/a"
		}
		return formatValue(*f.Value) + " " + f.Unit
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s:\n\n| Figure | %s | %s |\n|---|---:|---:|\n", c.title, left.Name, right.Name)
	for _, rf := range right.Figures {
		for _, lf := range left.Figures {
			if lf.Name == rf.Name {
				fmt.Fprintf(&b, "| %s | %s | %s |\n", rf.Name, format(lf), format(rf))
				break
			}
		}
	}
	return b.String()
}

func formatValue(v float64) string {
	switch a := math.Abs(v); {
	case a == math.Trunc(a) && a < 1e9:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 3, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

// goBenchmark is one Go benchmark of the tree reported with the scenarios.
type goBenchmark struct {
	pkg, pattern, what string
	// metrics maps a benchmark output unit to the figure it becomes.
	metrics []goMetric
}

type goMetric struct {
	unit, name, as string
	scale          float64
}

var treeBenchmarks = []goBenchmark{
	{
		pkg: "./pkg/statemetrics/", pattern: "^BenchmarkScrape$/^Handler", what: "State metrics scrape, 10,000 Runners and 100 RunnerSets",
		metrics: []goMetric{
			{unit: "ns/op", name: "time per scrape", as: "ms", scale: 1e-6},
			{unit: "B/op", name: "memory allocated per scrape", as: "MiB", scale: 1.0 / (1 << 20)},
			{unit: "bytes/scrape", name: "response size", as: "MiB", scale: 1.0 / (1 << 20)},
		},
	},
	{
		pkg: "./pkg/githubevents/", pattern: "^BenchmarkReceiver", what: "Webhook receiver, signed workflow_job deliveries",
		metrics: []goMetric{
			{unit: "deliveries/s", name: "deliveries per second", as: "/s", scale: 1},
			{unit: "ns/op", name: "time per delivery", as: "µs", scale: 1e-3},
			{unit: "B/op", name: "memory allocated per delivery", as: "KiB", scale: 1.0 / 1024},
		},
	},
}

// goBenchmarks runs the Go benchmarks and reports their figures.
func goBenchmarks(ctx context.Context, cfg config) (*section, error) {
	s := &section{Name: "Go benchmarks", Bound: "one process on this machine's CPU; no network"}
	results := map[string]any{}
	for _, gb := range treeBenchmarks {
		cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", gb.pattern, "-benchmem", "-benchtime", cfg.goBenchTime, gb.pkg)
		cmd.Dir = cfg.root
		out, err := cmd.CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("go test -bench %s %s: %w\n%s", gb.pattern, gb.pkg, err, out)
		}
		for name, values := range parseBenchmarks(out) {
			results[name] = values
			short := strings.TrimPrefix(name, "Benchmark")
			for _, m := range gb.metrics {
				if v, ok := values[m.unit]; ok {
					s.add(fmt.Sprintf("%s: %s (%s)", gb.what, m.name, short), v*m.scale, m.as, "", nil)
				}
			}
		}
	}
	s.Details = map[string]any{"benchmarks": results, "benchtime": cfg.goBenchTime}
	return s, nil
}

// parseBenchmarks reads `go test -bench` output: name, iterations, then
// value-unit pairs. The -GOMAXPROCS suffix is dropped from names.
func parseBenchmarks(out []byte) map[string]map[string]float64 {
	res := map[string]map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name := fields[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		values := map[string]float64{}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				break
			}
			values[fields[i+1]] = v
		}
		res[name] = values
	}
	return res
}
