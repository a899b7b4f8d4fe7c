package statemetrics

import (
	"strings"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// family is one state metric family (all gauges). The generation code
// (runner.go, runnerset.go) emits its series to an emitter, which turns
// them into client_golang metrics (Collect) or text (Handler), so both
// paths export the same series.
type family struct {
	name   string
	help   string
	labels []string // the fixed label names, in order
	// desc describes the family with its fixed labels. For a family with
	// variable labels (the _labels families) it is only sent by Describe.
	desc *prometheus.Desc
	// index is the family's position in families, and in the text output.
	index int
}

// families are all state metric families, in the order the text output
// has them.
var families []*family

func newFamily(name, help string, labels ...string) *family {
	f := &family{
		name:   name,
		help:   help,
		labels: labels,
		desc:   prometheus.NewDesc(name, help, labels, nil),
		index:  len(families),
	}
	families = append(families, f)
	return f
}

// emitter receives the series of the state metrics.
type emitter interface {
	// gauge emits one series of f with the given value. labelValues are
	// those of f.labels followed by those of extraLabels, the variable
	// labels of the _labels families (nil for the other families). The
	// emitter may change labelValues but must not keep it: the caller
	// reuses it.
	gauge(f *family, value float64, extraLabels []string, labelValues []string)
}

// generator hands the series of a scrape to an emitter, through one slice
// of label values, so that the scrape does not allocate one per series.
type generator struct {
	e      emitter
	values []string
}

func (g *generator) gauge(f *family, value float64, extraLabels []string, labelValues ...string) {
	g.values = append(g.values[:0], labelValues...)
	g.e.gauge(f, value, extraLabels, g.values)
}

func boolFloat64(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// validUTF8 returns s with invalid UTF-8 replaced by U+FFFD, as a label
// value must be valid UTF-8. Values from the API server always are; this
// keeps one bad value from failing a whole scrape.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
