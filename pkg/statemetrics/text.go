package statemetrics

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"k8s.io/klog/v2"
)

// Handler serves on one endpoint the metrics of g (the process metrics: Go,
// process, workqueue, GitHub client, webhook deliveries) followed by the
// state metrics of c, in the Prometheus text format (version 0.0.4),
// gzip-compressed when the scraper accepts it.
//
// The state metrics are the Collector's, but written as text straight from
// the listers, as kube-state-metrics does: at 10,000 Runners (170,000
// series) that takes 15 to 30 ms, where client_golang's registry, which
// checks, sorts and re-encodes every series, takes over half a second and
// allocates 155 MB. So g must not hold c (else its families would appear
// twice): processmetrics.NewRegistry makes such a registry.
//
// A Gather or lister error answers 500, as promhttp does by default.
func Handler(g prometheus.Gatherer, c *Collector) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.serveHTTP(w, r, g)
	})
}

func (c *Collector) serveHTTP(w http.ResponseWriter, r *http.Request, g prometheus.Gatherer) {
	mfs, err := g.Gather()
	if err != nil {
		http.Error(w, "Gathering the process metrics failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	text := textEmitters.Get().(*textEmitter)
	defer text.release()
	if err := c.generate(text); err != nil {
		http.Error(w, "Collecting the state metrics failed: "+err.Error(), http.StatusInternalServerError)
		return
	}

	header := w.Header()
	header.Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	header.Add("Vary", "Accept-Encoding")
	var out io.Writer = w
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		header.Set("Content-Encoding", "gzip")
		gz := gzipWriters.Get().(*gzip.Writer)
		gz.Reset(w)
		defer func() {
			gz.Reset(io.Discard)
			gzipWriters.Put(gz)
		}()
		out = gz
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	if err := writeText(bw, mfs, text); err != nil {
		klog.FromContext(r.Context()).V(4).Info("Writing the metrics failed", "err", err)
		return
	}
	if gz, ok := out.(*gzip.Writer); ok {
		if err := gz.Close(); err != nil {
			klog.FromContext(r.Context()).V(4).Info("Writing the metrics failed", "err", err)
		}
	}
}

func writeText(bw *bufio.Writer, mfs []*dto.MetricFamily, text *textEmitter) error {
	enc := expfmt.NewEncoder(bw, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	if err := text.writeTo(bw); err != nil {
		return err
	}
	return bw.Flush()
}

// acceptsGzip tells whether an Accept-Encoding header allows gzip.
func acceptsGzip(acceptEncoding string) bool {
	for _, part := range strings.Split(acceptEncoding, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q, ok := strings.CutPrefix(strings.TrimSpace(params), "q=")
		if !ok {
			return true
		}
		v, err := strconv.ParseFloat(q, 64)
		return err == nil && v > 0
	}
	return false
}

var gzipWriters = sync.Pool{New: func() any {
	gz, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return gz
}}

// textEmitter writes series as Prometheus text, one buffer per family, so
// that each family's series end up together.
type textEmitter struct {
	bufs [][]byte // by family index
}

// textEmitters keeps the buffers from one scrape to the next: a scrape of
// 10,000 Runners writes some 18 MB.
var textEmitters = sync.Pool{New: func() any { return &textEmitter{bufs: make([][]byte, len(families))} }}

func (e *textEmitter) release() {
	for i := range e.bufs {
		e.bufs[i] = e.bufs[i][:0]
	}
	textEmitters.Put(e)
}

func (e *textEmitter) gauge(f *family, value float64, extraLabels []string, labelValues []string) {
	b := e.bufs[f.index]
	b = append(b, f.name...)
	b = append(b, '{')
	for i, v := range labelValues {
		if i > 0 {
			b = append(b, ',')
		}
		if i < len(f.labels) {
			b = append(b, f.labels[i]...)
		} else {
			b = append(b, extraLabels[i-len(f.labels)]...)
		}
		b = append(b, '=', '"')
		b = appendLabelValue(b, v)
		b = append(b, '"')
	}
	b = append(b, '}', ' ')
	b = appendFloat(b, value)
	b = append(b, '\n')
	e.bufs[f.index] = b
}

// writeTo writes every family that has series, after its HELP and TYPE
// lines.
func (e *textEmitter) writeTo(w *bufio.Writer) error {
	for _, f := range families {
		b := e.bufs[f.index]
		if len(b) == 0 {
			continue
		}
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", f.name, escapeHelp(f.help), f.name)
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// appendLabelValue appends v escaped as the text format wants (\\, \", \n),
// with invalid UTF-8 replaced as in Collect.
func appendLabelValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\\' || c == '"' || c == '\n' || c >= utf8.RuneSelf {
			return appendEscaped(b, validUTF8(v))
		}
	}
	return append(b, v...)
}

func appendEscaped(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

func escapeHelp(help string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(help)
}

// appendFloat formats a sample value as expfmt does.
func appendFloat(b []byte, f float64) []byte {
	switch {
	case f == 1:
		return append(b, '1')
	case f == 0:
		return append(b, '0')
	case f == -1:
		return append(b, "-1"...)
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, +1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	default:
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	}
}
