package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/octorun/octorun/cmd/octorun/app/options"
	"github.com/octorun/octorun/pkg/admission"
	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	listers "github.com/octorun/octorun/pkg/generated/listers/octorun/v1alpha1"
)

// startAdmission serves the admission webhook over TLS: a certificate
// Octorun manages itself (CA bundle injected into its webhook
// configurations, renewed without restart), or files given to it.
func startAdmission(ctx context.Context, client kubernetes.Interface, grants admission.Grants, classes admission.StorageClasses,
	runnerSets listers.RunnerSetLister, o *options.Options, errs chan<- error) error {
	logger := klog.FromContext(ctx)
	admitOpts := admission.Options{
		Grants:         grants,
		StorageClasses: classes,
		RunnerSets: admission.RunnerSetsFunc(func(namespace, name string) (*octorunv1alpha1.RunnerSet, error) {
			return runnerSets.RunnerSets(namespace).Get(name)
		}),
		MaxRunners:         int32(o.MaxRunnersPerRunnerSet),
		OctorunUsernames:   []string{admission.ServiceAccountUsername(o.PodNamespace, o.ServiceAccount)},
		DefaultRunnerImage: o.DefaultRunnerImage,
	}
	if u, err := url.Parse(o.GitHubURL); err == nil && !strings.EqualFold(u.Host, admission.GitHubHost) {
		admitOpts.EnterpriseHosts = []string{u.Host}
	}
	handler := admission.NewHandler(admission.NewAdmitter(admitOpts))

	var certs admission.CertificateSource
	if o.AdmissionCertFile != "" {
		files, err := admission.NewFileCertificate(o.AdmissionCertFile, o.AdmissionKeyFile, time.Minute)
		if err != nil {
			return fmt.Errorf("loading the admission webhook certificate: %w", err)
		}
		go files.Run(ctx)
		certs = files
	} else {
		dnsNames, ips := o.AdmissionNames()
		m, err := admission.NewCertManager(admission.CertManagerOptions{
			Client:                          client,
			Namespace:                       o.PodNamespace,
			SecretName:                      o.AdmissionSecret,
			ServiceName:                     o.AdmissionService,
			DNSNames:                        dnsNames,
			IPs:                             ips,
			MutatingWebhookConfigurations:   []string{o.AdmissionConfig},
			ValidatingWebhookConfigurations: []string{o.AdmissionConfig},
		})
		if err != nil {
			return fmt.Errorf("setting up the admission webhook certificate: %w", err)
		}
		// A certificate must exist before the server answers; the CA
		// bundle injection is retried by Run.
		if err := m.Sync(ctx); err != nil {
			logger.Error(err, "Injecting the admission webhook's CA bundle failed; retrying")
		}
		go m.Run(ctx)
		certs = m
	}
	tlsConfig, err := o.TLSConfig()
	if err != nil {
		return err
	}
	srv := admission.NewServer(o.AdmissionAddr, handler, certs, tlsConfig)
	go func() {
		if err := srv.Run(ctx); err != nil {
			errs <- fmt.Errorf("admission webhook server: %w", err)
		}
	}()
	return nil
}
