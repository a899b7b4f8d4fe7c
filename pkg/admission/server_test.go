package admission

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// TestServerTLSSettings: the server takes the minimum version and cipher
// suites it is given, and refuses clients below them.
func TestServerTLSSettings(t *testing.T) {
	m := newTestCertManager(t, newFakeClient(), &fakeClock{now: time.Now()}, 3*time.Hour)
	mustSync(t, m)
	tests := []struct {
		name   string
		server *tls.Config
		client *tls.Config
		ok     bool
	}{
		{
			name:   "the default refuses TLS 1.1",
			client: &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11},
		},
		{
			name:   "the default takes TLS 1.2",
			client: &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12},
			ok:     true,
		},
		{
			name:   "a minimum of 1.2 refuses TLS 1.1",
			server: &tls.Config{MinVersion: tls.VersionTLS12},
			client: &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11},
		},
		{
			name:   "a minimum of 1.3 refuses TLS 1.2",
			server: &tls.Config{MinVersion: tls.VersionTLS13},
			client: &tls.Config{MaxVersion: tls.VersionTLS12},
		},
		{
			name:   "a minimum of 1.3 takes TLS 1.3",
			server: &tls.Config{MinVersion: tls.VersionTLS13},
			client: &tls.Config{MinVersion: tls.VersionTLS13},
			ok:     true,
		},
		{
			name:   "a suite the server does not list is refused",
			server: &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}},
			client: &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}},
		},
		{
			name:   "a suite the server lists is taken",
			server: &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}},
			client: &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}},
			ok:     true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- NewServer("", NewHandler(testAdmitter()), m, tt.server).Serve(ctx, ln) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Serve: %v", err)
				}
			}()
			client := tt.client.Clone()
			client.InsecureSkipVerify = true // the handshake's parameters are under test, not the certificate
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), client)
			if err == nil {
				conn.Close()
			}
			if got := err == nil; got != tt.ok {
				t.Errorf("Handshake error = %v, want success %v", err, tt.ok)
			}
		})
	}
}
