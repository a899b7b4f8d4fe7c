package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"

	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/kubernetes"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/klog/v2"

	"github.com/octorun/octorun/cmd/octorun/app/options"
	"github.com/octorun/octorun/internal/metricsauth"
)

// secureMetrics puts the metrics server's handler behind the API server's
// authentication and authorisation (--metrics-secure) and returns the TLS
// configuration to serve it with: the certificate of --metrics-cert-dir,
// reloaded when it changes, or a self-signed one made now. Bearer tokens
// must not travel in clear. Without --metrics-secure it returns the handler
// as it is and no TLS.
func secureMetrics(ctx context.Context, kube kubernetes.Interface, o *options.Options, handler http.Handler) (http.Handler, *tls.Config, error) {
	if !o.MetricsSecure || o.MetricsAddr == "" || o.MetricsAddr == "0" {
		return handler, nil, nil
	}
	filter, err := metricsauth.New(metricsauth.Options{Authentication: kube.AuthenticationV1(), Authorization: kube.AuthorizationV1()})
	if err != nil {
		return nil, nil, err
	}
	tlsConfig, err := o.TLSConfig()
	if err != nil {
		return nil, nil, err
	}
	if o.MetricsCertDir != "" {
		certs, err := newFileCertificate(filepath.Join(o.MetricsCertDir, "tls.crt"), filepath.Join(o.MetricsCertDir, "tls.key"))
		if err != nil {
			return nil, nil, err
		}
		go certs.content.Run(ctx, 1)
		tlsConfig.GetCertificate = certs.GetCertificate
	} else {
		cert, err := selfSignedCertificate()
		if err != nil {
			return nil, nil, err
		}
		tlsConfig.Certificates = []tls.Certificate{cert}
	}
	return filter.Wrap(handler), tlsConfig, nil
}

// selfSignedCertificate makes a certificate for the pod's hostname,
// localhost and 127.0.0.1, signed by a CA made for it and thrown away:
// scrapers skip its verification (or serve --metrics-cert-dir instead).
func selfSignedCertificate() (tls.Certificate, error) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "octorun"
	}
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey(host, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, []string{"localhost"})
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("making the metrics server's self-signed certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("loading the metrics server's self-signed certificate: %w", err)
	}
	return cert, nil
}

// fileCertificate serves the certificate of a pair of files, parsed again
// only when k8s.io/apiserver's dynamic serving content sees them change.
type fileCertificate struct {
	content *dynamiccertificates.DynamicCertKeyPairContent
	cert    atomic.Pointer[tls.Certificate]
}

func newFileCertificate(certFile, keyFile string) (*fileCertificate, error) {
	content, err := dynamiccertificates.NewDynamicServingContentFromFiles("metrics-serving", certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading the metrics server's certificate: %w", err)
	}
	f := &fileCertificate{content: content}
	content.AddListener(f)
	if err := f.load(); err != nil {
		return nil, err
	}
	return f, nil
}

// Enqueue is called when the files changed and hold a valid pair.
func (f *fileCertificate) Enqueue() {
	if err := f.load(); err != nil {
		klog.ErrorS(err, "Reloading the metrics server's certificate failed; serving the previous one")
	}
}

func (f *fileCertificate) load() error {
	cert, err := tls.X509KeyPair(f.content.CurrentCertKeyContent())
	if err != nil {
		return fmt.Errorf("loading the metrics server's certificate: %w", err)
	}
	f.cert.Store(&cert)
	return nil
}

// GetCertificate returns the certificate last loaded, for
// tls.Config.GetCertificate.
func (f *fileCertificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return f.cert.Load(), nil
}
