package main

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/octorun/octorun/internal/httpserver"
)

// health answers /healthz (the process serves) and /readyz (its caches are
// synced, so its webhooks and metrics answer from current state), to
// anyone: the kubelet probes them without credentials.
type health struct {
	ready atomic.Bool
}

func (h *health) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !h.ready.Load() {
			http.Error(w, "caches not synced", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	return mux
}

// metricsMux serves the metrics and, with profiling, Go's profiles under
// /debug/pprof/.
func metricsMux(metrics http.Handler, profiling bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	if profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// serve runs an HTTP server on addr, over TLS with a tlsConfig, until ctx
// is done, then shuts it down gracefully, finishing requests in flight.
// addr "" or "0" serves nothing.
func serve(ctx context.Context, name, addr string, handler http.Handler, tlsConfig *tls.Config, errs chan<- error) {
	if addr == "" || addr == "0" {
		return
	}
	s := httpserver.New(httpserver.Options{
		Serving:           name,
		Addr:              addr,
		Handler:           handler,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		ShutdownTimeout:   10 * time.Second,
	})
	if err := s.Run(ctx); err != nil {
		errs <- err
	}
}
