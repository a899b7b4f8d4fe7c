package main

import (
	"math"
	"strconv"
)

// goal is a value a figure is held against.
type goal struct {
	op     string // ≤, ≥, < or =
	target float64
	// text is shown instead of the operator, target and unit when set.
	text string
	// rank places a headline goal, one of the figures the bench exists to
	// move, in the summary at the head of the table; 0 is a check of its
	// scenario alone.
	rank int
}

// The headline goals, in the summary's order. A goal tied to a size (100
// runners at 20 QPS, a burst of 2,000 jobs on a set of 200) is held only
// in the scenario of that size; the others in every scenario that has the
// figure.
const (
	rankRequestsPerRunner = iota + 1
	rankRequestsPerJob
	rankBurstJobsPerSecond
	rankScale100At20
	rankScale1000At500
	rankCPUPerRunner
	rankBurstReplacementP50
	rankBurstReplacementP99
	rankBurstNeverActive
	rankPeakRSS5000
	rankGitHubCallsPerJob
)

func atMost(v float64) *goal  { return &goal{op: "≤", target: v} }
func atLeast(v float64) *goal { return &goal{op: "≥", target: v} }
func below(v float64) *goal   { return &goal{op: "<", target: v} }

// exactly is a goal of v, shown as text.
func exactly(v float64, text string) *goal { return &goal{op: "=", target: v, text: text} }

// headline returns the goal as the headline goal of rank.
func (g *goal) headline(rank int) *goal {
	c := *g
	c.rank = rank
	return &c
}

// met says whether v meets the goal.
func (g *goal) met(v float64) bool {
	switch g.op {
	case "≤":
		return v <= g.target
	case "≥":
		return v >= g.target
	case "<":
		return v < g.target
	default:
		return math.Abs(v-g.target) <= 1e-9*math.Max(1, math.Abs(g.target))
	}
}

// format shows the goal for a figure in unit.
func (g *goal) format(unit string) string {
	if g.text != "" {
		return g.text
	}
	return g.op + " " + strconv.FormatFloat(g.target, 'f', -1, 64) + " " + unit
}
