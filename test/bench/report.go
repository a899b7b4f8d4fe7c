package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os/exec"
	"slices"
	"sort"
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
	Key string `json:"key"`
	// ID names the scenario's files (profiles, plots): scale-1000-500,
	// churn-burst.
	ID      string  `json:"id"`
	Name    string  `json:"name"`
	Bound   string  `json:"boundBy"`
	Seconds float64 `json:"seconds"`
	// Runs is how many times the scenario ran: its figures are then the
	// median of the runs', with their spread.
	Runs    int            `json:"runs"`
	Figures []figure       `json:"figures"`
	Details map[string]any `json:"details,omitempty"`
	// Timeline and Latencies are what the plots draw: the median run's
	// when the scenario ran more than once.
	Timeline  *timeline `json:"timeline,omitempty"`
	Latencies []latency `json:"latencies,omitempty"`
	// Profiles are Octorun's pprof profiles of the scenario, kept with
	// the JSON.
	Profiles []string `json:"profiles,omitempty"`
}

// figure is one measured value, with the goal it is held against.
type figure struct {
	Name  string   `json:"name"`
	Value *float64 `json:"value"` // nil: nothing to measure (e.g. no samples)
	Unit  string   `json:"unit"`
	Goal  string   `json:"goal,omitempty"`
	Met   *bool    `json:"met,omitempty"`
	// Min, Max and Runs are the spread of a scenario run more than once,
	// whose Value is the median of Runs.
	Min  *float64   `json:"min,omitempty"`
	Max  *float64   `json:"max,omitempty"`
	Runs []*float64 `json:"runs,omitempty"`

	goal *goal
}

// add records a figure, held against g unless g is nil.
func (s *section) add(name string, value float64, unit string, g *goal) {
	f := figure{Name: name, Unit: unit, goal: g}
	if !math.IsNaN(value) && !math.IsInf(value, 0) {
		f.Value = &value
	}
	if g != nil {
		f.Goal = g.format(unit)
		if f.Value != nil {
			f.Met = ptrBool(g.met(value))
		}
	}
	s.Figures = append(s.Figures, f)
}

// check records a figure held against a goal that its value alone does
// not decide, shown as goalText.
func (s *section) check(name string, value float64, unit, goalText string, met bool) {
	s.add(name, value, unit, nil)
	f := &s.Figures[len(s.Figures)-1]
	f.Goal, f.Met = goalText, ptrBool(met)
}

// merge folds the runs of one scenario into one section. Each figure's
// value is the median of the runs', with their spread, and its goal is
// held against the median (a check is met when it was in every run). The
// timeline and latencies are those of the median run: the run whose first
// figure is the median, or the lower of the middle two.
func merge(runs []*section) *section {
	if len(runs) == 1 {
		return runs[0]
	}
	order := make([]int, len(runs))
	for i := range order {
		order[i] = i
	}
	first := func(s *section) float64 {
		if len(s.Figures) == 0 || s.Figures[0].Value == nil {
			return math.Inf(1)
		}
		return *s.Figures[0].Value
	}
	sort.SliceStable(order, func(a, b int) bool { return first(runs[order[a]]) < first(runs[order[b]]) })
	mid := runs[order[(len(runs)-1)/2]]
	out := *mid
	out.Runs, out.Seconds, out.Profiles = len(runs), 0, nil
	out.Details = map[string]any{}
	var details []map[string]any
	for _, r := range runs {
		out.Seconds += r.Seconds
		out.Profiles = append(out.Profiles, r.Profiles...)
		details = append(details, r.Details)
	}
	out.Details["runs"] = details
	out.Figures = nil
	for _, f := range mid.Figures {
		m := figure{Name: f.Name, Unit: f.Unit, Goal: f.Goal, goal: f.goal}
		var values []float64
		allMet := true
		for _, r := range runs {
			var v *float64
			for _, rf := range r.Figures {
				if rf.Name == f.Name {
					v = rf.Value
					allMet = allMet && rf.Met != nil && *rf.Met
					break
				}
			}
			m.Runs = append(m.Runs, v)
			if v != nil {
				values = append(values, *v)
			}
		}
		if len(values) > 0 {
			med, lo, hi := median(values), slices.Min(values), slices.Max(values)
			m.Value, m.Min, m.Max = &med, &lo, &hi
		}
		switch {
		case f.goal != nil && m.Value != nil:
			m.Met = ptrBool(f.goal.met(*m.Value))
		case f.goal == nil && f.Met != nil:
			m.Met = ptrBool(allMet)
		}
		out.Figures = append(out.Figures, m)
	}
	return &out
}

// median of values, which are not empty: the mean of the middle two of an
// even count.
func median(values []float64) float64 {
	v := slices.Clone(values)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// formatFigure shows a figure's value and unit, with the spread of a
// scenario run more than once.
func formatFigure(f figure) string {
	if f.Value == nil {
		return "n/a"
	}
	v := formatValue(*f.Value) + " " + f.Unit
	if len(f.Runs) > 1 && f.Min != nil && f.Max != nil {
		v += fmt.Sprintf(" (median of %d, %s–%s)", len(f.Runs), formatValue(*f.Min), formatValue(*f.Max))
	}
	return v
}

func formatMet(met *bool) string {
	if met == nil {
		return ""
	}
	return map[bool]string{true: "yes", false: "**no**"}[*met]
}

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s\n\nMachine: %s. Octorun's Kubernetes clients: %g QPS, burst %g, unless a scenario says otherwise. %s\n\n",
		"`"+r.Command+"`", r.Machine, r.KubeQPS, 2*r.KubeQPS, r.HarnessNotes)
	b.WriteString(r.goals())
	b.WriteString("| Scenario | Figure | Value | Goal | Met |\n|---|---|---:|---|---|\n")
	for _, s := range r.Sections {
		for i, f := range s.Figures {
			scenario := ""
			if i == 0 {
				scenario = s.Name
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", scenario, f.Name, formatFigure(f), f.Goal, formatMet(f.Met))
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

// goals renders the headline goals the run measured, in their order, as
// a table of their own; "" when it measured none.
func (r *report) goals() string {
	type row struct {
		rank     int
		scenario string
		f        figure
	}
	var rows []row
	for _, s := range r.Sections {
		for _, f := range s.Figures {
			if f.goal != nil && f.goal.rank > 0 {
				rows = append(rows, row{f.goal.rank, s.Name, f})
			}
		}
	}
	if len(rows) == 0 {
		return ""
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].rank < rows[j].rank })
	var b strings.Builder
	b.WriteString("Goals:\n\n| Figure | Scenario | Value | Goal | Met |\n|---|---|---:|---|---|\n")
	for _, rw := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", rw.f.Name, rw.scenario, formatFigure(rw.f), rw.f.Goal, formatMet(rw.f.Met))
	}
	b.WriteString("\nEvery figure:\n\n")
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
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s:\n\n| Figure | %s | %s |\n|---|---:|---:|\n", c.title, left.Name, right.Name)
	for _, rf := range right.Figures {
		for _, lf := range left.Figures {
			if lf.Name == rf.Name {
				fmt.Fprintf(&b, "| %s | %s | %s |\n", rf.Name, formatFigure(lf), formatFigure(rf))
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
					s.add(fmt.Sprintf("%s: %s (%s)", gb.what, m.name, short), v*m.scale, m.as, nil)
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
