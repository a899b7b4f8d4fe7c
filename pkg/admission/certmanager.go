package admission

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"slices"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
)

// Keys of the certificate Secret. tls.crt and tls.key hold the serving
// certificate and its key, ca.crt the CA bundle to trust (the current CA
// first, then older ones still valid) and ca.key the current CA's key.
const (
	SecretCertKey     = corev1.TLSCertKey
	SecretKeyKey      = corev1.TLSPrivateKeyKey
	SecretCABundleKey = "ca.crt"
	SecretCAKeyKey    = "ca.key"
)

// Defaults of CertManagerOptions.
const (
	DefaultCertValidity = 365 * 24 * time.Hour
	DefaultResyncPeriod = time.Minute
)

const (
	// clusterDomain is the DNS domain of the cluster's Services.
	clusterDomain = "cluster.local"
	// backdate is how far before its creation a certificate is valid, so
	// that a clock behind ours accepts it.
	backdate = time.Hour
	// caPropagationDelay is how long a new CA is in the bundle before the
	// serving certificate is reissued by it: time for the API servers to see
	// the webhook configurations with the new bundle.
	caPropagationDelay = time.Minute
	// caCommonName is the common name of the CAs.
	caCommonName = "octorun-admission-ca"
)

// CertManagerOptions configures a CertManager.
type CertManagerOptions struct {
	// Client reads and writes the Secret and the webhook configurations.
	Client kubernetes.Interface
	// Namespace and SecretName name the Secret of the CA and the serving
	// certificate; the CertManager creates it when it is absent.
	Namespace  string
	SecretName string
	// ServiceName is the webhook Service in Namespace. The certificate is
	// valid for <svc>, <svc>.<ns>, <svc>.<ns>.svc and
	// <svc>.<ns>.svc.cluster.local.
	ServiceName string
	// DNSNames and IPs are further names of the certificate (e.g.
	// 127.0.0.1 for a webhook outside the cluster in tests).
	DNSNames []string
	IPs      []net.IP
	// MutatingWebhookConfigurations and ValidatingWebhookConfigurations
	// name the configurations whose webhooks, all of them, get the CA
	// bundle.
	MutatingWebhookConfigurations   []string
	ValidatingWebhookConfigurations []string
	// Validity is how long a serving certificate is valid; zero means
	// DefaultCertValidity. It is renewed when less than a third of it
	// remains. The CA is valid for ten years and renewed likewise.
	Validity time.Duration
	// ResyncPeriod is how often Run re-reads the Secret, renews what is due
	// and injects the CA bundle; zero means DefaultResyncPeriod.
	ResyncPeriod time.Duration
}

// CertManager keeps the webhook's CA and serving certificate in a Secret,
// the CA bundle in the webhook configurations, and serves the Secret's
// certificate. Several replicas may share the Secret: the first to create
// it wins, and every renewal is an update conditional on the
// resourceVersion read, so they agree on one certificate.
type CertManager struct {
	opts     CertManagerOptions
	dnsNames []string
	now      func() time.Time // the clock; a test sets it

	cert     atomic.Pointer[tls.Certificate]
	caBundle atomic.Pointer[[]byte]
}

// NewCertManager returns a CertManager configured by opts.
func NewCertManager(opts CertManagerOptions) (*CertManager, error) {
	switch {
	case opts.Client == nil:
		return nil, errors.New("a CertManager needs a client")
	case opts.Namespace == "" || opts.SecretName == "":
		return nil, errors.New("a CertManager needs the namespace and name of its Secret")
	case opts.ServiceName == "" && len(opts.DNSNames) == 0 && len(opts.IPs) == 0:
		return nil, errors.New("a CertManager needs a Service name, DNS names or IPs for its certificate")
	case opts.Validity < 0 || opts.ResyncPeriod < 0:
		return nil, errors.New("the certificate validity and the resync period must not be negative")
	}
	if opts.Validity == 0 {
		opts.Validity = DefaultCertValidity
	}
	if opts.ResyncPeriod == 0 {
		opts.ResyncPeriod = DefaultResyncPeriod
	}
	var names []string
	if svc, ns := opts.ServiceName, opts.Namespace; svc != "" {
		names = append(names, svc, svc+"."+ns, svc+"."+ns+".svc", svc+"."+ns+".svc."+clusterDomain)
	}
	for _, n := range opts.DNSNames {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return &CertManager{opts: opts, dnsNames: names, now: time.Now}, nil
}

// GetCertificate returns the serving certificate of the last Sync, for
// tls.Config.GetCertificate.
func (m *CertManager) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := m.cert.Load(); c != nil {
		return c, nil
	}
	return nil, errors.New("no admission webhook certificate yet")
}

