package admission

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/util/cert"
)

const (
	testNamespace  = "octorun-system"
	testSecret     = "octorun-webhook-cert"
	testService    = "octorun-webhook"
	testMutating   = "octorun-mutating"
	testValidating = "octorun-validating"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newFakeClient returns a clientset with the two webhook configurations of
// two webhooks each.
func newFakeClient() *fake.Clientset {
	webhook := func(name string) admissionregistrationv1.WebhookClientConfig {
		return admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: testNamespace, Name: testService, Path: &name}}
	}
	return fake.NewClientset(
		&admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: testMutating},
			Webhooks: []admissionregistrationv1.MutatingWebhook{
				{Name: "runners.octorun.github.io", ClientConfig: webhook(MutatePath)},
				{Name: "runnersets.octorun.github.io", ClientConfig: webhook(MutatePath)},
			},
		},
		&admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: testValidating},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{
				{Name: "runners.octorun.github.io", ClientConfig: webhook(ValidatePath)},
				{Name: "runnersets.octorun.github.io", ClientConfig: webhook(ValidatePath)},
			},
		},
	)
}

func newTestCertManager(t *testing.T, client *fake.Clientset, clock *fakeClock, validity time.Duration) *CertManager {
	t.Helper()
	m, err := NewCertManager(CertManagerOptions{
		Client:                          client,
		Namespace:                       testNamespace,
		SecretName:                      testSecret,
		ServiceName:                     testService,
		DNSNames:                        []string{"localhost"},
		IPs:                             []net.IP{net.ParseIP("127.0.0.1")},
		MutatingWebhookConfigurations:   []string{testMutating},
		ValidatingWebhookConfigurations: []string{testValidating},
		Validity:                        validity,
	})
	if err != nil {
		t.Fatal(err)
	}
	if clock != nil {
		m.now = clock.Now
	}
	return m
}

