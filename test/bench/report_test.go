package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestGoalMet(t *testing.T) {
	tests := []struct {
		name  string
		goal  *goal
		value float64
		want  bool
		shown string
	}{
		{name: "at most, under", goal: atMost(5), value: 4.9, want: true, shown: "≤ 5 requests"},
		{name: "at most, on", goal: atMost(5), value: 5, want: true, shown: "≤ 5 requests"},
		{name: "at most, over", goal: atMost(9.5), value: 9.51, want: false, shown: "≤ 9.5 requests"},
		{name: "at least, under", goal: atLeast(70), value: 48.8, want: false, shown: "≥ 70 requests"},
		{name: "below, on", goal: below(2), value: 2, want: false, shown: "< 2 requests"},
		{name: "exactly one", goal: exactly(1, "1.000"), value: 2000.0 / 2000, want: true, shown: "1.000"},
		{name: "exactly one, one call over", goal: exactly(1, "1.000"), value: 2004.0 / 2000, want: false, shown: "1.000"},
		{name: "exactly zero", goal: exactly(0, "0"), value: 0, want: true, shown: "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.goal.met(tt.value); got != tt.want {
				t.Errorf("%s met by %g = %v, want %v", tt.goal.format("requests"), tt.value, got, tt.want)
			}
			if got := tt.goal.format("requests"); got != tt.shown {
				t.Errorf("format = %q, want %q", got, tt.shown)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name   string
		values []float64
		want   float64
	}{
		{name: "one", values: []float64{3}, want: 3},
		{name: "odd, unsorted", values: []float64{52, 45.1, 48.8}, want: 48.8},
		{name: "even", values: []float64{4, 1, 3, 2}, want: 2.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := median(tt.values); got != tt.want {
				t.Errorf("median(%v) = %g, want %g", tt.values, got, tt.want)
			}
		})
	}
}

// scaleRunOf is one run of a scale-up as scaleUp records it, with a wall time, a
// rate held against a headline goal, a check and a figure with nothing to
// measure.
func scaleRunOf(wall, rate float64, checked bool, idle int) *section {
	s := &section{Key: "scale", ID: "scale-1000-500", Name: "Scale", Seconds: 40, Runs: 1,
		Timeline: &timeline{Seconds: []float64{0}, Idle: []int{idle}, Active: []int{0}, Runners: []int{idle}},
		Profiles: []string{"p" + formatValue(wall)}, Details: map[string]any{"wall": wall}}
	s.add("wall time", wall, "s", nil)
	s.add("runners per second", rate, "runners/s", atLeast(70).headline(rankScale1000At500))
	s.check("a check", 1, "calls", "≤ 1", checked)
	s.add("no samples", percentile(nil, 50), "s", atMost(1))
	return s
}

func TestMerge(t *testing.T) {
	v := func(f float64) *float64 { return &f }
	runs := []*section{scaleRunOf(30, 71, true, 1), scaleRunOf(20, 50, true, 2), scaleRunOf(25, 72, false, 3)}
	got := merge(runs)

	want := []figure{
		{Name: "wall time", Unit: "s", Value: v(25), Min: v(20), Max: v(30), Runs: []*float64{v(30), v(20), v(25)}},
		// The median of the rates meets the goal though one run missed it.
		{Name: "runners per second", Unit: "runners/s", Goal: "≥ 70 runners/s", Met: ptrBool(true), Value: v(71), Min: v(50), Max: v(72), Runs: []*float64{v(71), v(50), v(72)}},
		// A check holds only if it held in every run.
		{Name: "a check", Unit: "calls", Goal: "≤ 1", Met: ptrBool(false), Value: v(1), Min: v(1), Max: v(1), Runs: []*float64{v(1), v(1), v(1)}},
		{Name: "no samples", Unit: "s", Goal: "≤ 1 s", Runs: []*float64{nil, nil, nil}},
	}
	if diff := cmp.Diff(want, got.Figures, cmpopts.IgnoreUnexported(figure{})); diff != "" {
		t.Errorf("merged figures (-want +got):\n%s", diff)
	}
	if got.Runs != 3 || got.Seconds != 120 {
		t.Errorf("runs %d in %g s, want 3 in 120 s", got.Runs, got.Seconds)
	}
	// The median run, by wall time, is the third: its timeline is kept.
	if got.Timeline.Idle[0] != 3 {
		t.Errorf("timeline of run %d, want the median run's (3)", got.Timeline.Idle[0])
	}
	if diff := cmp.Diff([]string{"p30", "p20", "p25"}, got.Profiles); diff != "" {
		t.Errorf("profiles (-want +got):\n%s", diff)
	}
	if n := len(got.Details["runs"].([]map[string]any)); n != 3 {
		t.Errorf("%d runs' details, want 3", n)
	}
	// The runs are left as they were.
	if *runs[0].Figures[0].Value != 30 || runs[0].Figures[0].Runs != nil {
		t.Errorf("merge changed its first run: %+v", runs[0].Figures[0])
	}
	if merge(runs[:1]) != runs[0] {
		t.Error("merge of one run: not that run")
	}
}

