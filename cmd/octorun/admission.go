package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/octorun/octorun/pkg/admission"
)

// startAdmission serves the admission webhook over TLS: a certificate
// Octorun manages itself (CA bundle injected into its webhook
// configurations, renewed without restart), or files given to it.
func startAdmission(ctx context.Context, client kubernetes.Interface, o options, errs chan<- error) error {
	logger := klog.FromContext(ctx)
	admitOpts := admission.Options{
		OctorunUsernames: []string{admission.ServiceAccountUsername(o.leaseNamespace, o.serviceAccount)},
	}
	if u, err := url.Parse(o.githubURL); err == nil && !strings.EqualFold(u.Host, admission.GitHubHost) {
		admitOpts.EnterpriseHosts = []string{u.Host}
	}
	handler := admission.NewHandler(admission.NewAdmitter(admitOpts))

	var certs admission.CertificateSource
	if o.admissionCertFile != "" || o.admissionKeyFile != "" {
		files, err := admission.NewFileCertificate(o.admissionCertFile, o.admissionKeyFile, time.Minute)
		if err != nil {
			return fmt.Errorf("loading the admission webhook certificate: %w", err)
		}
		go files.Run(ctx)
		certs = files
	} else {
		var dnsNames []string
		var ips []net.IP
		for _, name := range strings.Split(o.admissionExtraNames, ",") {
			name = strings.TrimSpace(name)
			switch ip := net.ParseIP(name); {
			case name == "":
			case ip != nil:
				ips = append(ips, ip)
			default:
				dnsNames = append(dnsNames, name)
			}
		}
		m, err := admission.NewCertManager(admission.CertManagerOptions{
			Client:                          client,
			Namespace:                       o.leaseNamespace,
			SecretName:                      o.admissionSecret,
			ServiceName:                     o.admissionService,
			DNSNames:                        dnsNames,
			IPs:                             ips,
			MutatingWebhookConfigurations:   []string{o.admissionConfig},
			ValidatingWebhookConfigurations: []string{o.admissionConfig},
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
	srv := admission.NewServer(o.admissionAddr, handler, certs)
	go func() {
		if err := srv.Run(ctx); err != nil {
			errs <- fmt.Errorf("admission webhook server: %w", err)
		}
	}()
	return nil
}
