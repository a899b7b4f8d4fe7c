package githubevents

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/octorun/octorun/internal/httpserver"
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
	*httpserver.Server
	server *http.Server
}

// NewServer returns a Server of handler on addr (host:port). tlsConfig nil
// serves plain HTTP, for a TLS-terminating ingress in front.
func NewServer(addr string, handler http.Handler, tlsConfig *tls.Config) *Server {
	s := httpserver.New(httpserver.Options{
		Serving:           "GitHub webhooks",
		Addr:              addr,
		Handler:           handler,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ShutdownTimeout:   shutdownTimeout,
	})
	return &Server{Server: s, server: s.HTTP()}
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
