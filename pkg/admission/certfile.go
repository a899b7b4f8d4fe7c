package admission

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
)

// FileCertificate serves a certificate and key from files (e.g. a Secret
// of cert-manager mounted in the pod), reloaded when they change.
type FileCertificate struct {
	certFile, keyFile string
	period            time.Duration

	cert atomic.Pointer[tls.Certificate]

	mu                    sync.Mutex // guards the loaded contents
	loadedCert, loadedKey []byte
}

// NewFileCertificate loads the certificate in certFile and its key in
// keyFile; Run reloads them every period.
func NewFileCertificate(certFile, keyFile string, period time.Duration) (*FileCertificate, error) {
	if period <= 0 {
		return nil, fmt.Errorf("the reload period must be positive, not %v", period)
	}
	f := &FileCertificate{certFile: certFile, keyFile: keyFile, period: period}
	if _, err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// GetCertificate returns the last certificate loaded, for
// tls.Config.GetCertificate.
func (f *FileCertificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return f.cert.Load(), nil
}

// Reload reads the files and, when they changed and hold a valid pair,
// serves them; it reports whether it did. A broken pair (e.g. one file
// written, the other not yet) is an error, and the previous pair stays.
func (f *FileCertificate) Reload() (bool, error) {
	certPEM, err := os.ReadFile(f.certFile)
	if err != nil {
		return false, fmt.Errorf("reading the webhook certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(f.keyFile)
	if err != nil {
		return false, fmt.Errorf("reading the webhook certificate key: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if bytes.Equal(certPEM, f.loadedCert) && bytes.Equal(keyPEM, f.loadedKey) {
		return false, nil
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false, fmt.Errorf("loading the webhook certificate from %s and %s: %w", f.certFile, f.keyFile, err)
	}
	f.cert.Store(&pair)
	f.loadedCert, f.loadedKey = certPEM, keyPEM
	return true, nil
}

// Run reloads the files every period until ctx is done.
func (f *FileCertificate) Run(ctx context.Context) {
	logger := klog.FromContext(ctx)
	wait.UntilWithContext(ctx, func(context.Context) {
		switch reloaded, err := f.Reload(); {
		case err != nil:
			logger.Error(err, "Reloading the admission webhook certificate failed")
		case reloaded:
			logger.V(2).Info("Reloaded the admission webhook certificate", "file", f.certFile)
		}
	}, f.period)
}
