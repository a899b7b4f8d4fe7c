package githubevents

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"k8s.io/klog/v2"
)

// Timeouts of a Server. GitHub waits 10s for an answer, and the Receiver
// answers in milliseconds.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 10 * time.Second
	idleTimeout       = 60 * time.Second
	shutdownTimeout   = 10 * time.Second
)

// Server serves a Receiver (or any handler) over HTTP, or HTTPS when given a
// TLS configuration, with read, write and idle timeouts.
type Server struct {
	server *http.Server
}

// NewServer returns a Server of handler on addr (host:port). tlsConfig nil
// serves plain HTTP, for a TLS-terminating ingress in front.
func NewServer(addr string, handler http.Handler, tlsConfig *tls.Config) *Server {
	return &Server{server: &http.Server{
		Addr:              addr,
		Handler:           handler,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    1 << 16,
		ErrorLog:          klog.NewStandardLogger("INFO"),
	}}
}

// Run listens on the Server's address and serves until ctx is done, then
// shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.server.Addr)
	if err != nil {
		return fmt.Errorf("listening for GitHub webhooks: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done, then shuts down gracefully: requests
// under way finish. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	logger := klog.FromContext(ctx)
	logger.Info("Serving GitHub webhooks", "address", ln.Addr().String(), "tls", s.server.TLSConfig != nil)
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
		return fmt.Errorf("serving GitHub webhooks: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := s.server.Shutdown(shutdownCtx)
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	if err != nil {
		return fmt.Errorf("shutting down the GitHub webhook server: %w", err)
	}
	return nil
}

// LoadSecret reads the webhook secret from file, if file is not empty, or
// else from the environment variable env (read with getenv). A trailing
// newline is dropped. An empty secret is an error: the Receiver refuses to
// run without one.
func LoadSecret(file, env string, getenv func(string) string) ([]byte, error) {
	var secret, from string
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("reading the GitHub webhook secret: %w", err)
		}
		secret, from = string(data), file
	} else {
		secret, from = getenv(env), "$"+env
	}
	secret = strings.TrimRight(secret, "\r\n")
	if secret == "" {
		return nil, fmt.Errorf("the GitHub webhook secret (%s) is empty", from)
	}
	return []byte(secret), nil
}