func TestMarkdownGoals(t *testing.T) {
	paced := &section{Name: "Paced"}
	paced.add("GitHub calls per job", 1, "calls", exactly(1, "1.000").headline(rankGitHubCallsPerJob))
	paced.add("Octorun's API requests per job", 25.6, "requests", atMost(12).headline(rankRequestsPerJob))
	paced.add("jobs killed", 0, "jobs", exactly(0, "0"))
	r := &report{Command: "go run ./test/bench", Sections: []*section{merge([]*section{scaleRunOf(30, 71, true, 1), scaleRunOf(20, 50, true, 2), scaleRunOf(25, 72, true, 3)}), paced}}
	md := r.markdown()
	goals, rest, ok := strings.Cut(md, "Every figure:")
	if !ok {
		t.Fatalf("no goals table:\n%s", md)
	}
	want := []string{
		"| Octorun's API requests per job | Paced | 25.60 requests | ≤ 12 requests | **no** |",
		"| runners per second | Scale | 71 runners/s (median of 3, 50–72) | ≥ 70 runners/s | yes |",
		"| GitHub calls per job | Paced | 1 calls | 1.000 | yes |",
	}
	var rows []string
	for _, line := range strings.Split(goals, "\n") {
		if strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| Figure") {
			rows = append(rows, line)
		}
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("goals, in their order (-want +got):\n%s", diff)
	}
	for _, line := range []string{
		"| Scale | wall time | 25 s (median of 3, 20–30) |  |  |",
		"|  | jobs killed | 0 jobs | 0 | yes |",
	} {
		if !strings.Contains(rest, line+"\n") {
			t.Errorf("no row %q in:\n%s", line, rest)
		}
	}
}

func TestRunsOf(t *testing.T) {
	full := sizes["full"]
	tests := []struct {
		name   string
		repeat int
		preset config
		id     string
		want   int
	}{
		{name: "the preset's repeated scale-up", preset: full, id: "scale-1000-500", want: 3},
		{name: "another scale-up", preset: full, id: "scale-1000-200", want: 1},
		{name: "small", preset: sizes["small"], id: "scale-1000-500", want: 1},
		{name: "-repeat", repeat: 2, preset: full, id: "churn-burst", want: 2},
		{name: "-repeat 1 over the preset", repeat: 1, preset: full, id: "scale-1000-500", want: 1},
		{name: "Go benchmarks once", repeat: 3, preset: full, id: "go", want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config{repeat: tt.repeat, kubeQPS: 200}
			if err := c.fill(tt.preset, allScenarios, ""); err != nil {
				t.Fatal(err)
			}
			if got := c.runsOf(tt.id); got != tt.want {
				t.Errorf("runsOf(%q) = %d, want %d", tt.id, got, tt.want)
			}
		})
	}
}

func TestFullPresetScaleUps(t *testing.T) {
	var ids []string
	for _, sr := range sizes["full"].scaleRuns {
		ids = append(ids, sr.id())
	}
	want := []string{"scale-100-20", "scale-1000-200", "scale-1000-500", "scale-5000-500", "scale-10000-500"}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("full scale-ups (-want +got):\n%s", diff)
	}
}
