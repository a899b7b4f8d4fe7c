package access

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"

	"k8s.io/client-go/rest"
)

// Record is a request through a Recorder and the API server's answer.
type Record struct {
	Request
	// Code is the HTTP status: 403 when the API server refused the request
	// (RBAC, or an admission plugin forbidding it).
	Code int
}

// Recorder is a reverse proxy to an API server that records every request
// going through it. A process given a kubeconfig of the Recorder's URL,
// with its own credentials, makes its requests as before; the Recorder
// passes its credentials on and sees what it asks and what it gets, which
// an audit log would tell too, at the cost of an API server configured for
// it.
type Recorder struct {
	proxy *httputil.ReverseProxy

	mu      sync.Mutex
	records []Record
}

// NewRecorder returns a Recorder of the API server of config, whose TLS
// settings it uses and whose credentials it drops: each request goes on
// with the credentials it came with.
func NewRecorder(config *rest.Config) (*Recorder, error) {
	anonymous := rest.AnonymousClientConfig(config)
	transport, err := rest.TransportFor(anonymous)
	if err != nil {
		return nil, err
	}
	target, err := url.Parse(config.Host)
	if err != nil {
		return nil, err
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = transport
	proxy.FlushInterval = -1 // watches stream
	return &Recorder{proxy: proxy}, nil
}

// ServeHTTP records the request when the API server answers it (a watch
// as soon as it starts) and passes the answer back.
func (r *Recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	request := ParseRequest(req.Method, req.URL)
	r.proxy.ServeHTTP(&recordingWriter{ResponseWriter: w, record: func(code int) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.records = append(r.records, Record{Request: request, Code: code})
	}}, req)
}

// Records returns the requests recorded so far, in the order they were
// answered.
func (r *Recorder) Records() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Record(nil), r.records...)
}

// recordingWriter calls record with the status of the response once its
// header is written.
type recordingWriter struct {
	http.ResponseWriter
	record func(code int)
	done   bool
}

func (w *recordingWriter) WriteHeader(code int) {
	if !w.done && code >= 200 {
		w.done = true
		w.record(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController flush the stream of a watch.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