// CABundle returns the CA bundle of the last Sync, PEM-encoded.
func (m *CertManager) CABundle() []byte {
	if b := m.caBundle.Load(); b != nil {
		return bytes.Clone(*b)
	}
	return nil
}

// Run syncs at once and then every ResyncPeriod until ctx is done, logging
// errors; each Sync retries what failed before.
func (m *CertManager) Run(ctx context.Context) {
	logger := klog.FromContext(ctx)
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := m.Sync(ctx); err != nil {
			logger.Error(err, "Syncing the admission webhook certificate failed")
		}
	}, m.opts.ResyncPeriod)
}

// Sync brings the Secret up to date (creating it, renewing what is due),
// injects its CA bundle into the webhook configurations and serves its
// certificate. An error injecting the bundle is returned after the
// certificate is served.
func (m *CertManager) Sync(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	var secret *corev1.Secret
	var injectErr error
	err := retry.OnError(retry.DefaultRetry, isWriteRace, func() error {
		var err error
		secret, err = m.getOrCreateSecret(ctx)
		if err != nil {
			return err
		}
		// The bundle goes in before a certificate of a new CA is served:
		// plan switches to the new CA only once the bundle was injected. A
		// bundle without a valid CA is not injected; plan replaces it.
		now := m.now()
		injectErr = errNoCA
		if len(validCerts(secret.Data[SecretCABundleKey], now)) > 0 {
			injectErr = m.injectCABundle(ctx, secret.Data[SecretCABundleKey])
		}
		data, reason, err := m.plan(secret.Data, now, injectErr == nil)
		if err != nil || data == nil {
			return err
		}
		updated := secret.DeepCopy()
		updated.Data = data
		if updated, err = m.opts.Client.CoreV1().Secrets(m.opts.Namespace).Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("updating Secret %s/%s: %w", m.opts.Namespace, m.opts.SecretName, err)
		}
		logger.V(2).Info("Renewed the admission webhook certificate", "secret", klog.KObj(updated), "reason", reason)
		if !bytes.Equal(updated.Data[SecretCABundleKey], secret.Data[SecretCABundleKey]) {
			injectErr = m.injectCABundle(ctx, updated.Data[SecretCABundleKey])
		}
		secret = updated
		return nil
	})
	if err != nil {
		return err
	}
	pair, err := tls.X509KeyPair(secret.Data[SecretCertKey], secret.Data[SecretKeyKey])
	if err != nil {
		return fmt.Errorf("loading the certificate of Secret %s/%s: %w", m.opts.Namespace, m.opts.SecretName, err)
	}
	m.cert.Store(&pair)
	bundle := bytes.Clone(secret.Data[SecretCABundleKey])
	m.caBundle.Store(&bundle)
	return injectErr
}

// errNoCA is the injection error of a Secret without a valid CA; Sync
// replaces the Secret's data, so it is never returned.
var errNoCA = errors.New("the Secret has no valid CA")

// isWriteRace reports whether err is another replica's write winning.
func isWriteRace(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
}

// getOrCreateSecret returns the Secret, created with a new CA and
// certificate when absent.
func (m *CertManager) getOrCreateSecret(ctx context.Context) (*corev1.Secret, error) {
	secrets := m.opts.Client.CoreV1().Secrets(m.opts.Namespace)
	secret, err := secrets.Get(ctx, m.opts.SecretName, metav1.GetOptions{})
	if err == nil {
		return secret, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("getting Secret %s/%s: %w", m.opts.Namespace, m.opts.SecretName, err)
	}
	data, _, err := m.plan(nil, m.now(), false)
	if err != nil {
		return nil, err
	}
	secret, err = secrets.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: m.opts.SecretName, Namespace: m.opts.Namespace},
		Type:       corev1.SecretTypeTLS,
		Data:       data,
	}, metav1.CreateOptions{})
	if err != nil {
		// On AlreadyExists another replica won: the retry reads its Secret.
		return nil, fmt.Errorf("creating Secret %s/%s: %w", m.opts.Namespace, m.opts.SecretName, err)
	}
	klog.FromContext(ctx).V(2).Info("Created the admission webhook certificate", "secret", klog.KObj(secret))
	return secret, nil
}

