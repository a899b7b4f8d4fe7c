package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// The plots' size: a page's width in the docs.
const (
	width  = 16 * vg.Centimeter
	height = 9 * vg.Centimeter
)

// palette is Okabe and Ito's, told apart by colour-blind readers too
// ("Color Universal Design", 2008).
var palette = []color.Color{
	color.RGBA{0x00, 0x72, 0xb2, 0xff}, // blue
	color.RGBA{0xe6, 0x9f, 0x00, 0xff}, // orange
	color.RGBA{0x00, 0x9e, 0x73, 0xff}, // bluish green
	color.RGBA{0xd5, 0x5e, 0x00, 0xff}, // vermillion
	color.RGBA{0xcc, 0x79, 0xa7, 0xff}, // reddish purple
	color.RGBA{0x56, 0xb4, 0xe9, 0xff}, // sky blue
}

var grey = color.Gray{Y: 0x80}

func init() {
	plot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
}

// minLatency is where a latency's distribution starts on its logarithmic
// axis: samples below it (a millisecond) are drawn at it.
const minLatency = 1e-3

// writeAll writes every plot of r into dir and returns the files' names.
// The names depend only on the scenarios' IDs, so that a later run
// replaces the files the docs show.
func writeAll(r report, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	save := func(p *plot.Plot, name string) error {
		if err := p.Save(width, height, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		written = append(written, name)
		return nil
	}
	for _, s := range r.Scenarios {
		if s.ID == "" {
			continue
		}
		if s.Timeline != nil && len(s.Timeline.Seconds) > 0 {
			p, err := runnersPlot(s)
			if err != nil {
				return written, fmt.Errorf("%s: %w", s.ID, err)
			}
			if err := save(p, RunnersFile(s.ID)); err != nil {
				return written, err
			}
		}
		if hasSamples(s.Latencies) {
			p, err := latencyPlot(s)
			if err != nil {
				return written, fmt.Errorf("%s: %w", s.ID, err)
			}
			if err := save(p, LatencyFile(s.ID)); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// RunnersFile is the name of a scenario's runners-over-time plot.
func RunnersFile(id string) string { return "bench-" + id + "-runners.svg" }

// LatencyFile is the name of a scenario's latency distributions plot.
func LatencyFile(id string) string { return "bench-" + id + "-latency.svg" }

func hasSamples(ls []latency) bool {
	for _, l := range ls {
		if len(l.Seconds) > 0 {
			return true
		}
	}
	return false
}

// newPlot is a plot of s, titled with its name.
func newPlot(s scenario) *plot.Plot {
	p := plot.New()
	p.Title.Text = title(s)
	p.Title.Padding = vg.Points(6)
	return p
}

func title(s scenario) string {
	if s.Runs > 1 {
		return fmt.Sprintf("%s\n(the median of %d runs)", s.Name, s.Runs)
	}
	return s.Name
}

// runnersPlot draws the Runners in all, Idle and Active against time.
func runnersPlot(s scenario) (*plot.Plot, error) {
	tl := s.Timeline
	p := newPlot(s)
	p.X.Label.Text = "seconds since the start"
	p.Y.Label.Text = "Runners"
	p.X.Tick.Marker = roundTicks{}
	p.Y.Tick.Marker = roundTicks{}
	p.Add(plotter.NewGrid())
	top := 1
	series := []struct {
		name   string
		counts []int
		color  color.Color
		dashed bool
	}{
		{"all Runners", tl.Runners, grey, true},
		{"Idle", tl.Idle, palette[0], false},
		{"Active", tl.Active, palette[1], false},
	}
	for _, sr := range series {
		if len(sr.counts) != len(tl.Seconds) {
			return nil, fmt.Errorf("timeline: %d %s counts for %d times", len(sr.counts), sr.name, len(tl.Seconds))
		}
		pts := make(plotter.XYs, len(tl.Seconds))
		for i, t := range tl.Seconds {
			pts[i] = plotter.XY{X: t, Y: float64(sr.counts[i])}
			top = max(top, sr.counts[i])
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sr.name, err)
		}
		l.Color = sr.color
		l.Width = vg.Points(1.5)
		if sr.dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			l.Width = vg.Points(1)
		}
		p.Add(l)
		p.Legend.Add(sr.name, l)
	}
	p.X.Min = 0
	p.Y.Min = 0
	// Room above the lines for the legend.
	p.Y.Max = float64(top) * 1.25
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs = vg.Points(8)
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	return p, nil
}

// latencyPlot draws each latency's cumulative distribution on a
// logarithmic axis: the share of samples at or under each value, so that
// the p50 and p99 read off where the lines cross 0.5 and 0.99.
func latencyPlot(s scenario) (*plot.Plot, error) {
	p := newPlot(s)
	p.X.Label.Text = "seconds (logarithmic)"
	p.Y.Label.Text = "share of samples at or under"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())
	lo, hi := math.Inf(1), math.Inf(-1)
	i := 0
	for _, l := range s.Latencies {
		if len(l.Seconds) == 0 {
			continue
		}
		pts := cdf(l.Seconds)
		lo, hi = math.Min(lo, pts[0].X), math.Max(hi, pts[len(pts)-1].X)
		line, err := plotter.NewLine(pts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.Name, err)
		}
		line.StepStyle = plotter.PostStep
		line.Color = palette[i%len(palette)]
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(fmt.Sprintf("%s (%d)", l.Name, len(l.Seconds)), line)
		i++
	}
	// A decade at least, so that the axis has ticks to label.
	p.X.Min = math.Pow(10, math.Floor(math.Log10(lo)))
	p.X.Max = math.Pow(10, math.Ceil(math.Log10(hi)))
	if p.X.Max <= p.X.Min {
		p.X.Max = p.X.Min * 10
	}
	// Room above 1 for the legend, a line of it a series.
	p.Y.Min, p.Y.Max = 0, 1.15+0.07*float64(i)
	p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{
		{Value: 0, Label: "0"}, {Value: 0.25, Label: "0.25"}, {Value: 0.5, Label: "0.5"},
		{Value: 0.75, Label: "0.75"}, {Value: 1, Label: "1"},
	})
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs = vg.Points(8)
	p.Legend.Padding = vg.Points(2)
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	p.Legend.ThumbnailWidth = vg.Points(20)
	return p, nil
}

