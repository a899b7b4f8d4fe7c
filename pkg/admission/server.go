package admission

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

// Timeouts of the Server. The API server waits at most 30s for a webhook.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 90 * time.Second
	shutdownTimeout   = 10 * time.Second
)

// CertificateSource gives the serving certificate for each TLS handshake,
// so that a renewed certificate is served without a restart. CertManager
// and FileCertificate are CertificateSources.
type CertificateSource interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
}

// Server serves a handler over TLS.
type Server struct {
	server *http.Server
}

// NewServer returns a Server of handler on addr (host:port) with the
// certificates of certs.
func NewServer(addr string, handler http.Handler, certs CertificateSource) *Server {
	return &Server{server: &http.Server{
		Addr:    addr,
		Handler: handler,
		TLSConfig: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: certs.GetCertificate,
		},
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
		return fmt.Errorf("listening for admission requests: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done, then shuts down gracefully. It
// closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	logger := klog.FromContext(ctx)
	logger.Info("Serving admission webhooks", "address", ln.Addr().String())
	// Requests log with ctx's logger, but are not canceled with ctx: a
	// graceful shutdown lets them finish.
	s.server.BaseContext = func(net.Listener) context.Context {
		return klog.NewContext(context.Background(), logger)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.server.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving admission requests: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := s.server.Shutdown(shutdownCtx)
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	if err != nil {
		return fmt.Errorf("shutting down the admission server: %w", err)
	}
	return nil
}