// plan returns the Secret data to write instead of data at now, and why,
// or nil when data is fine. injected says whether data's CA bundle is in
// the webhook configurations, so that a certificate of its new CA can be
// served.
func (m *CertManager) plan(data map[string][]byte, now time.Time, injected bool) (map[string][]byte, string, error) {
	var reasons []string
	bundle := validCerts(data[SecretCABundleKey], now)
	ca, caKey := currentCA(bundle, data[SecretCAKeyKey])
	switch {
	case ca == nil:
		reasons = append(reasons, "no usable CA")
	case now.After(ca.NotAfter.Add(-caLifetime(ca) / 3)):
		reasons = append(reasons, "the CA expires soon")
		ca = nil
	}
	if ca == nil {
		var err error
		if ca, caKey, err = newCertificateAuthority(now); err != nil {
			return nil, "", err
		}
		bundle = append([]*x509.Certificate{ca}, bundle...)
	}

	certPEM, keyPEM := data[SecretCertKey], data[SecretKeyKey]
	reason := m.servingCertProblem(certPEM, keyPEM, bundle, ca, now, injected)
	if reason != "" {
		reasons = append(reasons, reason)
		var err error
		if certPEM, keyPEM, err = m.newServingCert(ca, caKey, now); err != nil {
			return nil, "", err
		}
	}

	caKeyPEM, err := keyutil.MarshalPrivateKeyToPEM(caKey)
	if err != nil {
		return nil, "", fmt.Errorf("encoding the CA key: %w", err)
	}
	bundlePEM, err := cert.EncodeCertificates(bundle...)
	if err != nil {
		return nil, "", fmt.Errorf("encoding the CA bundle: %w", err)
	}
	planned := map[string][]byte{
		SecretCertKey:     certPEM,
		SecretKeyKey:      keyPEM,
		SecretCABundleKey: bundlePEM,
		SecretCAKeyKey:    caKeyPEM,
	}
	if len(reasons) == 0 {
		if bytes.Equal(bundlePEM, data[SecretCABundleKey]) {
			return nil, "", nil
		}
		reasons = append(reasons, "an expired CA left the bundle")
	}
	// Keep what else the Secret holds.
	for k, v := range data {
		if _, ok := planned[k]; !ok {
			planned[k] = v
		}
	}
	return planned, fmt.Sprint(reasons), nil
}

// servingCertProblem says why the serving certificate certPEM/keyPEM must
// be reissued, or "" when it is fine.
func (m *CertManager) servingCertProblem(certPEM, keyPEM []byte, bundle []*x509.Certificate, ca *x509.Certificate, now time.Time, injected bool) string {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return "no usable certificate"
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return "no usable certificate"
	}
	if now.After(leaf.NotAfter.Add(-m.opts.Validity / 3)) {
		return "the certificate expires soon"
	}
	for _, n := range m.dnsNames {
		if !slices.Contains(leaf.DNSNames, n) {
			return fmt.Sprintf("the certificate lacks the name %s", n)
		}
	}
	for _, ip := range m.opts.IPs {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return fmt.Sprintf("the certificate lacks the IP %s", ip)
		}
	}
	if leaf.CheckSignatureFrom(ca) == nil {
		return ""
	}
	if !slices.ContainsFunc(bundle, func(c *x509.Certificate) bool { return leaf.CheckSignatureFrom(c) == nil }) {
		return "the certificate is from no CA of the bundle"
	}
	// From an older CA of the bundle: switch when the current one has been
	// trusted long enough.
	if injected && !now.Before(caCreated(ca).Add(caPropagationDelay)) {
		return "the certificate is not from the current CA"
	}
	return ""
}

