/*
Copyright The Octorun Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/octorun/octorun/pkg/admission"
	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned"
	"github.com/octorun/octorun/test/framework/install"
)

// admissionWebhook is Octorun's admission webhook served from the test
// process on 127.0.0.1, registered for the Runners and RunnerSets of some
// namespaces only: the webhook configurations are cluster-wide and the
// package's other tests run without it.
type admissionWebhook struct {
	// namespace holds the certificate Secret.
	namespace string
	// certs manages the webhook's TLS.
	certs *admission.CertManager
	// addr is the server's host:port.
	addr string
	// mutating and validating name the webhook configurations.
	mutating, validating string
}

// admissionWebhookOptions configures startAdmissionWebhook.
type admissionWebhookOptions struct {
	// namespaces are those whose objects the webhooks review; the first
	// holds the certificate Secret.
	namespaces []string
	// admitter configures the admission rules.
	admitter admission.Options
	// validity and resync configure the CertManager.
	validity, resync time.Duration
}

// admissionSecretName is the name of the certificate Secret.
const admissionSecretName = "octorun-webhook-cert"

// startAdmissionWebhook starts the webhook server and its CertManager,
// registers the webhook configurations, and waits until the API server
// calls the webhook. Everything is undone when t ends.
func startAdmissionWebhook(t *testing.T, client versioned.Interface, opts admissionWebhookOptions) *admissionWebhook {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wh := &admissionWebhook{
		namespace:  opts.namespaces[0],
		addr:       ln.Addr().String(),
		mutating:   "octorun-e2e-mutating-" + opts.namespaces[0],
		validating: "octorun-e2e-validating-" + opts.namespaces[0],
	}
	wh.certs, err = admission.NewCertManager(admission.CertManagerOptions{
		Client:                          Client,
		Namespace:                       wh.namespace,
		SecretName:                      admissionSecretName,
		ServiceName:                     "octorun-webhook",
		IPs:                             []net.IP{net.IPv4(127, 0, 0, 1)},
		MutatingWebhookConfigurations:   []string{wh.mutating},
		ValidatingWebhookConfigurations: []string{wh.validating},
		Validity:                        opts.validity,
		ResyncPeriod:                    opts.resync,
	})
	if err != nil {
		t.Fatal(err)
	}

	// The server and the CertManager stop after the configurations are
	// deleted (cleanups run last in, first out).
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	server := admission.NewServer(wh.addr, admission.NewHandler(admission.NewAdmitter(opts.admitter)), wh.certs, nil)
	wg.Go(func() {
		if err := server.Serve(ctx, ln); err != nil {
			t.Errorf("Admission server: %v", err)
		}
	})

	wh.register(t, opts.namespaces)
	if err := wh.certs.Sync(ctx); err != nil {
		t.Fatalf("Syncing the webhook certificate: %v", err)
	}
	wg.Go(func() { wh.certs.Run(ctx) })

	// The API server sees the configurations a moment later: a dry-run
	// create shows when the mutating webhook runs.
	Eventually(t, "the API server to call the admission webhook", func(ctx context.Context) (bool, error) {
		r, err := client.OctorunV1alpha1().Runners(wh.namespace).Create(ctx, &octorunv1alpha1.Runner{
			ObjectMeta: metav1.ObjectMeta{Name: "webhook-probe"},
			Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octorun"},
		}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			// Until the CA bundle is seen, calls fail with failurePolicy Fail.
			t.Logf("Webhook not ready: %v", err)
			return false, nil
		}
		return r.Spec.Workdir == octorunv1alpha1.DefaultWorkdir, nil
	})
	return wh
}

// register creates the shipped webhook configurations calling this
// process, named for the test and scoped to namespaces, and deletes them
// when t ends.
func (wh *admissionWebhook) register(t *testing.T, namespaces []string) {
	t.Helper()
	ctx := context.Background()
	mutating, validating, err := install.Webhooks(RepoPath(t), "https://"+wh.addr, namespaces)
	if err != nil {
		t.Fatal(err)
	}
	mutating.Name, validating.Name = wh.mutating, wh.validating
	api := Client.AdmissionregistrationV1()
	if _, err := api.MutatingWebhookConfigurations().Create(ctx, mutating, metav1.CreateOptions{}); err != nil {
		t.Fatalf("Creating the MutatingWebhookConfiguration: %v", err)
	}
	t.Cleanup(func() {
		deleteWebhookConfiguration(t, "MutatingWebhookConfiguration", wh.mutating, api.MutatingWebhookConfigurations().Delete)
	})
	if _, err := api.ValidatingWebhookConfigurations().Create(ctx, validating, metav1.CreateOptions{}); err != nil {
		t.Fatalf("Creating the ValidatingWebhookConfiguration: %v", err)
	}
	t.Cleanup(func() {
		deleteWebhookConfiguration(t, "ValidatingWebhookConfiguration", wh.validating, api.ValidatingWebhookConfigurations().Delete)
	})
}

func deleteWebhookConfiguration(t *testing.T, kind, name string, del func(context.Context, string, metav1.DeleteOptions) error) {
	if err := del(context.Background(), name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("Deleting %s %s: %v", kind, name, err)
	}
}

// expectInvalid checks that err is the refusal of an invalid object naming
// every one of fields.
func expectInvalid(err error, fields ...string) error {
	if err == nil {
		return errors.New("accepted, want refused")
	}
	if !apierrors.IsInvalid(err) {
		return fmt.Errorf("error %q is not Invalid", err)
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return fmt.Errorf("error %q has no details", err)
	}
	for _, f := range fields {
		found := false
		for _, c := range status.Status().Details.Causes {
			found = found || c.Field == f
		}
		if !found {
			return fmt.Errorf("error %q does not name %s", err, f)
		}
	}
	return nil
}
