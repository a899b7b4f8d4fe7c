package admission

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/util/cert"
)

func writePair(t *testing.T, dir, host string) (certPEM []byte) {
	t.Helper()
	certPEM, keyPEM, err := cert.GenerateSelfSignedCertKey(host, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certPEM
}

func servedHost(t *testing.T, f *FileCertificate) string {
	t.Helper()
	c, err := f.GetCertificate(nil)
	if err != nil || c == nil {
		t.Fatalf("GetCertificate: %v, %v", c, err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.DNSNames[0]
}

func TestFileCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if _, err := NewFileCertificate(certFile, keyFile, time.Second); err == nil {
		t.Error("NewFileCertificate accepted missing files")
	}

	writePair(t, dir, "one.example.com")
	f, err := NewFileCertificate(certFile, keyFile, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := servedHost(t, f); got != "one.example.com" {
		t.Errorf("serves %s, want one.example.com", got)
	}
	if reloaded, err := f.Reload(); reloaded || err != nil {
		t.Errorf("Reload of unchanged files = %v, %v; want false, nil", reloaded, err)
	}

	writePair(t, dir, "two.example.com")
	if reloaded, err := f.Reload(); !reloaded || err != nil {
		t.Errorf("Reload of changed files = %v, %v; want true, nil", reloaded, err)
	}
	if got := servedHost(t, f); got != "two.example.com" {
		t.Errorf("serves %s after the files changed, want two.example.com", got)
	}

	// Half a new pair: an error, and the previous pair stays.
	certPEM, _, err := cert.GenerateSelfSignedCertKey("three.example.com", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Reload(); err == nil {
		t.Error("Reload of a mismatched pair succeeded")
	}
	if got := servedHost(t, f); got != "two.example.com" {
		t.Errorf("serves %s after a broken update, want two.example.com", got)
	}

	// Run picks up a complete pair.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.period = 10 * time.Millisecond
	go f.Run(ctx)
	writePair(t, dir, "four.example.com")
	deadline := time.Now().Add(10 * time.Second)
	for servedHost(t, f) != "four.example.com" {
		if time.Now().After(deadline) {
			t.Fatal("Run did not reload the changed files")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
