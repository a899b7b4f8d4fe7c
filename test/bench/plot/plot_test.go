package main

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gonum.org/v1/plot/plotter"
)

// synthetic is a run of the shape the bench writes: a scale-up, a burst
// drawing Runners down and back, a repeated scenario, and latencies with
// zeros, ties and an empty series.
func synthetic() report {
	scale := &timeline{}
	burst := &timeline{}
	for i := range 120 {
		t := float64(i) / 4
		idle := min(1000, int(40*t))
		scale.Seconds = append(scale.Seconds, t)
		scale.Idle = append(scale.Idle, idle)
		scale.Active = append(scale.Active, 0)
		scale.Runners = append(scale.Runners, min(1000, int(60*t)))

		active := min(200, int(200*math.Abs(math.Sin(t/5))))
		burst.Seconds = append(burst.Seconds, t)
		burst.Idle = append(burst.Idle, 200-active)
		burst.Active = append(burst.Active, active)
		burst.Runners = append(burst.Runners, 200)
	}
	var replacement, queued []float64
	for i := range 2000 {
		replacement = append(replacement, float64(i%97)/10)
		queued = append(queued, float64(i)/20)
	}
	return report{Size: "small", Scenarios: []scenario{
		{ID: "scale-1000-500", Name: "Scale 0 → 1000 Idle runners at 500 QPS", Runs: 3, Timeline: scale},
		{ID: "churn-burst", Name: "Job churn: 2000 jobs queued at once, RunnerSet of 200", Timeline: burst, Latencies: []latency{
			{Name: "job completed → replacement Idle", Seconds: replacement},
			{Name: "job queued → started", Seconds: queued},
			{Name: "delivery → Runner Active", Seconds: []float64{0, 0, 0.004, 0.004, 0.2}},
			{Name: "job start on GitHub → Runner Active"},
		}},
		{ID: "go", Name: "Go benchmarks"},
		{ID: "steady", Name: "Steady state", Latencies: []latency{{Name: "none"}}},
	}}
}

func TestWriteAll(t *testing.T) {
	dir := t.TempDir()
	written, err := writeAll(synthetic(), dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"bench-scale-1000-500-runners.svg",
		"bench-churn-burst-runners.svg",
		"bench-churn-burst-latency.svg",
	}
	if diff := cmp.Diff(want, written); diff != "" {
		t.Errorf("files written (-want +got):\n%s", diff)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("files in the directory (-want +got):\n%s", diff)
	}
	for _, name := range written {
		checkSVG(t, filepath.Join(dir, name))
	}
}

// checkSVG fails unless path is well-formed XML whose root is an svg
// element holding drawn paths and text.
func checkSVG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	var root string
	elements := map[string]int{}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: not well-formed XML: %v", path, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
				if se.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("%s: root namespace %q, want the SVG namespace", path, se.Name.Space)
				}
			}
			elements[se.Name.Local]++
		}
	}
	if root != "svg" {
		t.Errorf("%s: root element %q, want svg", path, root)
	}
	if elements["path"] == 0 || elements["text"] == 0 {
		t.Errorf("%s: %d paths and %d texts, want some of each", path, elements["path"], elements["text"])
	}
}

func TestRunFromJSON(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "small.json")
	b, err := json.Marshal(synthetic())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	outs := []string{filepath.Join(dir, "a"), filepath.Join(dir, "b")}
	if err := run(in, outs); err != nil {
		t.Fatal(err)
	}
	for _, out := range outs {
		checkSVG(t, filepath.Join(out, RunnersFile("churn-burst")))
	}
}

func TestMismatchedTimeline(t *testing.T) {
	r := report{Scenarios: []scenario{{ID: "x", Timeline: &timeline{Seconds: []float64{0, 1}, Idle: []int{1}, Active: []int{0, 0}, Runners: []int{1, 1}}}}}
	if _, err := writeAll(r, t.TempDir()); err == nil {
		t.Error("writeAll of a timeline with a missing count: no error")
	}
}

func TestCDF(t *testing.T) {
	tests := []struct {
		name   string
		values []float64
		want   plotter.XYs
	}{
		{
			name:   "one value",
			values: []float64{2},
			want:   plotter.XYs{{X: 2, Y: 0}, {X: 2, Y: 1}},
		},
		{
			name:   "unsorted, with ties folded into one step",
			values: []float64{3, 1, 3, 2},
			want:   plotter.XYs{{X: 1, Y: 0}, {X: 1, Y: 0.25}, {X: 2, Y: 0.5}, {X: 3, Y: 1}},
		},
		{
			name:   "zeros held at the axis' start",
			values: []float64{0, 0.5},
			want:   plotter.XYs{{X: minLatency, Y: 0}, {X: minLatency, Y: 0.5}, {X: 0.5, Y: 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, cdf(tt.values)); diff != "" {
				t.Errorf("cdf(%v) (-want +got):\n%s", tt.values, diff)
			}
		})
	}
}

func TestRoundTicks(t *testing.T) {
	tests := []struct {
		name   string
		lo, hi float64
		want   []string // the labelled ticks
		minors int
	}{
		{name: "seconds", lo: 0, hi: 29.75, want: []string{"0", "5", "10", "15", "20", "25"}, minors: 6},
		{name: "runners", lo: 0, hi: 1250, want: []string{"0", "200", "400", "600", "800", "1000", "1200"}, minors: 6},
		{name: "fractions", lo: 0, hi: 0.5, want: []string{"0.0", "0.1", "0.2", "0.3", "0.4", "0.5"}, minors: 5},
		{name: "empty range", lo: 3, hi: 3, want: []string{"3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var labels []string
			minors := 0
			for _, tick := range (roundTicks{}).Ticks(tt.lo, tt.hi) {
				if tick.IsMinor() {
					minors++
					continue
				}
				labels = append(labels, tick.Label)
			}
			if diff := cmp.Diff(tt.want, labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			if minors != tt.minors {
				t.Errorf("%d minor ticks, want %d", minors, tt.minors)
			}
		})
	}
}
