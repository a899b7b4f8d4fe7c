// Package httpserver runs one of Octorun's HTTP servers (admission webhook,
// GitHub webhook receiver, metrics and probes): timeouts, optional TLS,
// request contexts that carry the server's logger, and a graceful shutdown
// that lets requests under way finish.
package httpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"k8s.io/klog/v2"
)

// Options configures a Server.
type Options struct {
	// Serving says what the server serves, in logs and errors, e.g.
	// "GitHub webhooks".
	Serving string
	Addr    string
	Handler http.Handler
	// TLSConfig nil serves plain HTTP.
	TLSConfig *tls.Config
	// Timeouts of reading a request's header, a whole request, writing a
	// response, an idle connection, and the graceful shutdown.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout, ShutdownTimeout time.Duration
}

// Server is an HTTP server that stops with its context.
type Server struct {
	serving  string
	shutdown time.Duration
	server   *http.Server
}

// New returns a Server.
func New(o Options) *Server {
	return &Server{serving: o.Serving, shutdown: o.ShutdownTimeout, server: &http.Server{
		Addr:              o.Addr,
		Handler:           o.Handler,
		TLSConfig:         o.TLSConfig,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    1 << 16,
		ErrorLog:          klog.NewStandardLogger("INFO"),
	}}
}

// HTTP is the underlying http.Server, to read its settings.
func (s *Server) HTTP() *http.Server { return s.server }

// Run listens on the Server's address and serves until ctx is done, then
// shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.server.Addr)
	if err != nil {
		return fmt.Errorf("listening for %s: %w", s.serving, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done, then shuts down gracefully: requests
// under way finish. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	logger := klog.FromContext(ctx)
	logger.Info("Serving "+s.serving, "address", ln.Addr().String(), "tls", s.server.TLSConfig != nil)
	// Requests log with ctx's logger, but are not canceled with ctx: a
	// graceful shutdown lets them finish.
	s.server.BaseContext = func(net.Listener) context.Context {
		return klog.NewContext(context.Background(), logger)
	}
	errc := make(chan error, 1)
	go func() {
		if s.server.TLSConfig != nil {
			errc <- s.server.ServeTLS(ln, "", "")
			return
		}
		errc <- s.server.Serve(ln)
	}()
	select {
	case err := <-errc:
		ln.Close() // ServeTLS fails on a bad TLS configuration before it takes ln
		return fmt.Errorf("serving %s: %w", s.serving, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.shutdown)
	defer cancel()
	err := s.server.Shutdown(shutdownCtx)
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	if err != nil {
		return fmt.Errorf("shutting down the server of %s: %w", s.serving, err)
	}
	return nil
}