// validCerts returns the certificates of the PEM bundle that are valid at
// now; unparseable blocks are dropped.
func validCerts(bundle []byte, now time.Time) []*x509.Certificate {
	var certs []*x509.Certificate
	for len(bundle) > 0 {
		var block *pem.Block
		block, bundle = pem.Decode(bundle)
		if block == nil {
			break
		}
		if block.Type != cert.CertificateBlockType {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil || now.After(c.NotAfter) {
			continue
		}
		certs = append(certs, c)
	}
	return certs
}

// currentCA returns the first certificate of bundle with its key, when it is
// a CA and keyPEM its key; nil otherwise.
func currentCA(bundle []*x509.Certificate, keyPEM []byte) (*x509.Certificate, crypto.Signer) {
	if len(bundle) == 0 || !bundle[0].IsCA {
		return nil, nil
	}
	key, err := keyutil.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, nil
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, nil
	}
	pub, ok := bundle[0].PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(signer.Public()) {
		return nil, nil
	}
	return bundle[0], signer
}

// caCreated is when ca was made: it is valid from backdate before.
func caCreated(ca *x509.Certificate) time.Time {
	return ca.NotBefore.Add(backdate)
}

func caLifetime(ca *x509.Certificate) time.Duration {
	return ca.NotAfter.Sub(caCreated(ca))
}

// newCertificateAuthority makes a CA with client-go's helper, valid for ten
// years.
func newCertificateAuthority(now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating the CA key: %w", err)
	}
	ca, err := cert.NewSelfSignedCACert(cert.Config{
		CommonName: caCommonName,
		NotBefore:  now.Add(-backdate),
	}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the CA certificate: %w", err)
	}
	return ca, key, nil
}

// newServingCert makes a serving certificate for the CertManager's names,
// signed by ca, valid for the configured validity but not beyond the CA.
// client-go has no helper that signs with a given CA: the template is the
// one of its GenerateSelfSignedCertKeyWithOptions.
func (m *CertManager) newServingCert(ca *x509.Certificate, caKey crypto.Signer, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating the serving key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(math.MaxInt64))
	if err != nil {
		return nil, nil, fmt.Errorf("generating a serial number: %w", err)
	}
	commonName := ""
	if len(m.dnsNames) > 0 {
		commonName = m.dnsNames[0]
	} else {
		commonName = m.opts.IPs[0].String()
	}
	notAfter := now.Add(m.opts.Validity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	template := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		Subject:               pkix.Name{CommonName: commonName},
		DNSNames:              m.dnsNames,
		IPAddresses:           m.opts.IPs,
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("signing the serving certificate: %w", err)
	}
	keyPEM, err = keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the serving key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: cert.CertificateBlockType, Bytes: der}), keyPEM, nil
}

// injectCABundle sets bundle as the CA bundle of every webhook of the
// configured webhook configurations.
func (m *CertManager) injectCABundle(ctx context.Context, bundle []byte) error {
	api := m.opts.Client.AdmissionregistrationV1()
	var errs []error
	for _, name := range m.opts.MutatingWebhookConfigurations {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			c, err := api.MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			changed := false
			for i := range c.Webhooks {
				changed = setCABundle(&c.Webhooks[i].ClientConfig.CABundle, bundle) || changed
			}
			if !changed {
				return nil
			}
			_, err = api.MutatingWebhookConfigurations().Update(ctx, c, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("injecting the CA bundle into MutatingWebhookConfiguration %s: %w", name, err))
		}
	}
	for _, name := range m.opts.ValidatingWebhookConfigurations {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			c, err := api.ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			changed := false
			for i := range c.Webhooks {
				changed = setCABundle(&c.Webhooks[i].ClientConfig.CABundle, bundle) || changed
			}
			if !changed {
				return nil
			}
			_, err = api.ValidatingWebhookConfigurations().Update(ctx, c, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("injecting the CA bundle into ValidatingWebhookConfiguration %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

func setCABundle(dst *[]byte, bundle []byte) bool {
	if bytes.Equal(*dst, bundle) {
		return false
	}
	*dst = bytes.Clone(bundle)
	return true
}