func mustSync(t *testing.T, m *CertManager) {
	t.Helper()
	if err := m.Sync(context.Background()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

func servedLeaf(t *testing.T, m *CertManager) *x509.Certificate {
	t.Helper()
	c, err := m.GetCertificate(nil)
	if err != nil {
		t.Fatalf("GetCertificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

func getSecret(t *testing.T, client *fake.Clientset) *corev1.Secret {
	t.Helper()
	s, err := client.CoreV1().Secrets(testNamespace).Get(context.Background(), testSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// injectedBundles returns the CA bundle of every webhook of both
// configurations.
func injectedBundles(t *testing.T, client *fake.Clientset) [][]byte {
	t.Helper()
	ctx := context.Background()
	mc, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, testMutating, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vc, err := client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, testValidating, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var bundles [][]byte
	for _, w := range mc.Webhooks {
		bundles = append(bundles, w.ClientConfig.CABundle)
	}
	for _, w := range vc.Webhooks {
		bundles = append(bundles, w.ClientConfig.CABundle)
	}
	return bundles
}

// verify checks that leaf is trusted by bundle for every name at now.
func verify(t *testing.T, leaf *x509.Certificate, bundle []byte, now time.Time, names ...string) {
	t.Helper()
	pool, err := cert.NewPoolFromBytes(bundle)
	if err != nil {
		t.Fatalf("the CA bundle: %v", err)
	}
	for _, name := range names {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		if err != nil {
			t.Errorf("the certificate is not valid for %s: %v", name, err)
		}
	}
}

// writes returns the create and update actions of the clientset, as
// "verb resource".
func writes(client *fake.Clientset) []string {
	var got []string
	for _, a := range client.Actions() {
		if a.GetVerb() == "create" || a.GetVerb() == "update" {
			got = append(got, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	return got
}

func TestCertManagerCreatesSecretAndInjectsCA(t *testing.T) {
	client := newFakeClient()
	m := newTestCertManager(t, client, nil, 0)
	if _, err := m.GetCertificate(nil); err == nil {
		t.Error("GetCertificate before the first Sync gave a certificate")
	}
	mustSync(t, m)

	secret := getSecret(t, client)
	if secret.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret type = %q, want %q", secret.Type, corev1.SecretTypeTLS)
	}
	for _, k := range []string{SecretCertKey, SecretKeyKey, SecretCABundleKey, SecretCAKeyKey} {
		if len(secret.Data[k]) == 0 {
			t.Errorf("Secret has no %s", k)
		}
	}
	bundle := secret.Data[SecretCABundleKey]
	for i, b := range injectedBundles(t, client) {
		if !bytes.Equal(b, bundle) {
			t.Errorf("webhook %d has CA bundle %q, want the Secret's", i, b)
		}
	}
	if !bytes.Equal(m.CABundle(), bundle) {
		t.Error("CABundle() is not the Secret's bundle")
	}

	leaf := servedLeaf(t, m)
	if !bytes.Equal(leaf.Raw, mustParseCert(t, secret.Data[SecretCertKey]).Raw) {
		t.Error("GetCertificate does not serve the Secret's certificate")
	}
	verify(t, leaf, bundle, time.Now(), testService, testService+"."+testNamespace, testService+"."+testNamespace+".svc",
		testService+"."+testNamespace+".svc.cluster.local", "localhost", "127.0.0.1")
	if validity := leaf.NotAfter.Sub(time.Now()); validity < DefaultCertValidity-time.Minute || validity > DefaultCertValidity {
		t.Errorf("certificate valid for %v more, want %v", validity, DefaultCertValidity)
	}

	// In steady state a Sync writes nothing.
	client.ClearActions()
	mustSync(t, m)
	if got := writes(client); len(got) > 0 {
		t.Errorf("Sync in steady state wrote %v", got)
	}
}

func mustParseCert(t *testing.T, pemData []byte) *x509.Certificate {
	t.Helper()
	certs, err := cert.ParseCertsPEM(pemData)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

func TestCertManagerReplicasAgree(t *testing.T) {
	client := newFakeClient()
	managers := make([]*CertManager, 4)
	for i := range managers {
		managers[i] = newTestCertManager(t, client, nil, 0)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(managers))
	start := make(chan struct{})
	for i, m := range managers {
		wg.Go(func() {
			<-start
			errs[i] = m.Sync(context.Background())
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("manager %d: Sync: %v", i, err)
		}
	}
	want := mustParseCert(t, getSecret(t, client).Data[SecretCertKey])
	for i, m := range managers {
		if got := servedLeaf(t, m); !bytes.Equal(got.Raw, want.Raw) {
			t.Errorf("manager %d serves serial %v, the Secret holds %v", i, got.SerialNumber, want.SerialNumber)
		}
	}
	creates := 0
	for _, w := range writes(client) {
		if w == "create secrets" {
			creates++
		}
	}
	if creates < 1 {
		t.Errorf("no Secret was created: %v", writes(client))
	}
}

func TestCertManagerRenewsBeforeExpiry(t *testing.T) {
	client := newFakeClient()
	clock := &fakeClock{now: time.Now()}
	m := newTestCertManager(t, client, clock, 3*time.Hour)
	replica := newTestCertManager(t, client, clock, 3*time.Hour)
	mustSync(t, m)
	mustSync(t, replica)
	first := servedLeaf(t, m)
	bundle := m.CABundle()

	// Two thirds of the validity in, the certificate stays.
	clock.Step(2*time.Hour - time.Minute)
	client.ClearActions()
	mustSync(t, m)
	if got := servedLeaf(t, m); !bytes.Equal(got.Raw, first.Raw) {
		t.Fatal("renewed with more than a third of the validity left")
	}
	if got := writes(client); len(got) > 0 {
		t.Errorf("Sync wrote %v before renewal was due", got)
	}

	// Less than a third left: renewed, with the same CA.
	clock.Step(2 * time.Minute)
	mustSync(t, m)
	renewed := servedLeaf(t, m)
	if bytes.Equal(renewed.Raw, first.Raw) {
		t.Fatal("not renewed with less than a third of the validity left")
	}
	if want := clock.Now().Add(3 * time.Hour); !renewed.NotAfter.Equal(want.Truncate(time.Second)) {
		t.Errorf("renewed certificate expires at %v, want %v", renewed.NotAfter, want)
	}
	if !bytes.Equal(m.CABundle(), bundle) {
		t.Error("a renewal of the serving certificate changed the CA bundle")
	}
	verify(t, renewed, bundle, clock.Now(), testService+"."+testNamespace+".svc")
	if got, want := writes(client), []string{"update secrets"}; !cmp.Equal(got, want) {
		t.Errorf("renewal wrote %v, want %v (the CA bundle is unchanged)", got, want)
	}

	// The replica serves the renewed certificate after its next Sync,
	// without writing.
	if got := servedLeaf(t, replica); !bytes.Equal(got.Raw, first.Raw) {
		t.Fatal("the replica changed certificate without a Sync")
	}
	client.ClearActions()
	mustSync(t, replica)
	if got := servedLeaf(t, replica); !bytes.Equal(got.Raw, renewed.Raw) {
		t.Error("the replica does not serve the renewed certificate")
	}
	if got := writes(client); len(got) > 0 {
		t.Errorf("the replica wrote %v", got)
	}
}

func TestCertManagerRetriesConflicts(t *testing.T) {
	client := newFakeClient()
	clock := &fakeClock{now: time.Now()}
	m := newTestCertManager(t, client, clock, time.Hour)
	mustSync(t, m)
	first := servedLeaf(t, m)

	conflicts := 0
	client.PrependReactor("update", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts < 2 {
			conflicts++
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "secrets"}, testSecret, nil)
		}
		return false, nil, nil
	})
	clock.Step(50 * time.Minute)
	mustSync(t, m)
	if conflicts != 2 {
		t.Errorf("%d conflicts, want 2", conflicts)
	}
	if got := servedLeaf(t, m); bytes.Equal(got.Raw, first.Raw) || !bytes.Equal(got.Raw, mustParseCert(t, getSecret(t, client).Data[SecretCertKey]).Raw) {
		t.Error("after conflicts the renewed certificate of the Secret is not served")
	}
}

func TestCertManagerRotatesCA(t *testing.T) {
	client := newFakeClient()
	start := time.Now()
	clock := &fakeClock{now: start}
	m := newTestCertManager(t, client, clock, DefaultCertValidity)
	mustSync(t, m)
	oldCA := mustParseCert(t, m.CABundle())

	// client-go's CA is valid for ten years (3650 days) and renewed after
	// two thirds (2433 days). At 2409 days the serving certificate was
	// renewed, by the old CA.
	day := 24 * time.Hour
	clock.Step(2409 * day)
	mustSync(t, m)
	if err := servedLeaf(t, m).CheckSignatureFrom(oldCA); err != nil {
		t.Fatalf("the serving certificate is not from the CA: %v", err)
	}
	leaf := servedLeaf(t, m)

	// CA due: a new CA joins the bundle, ahead of the old one, but the
	// serving certificate stays until the API servers have seen the bundle.
	clock.Step(31 * day)
	mustSync(t, m)
	bundle, err := cert.ParseCertsPEM(m.CABundle())
	if err != nil {
		t.Fatal(err)
	}
	if len(bundle) != 2 || !bundle[1].Equal(oldCA) || bundle[0].Equal(oldCA) {
		t.Fatalf("CA bundle after rotation has %d CAs, want the new and the old", len(bundle))
	}
	newCA := bundle[0]
	if got := servedLeaf(t, m); !got.Equal(leaf) {
		t.Error("the serving certificate was reissued by the new CA before its bundle could propagate")
	}
	for i, b := range injectedBundles(t, client) {
		if !bytes.Equal(b, m.CABundle()) {
			t.Errorf("webhook %d lacks the new CA bundle", i)
		}
	}

	// After the propagation delay the serving certificate is reissued by
	// the new CA; the old CA stays trusted until it expires.
	clock.Step(caPropagationDelay)
	mustSync(t, m)
	if err := servedLeaf(t, m).CheckSignatureFrom(newCA); err != nil {
		t.Errorf("the serving certificate is not from the new CA: %v", err)
	}
	if got, _ := cert.ParseCertsPEM(m.CABundle()); len(got) != 2 {
		t.Errorf("CA bundle has %d CAs, want 2", len(got))
	}
}

func TestCertManagerRepairsSecret(t *testing.T) {
	tests := []struct {
		name string
		data map[string][]byte
	}{
		{name: "empty", data: nil},
		{name: "garbage", data: map[string][]byte{SecretCertKey: []byte("x"), SecretKeyKey: []byte("y"), SecretCABundleKey: []byte("z"), SecretCAKeyKey: []byte("w")}},
		{name: "extra data kept", data: map[string][]byte{"note": []byte("mine")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := newFakeClient()
			if _, err := client.CoreV1().Secrets(testNamespace).Create(context.Background(), &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: testSecret, Namespace: testNamespace},
				Data:       tt.data,
			}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			client.ClearActions()
			m := newTestCertManager(t, client, nil, 0)
			mustSync(t, m)
			secret := getSecret(t, client)
			verify(t, servedLeaf(t, m), secret.Data[SecretCABundleKey], time.Now(), "localhost")
			// The configurations get the repaired bundle only.
			want := []string{"update secrets", "update mutatingwebhookconfigurations", "update validatingwebhookconfigurations"}
			if diff := cmp.Diff(want, writes(client)); diff != "" {
				t.Errorf("writes differ (-want +got):\n%s", diff)
			}
			for i, b := range injectedBundles(t, client) {
				if !bytes.Equal(b, secret.Data[SecretCABundleKey]) {
					t.Errorf("webhook %d has CA bundle %q, want the Secret's", i, b)
				}
			}
			if note, ok := tt.data["note"]; ok && !bytes.Equal(secret.Data["note"], note) {
				t.Error("the Secret's other data was dropped")
			}
		})
	}
}

func TestCertManagerReissuesForNewNames(t *testing.T) {
	client := newFakeClient()
	mustSync(t, newTestCertManager(t, client, nil, 0))
	m, err := NewCertManager(CertManagerOptions{
		Client: client, Namespace: testNamespace, SecretName: testSecret, ServiceName: testService,
		DNSNames: []string{"webhook.example.com"},
	})
	if err != nil {
		t.Fatal(err)
	}
	mustSync(t, m)
	verify(t, servedLeaf(t, m), m.CABundle(), time.Now(), "webhook.example.com")
}

func TestCertManagerWithoutWebhookConfiguration(t *testing.T) {
	client := fake.NewClientset()
	m := newTestCertManager(t, client, nil, 0)
	err := m.Sync(context.Background())
	if err == nil || !strings.Contains(err.Error(), "MutatingWebhookConfiguration "+testMutating) || !strings.Contains(err.Error(), "ValidatingWebhookConfiguration "+testValidating) {
		t.Errorf("Sync error = %v, want the missing configurations named", err)
	}
	if _, err := m.GetCertificate(nil); err != nil {
		t.Errorf("no certificate served while the configurations are missing: %v", err)
	}
}

func TestNewCertManagerOptions(t *testing.T) {
	client := fake.NewClientset()
	tests := []struct {
		name string
		opts CertManagerOptions
	}{
		{name: "no client", opts: CertManagerOptions{Namespace: "n", SecretName: "s", ServiceName: "svc"}},
		{name: "no secret", opts: CertManagerOptions{Client: client, Namespace: "n", ServiceName: "svc"}},
		{name: "no names", opts: CertManagerOptions{Client: client, Namespace: "n", SecretName: "s"}},
		{name: "negative validity", opts: CertManagerOptions{Client: client, Namespace: "n", SecretName: "s", ServiceName: "svc", Validity: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewCertManager(tt.opts); err == nil {
				t.Error("NewCertManager accepted the options")
			}
		})
	}
}

// TestServerServesRenewedCertificate serves the handler over TLS with a
// CertManager and checks that a renewal is served to new connections
// without a restart.
func TestServerServesRenewedCertificate(t *testing.T) {
	client := newFakeClient()
	clock := &fakeClock{now: time.Now()}
	m := newTestCertManager(t, client, clock, 3*time.Hour)
	mustSync(t, m)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer("", NewHandler(testAdmitter()), m, nil).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	pool, err := cert.NewPoolFromBytes(m.CABundle())
	if err != nil {
		t.Fatal(err)
	}
	dial := func() *x509.Certificate {
		t.Helper()
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: testService + "." + testNamespace + ".svc", Time: clock.Now})
		if err != nil {
			t.Fatalf("TLS handshake: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0]
	}
	first := dial()
	clock.Step(2*time.Hour + time.Minute)
	mustSync(t, m)
	if second := dial(); second.Equal(first) || !second.Equal(servedLeaf(t, m)) {
		t.Error("the server does not serve the renewed certificate")
	}
}
