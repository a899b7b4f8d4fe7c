package admission

import (
	"crypto/tls"
	"net/http"
	"time"

	"github.com/octorun/octorun/internal/httpserver"
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
	*httpserver.Server
}

// NewServer returns a Server of handler on addr (host:port) with the
// certificates of certs and the settings of tlsConfig (minimum version,
// cipher suites), which it copies; nil means TLS 1.2 or later and Go's
// cipher suites.
func NewServer(addr string, handler http.Handler, certs CertificateSource, tlsConfig *tls.Config) *Server {
	if tlsConfig == nil {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tlsConfig = tlsConfig.Clone()
	tlsConfig.GetCertificate = certs.GetCertificate
	return &Server{httpserver.New(httpserver.Options{
		Serving:           "admission requests",
		Addr:              addr,
		Handler:           handler,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ShutdownTimeout:   shutdownTimeout,
	})}
}