// cdf returns the points of values' empirical cumulative distribution,
// from (the least, 0) up one step at each value, with equal values
// folded into one step. Values are held at or above minLatency.
func cdf(values []float64) plotter.XYs {
	v := slices.Clone(values)
	for i := range v {
		v[i] = math.Max(v[i], minLatency)
	}
	slices.Sort(v)
	n := float64(len(v))
	pts := plotter.XYs{{X: v[0], Y: 0}}
	for i, x := range v {
		if i+1 < len(v) && v[i+1] == x {
			continue
		}
		pts = append(pts, plotter.XY{X: x, Y: float64(i+1) / n})
	}
	return pts
}

// roundTicks labels at most eight round values (1, 2 or 5 times a power of
// ten apart) of a linear axis, with a minor tick between each two.
type roundTicks struct{}

func (roundTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return []plot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'g', -1, 64)}}
	}
	step := roundStep((hi - lo) / 7)
	prec := max(0, -int(math.Floor(math.Log10(step))))
	first := math.Ceil(lo/step) * step
	var out []plot.Tick
	for i := 0; ; i++ {
		v := first + float64(i)*step
		if v > hi+step*1e-9 {
			break
		}
		out = append(out, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', prec, 64)})
		if minor := v + step/2; minor <= hi {
			out = append(out, plot.Tick{Value: minor})
		}
	}
	if first-step/2 >= lo {
		out = append(out, plot.Tick{Value: first - step/2})
	}
	return out
}

// roundStep is the least of 1, 2 or 5 times a power of ten that is at
// least x.
func roundStep(x float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}
