// Package install sets Octorun up on a control plane as manifests/ installs
// it, for an Octorun process that runs outside the cluster (the playground,
// end-to-end tests): its namespace, ServiceAccount and RBAC, the RoleBinding
// of samples/runner-namespace.yaml in each runner namespace, and the
// admission webhook configurations of webhooks.yaml with their service
// reference turned into the URL of the process's admission server. Octorun
// then runs with its ServiceAccount's token, so the API server checks it
// against the shipped RBAC and the webhook knows it as Octorun.
package install

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Names the manifests give.
const (
	// Namespace is Octorun's namespace.
	Namespace = "octorun-system"
	// ServiceAccount is Octorun's ServiceAccount there.
	ServiceAccount = "octorun"
	// WebhookConfiguration names the mutating and the validating webhook
	// configuration, as Octorun's --admission-webhook-configuration.
	WebhookConfiguration = "octorun"
	// CertSecret is the Secret where Octorun keeps the webhook's CA and
	// certificate (--admission-cert-secret).
	CertSecret = "octorun-webhook-tls"
)

// Options configure Local.
type Options struct {
	// Root is the repository's root, holding manifests/.
	Root string
	// Config and Client are the admin's; Kubectl and Kubeconfig the
	// admin's kubectl.
	Config     *rest.Config
	Client     kubernetes.Interface
	Kubectl    string
	Kubeconfig string
	// Dir receives Octorun's kubeconfig.
	Dir string
	// RunnerNamespaces are where runners live: each gets the RoleBinding of
	// samples/runner-namespace.yaml, and, unless NoGrant, the ScopeGrant
	// "octorun-local" lets them register runners anywhere (see Grant).
	RunnerNamespaces []string
	// NoGrant grants the runner namespaces nothing: the test makes its own
	// ScopeGrants.
	NoGrant bool
	// AdmissionAddr is the host:port of Octorun's admission server (with a
	// certificate for that host, e.g. --admission-extra-names 127.0.0.1);
	// empty registers no webhook.
	AdmissionAddr string
	// WebhookNamespaces limits the webhooks to these namespaces, as the
	// configurations are cluster-wide; empty means every namespace, as
	// shipped.
	WebhookNamespaces []string
}

// Installation is Octorun installed for a local process.
type Installation struct {
	// Kubeconfig is Octorun's: the API server with the ServiceAccount's
	// token.
	Kubeconfig string
	// Args are Octorun's flags that go with the installation: its
	// namespace, kubeconfig and admission server.
	Args []string

	client  kubernetes.Interface
	webhook bool
}

// Local installs Octorun on the cluster of o for a process on this
// machine.
func Local(ctx context.Context, o Options) (*Installation, error) {
	manifests := filepath.Join(o.Root, "manifests")
	cmd := exec.CommandContext(ctx, o.Kubectl, "--kubeconfig", o.Kubeconfig, "apply",
		"-f", filepath.Join(manifests, "namespace.yaml"), "-f", filepath.Join(manifests, "rbac.yaml"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("applying Octorun's namespace and RBAC: %w: %s", err, out)
	}
	if err := bindRunnerNamespaces(ctx, o, filepath.Join(manifests, "samples", "runner-namespace.yaml")); err != nil {
		return nil, err
	}
	if !o.NoGrant && len(o.RunnerNamespaces) > 0 {
		if err := Grant(ctx, o.Config, "octorun-local", o.RunnerNamespaces...); err != nil {
			return nil, err
		}
	}
	kubeconfig, err := serviceAccountKubeconfig(ctx, o)
	if err != nil {
		return nil, err
	}
	inst := &Installation{
		Kubeconfig: kubeconfig,
		Args:       []string{"--kubeconfig", kubeconfig, "--pod-namespace", Namespace},
		client:     o.Client,
	}
	if o.AdmissionAddr != "" {
		mutating, validating, err := Webhooks(o.Root, "https://"+o.AdmissionAddr, o.WebhookNamespaces)
		if err != nil {
			return nil, err
		}
		if err := createOrReplaceWebhooks(ctx, o.Client, mutating, validating); err != nil {
			return nil, err
		}
		inst.webhook = true
		inst.Args = append(inst.Args, "--admission-addr", o.AdmissionAddr, "--admission-extra-names", hostOf(o.AdmissionAddr))
	}
	return inst, nil
}

// Uninstall removes the webhook configurations and the certificate Secret,
// which are cluster-wide or outlive a process; the namespace and RBAC stay.
func (i *Installation) Uninstall(ctx context.Context) error {
	if !i.webhook {
		return nil
	}
	api := i.client.AdmissionregistrationV1()
	return errors.Join(
		ignoreNotFound(api.MutatingWebhookConfigurations().Delete(ctx, WebhookConfiguration, metav1.DeleteOptions{})),
		ignoreNotFound(api.ValidatingWebhookConfigurations().Delete(ctx, WebhookConfiguration, metav1.DeleteOptions{})),
		ignoreNotFound(i.client.CoreV1().Secrets(Namespace).Delete(ctx, CertSecret, metav1.DeleteOptions{})),
	)
}

// Webhooks returns the webhook configurations of manifests/webhooks.yaml
// calling Octorun at baseURL (https://host:port) instead of its Service,
// limited to namespaces when there are any.
func Webhooks(root, baseURL string, namespaces []string) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	objs, err := decodeFile(filepath.Join(root, "manifests", "webhooks.yaml"))
	if err != nil {
		return nil, nil, err
	}
	var selector *metav1.LabelSelector
	if len(namespaces) > 0 {
		selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: namespaces,
		}}}
	}
	// local points a webhook at baseURL, for the namespaces.
	local := func(c *admissionregistrationv1.WebhookClientConfig, namespaceSelector **metav1.LabelSelector) error {
		if c.Service == nil || c.Service.Path == nil {
			return errors.New("manifests/webhooks.yaml: a webhook without a service path")
		}
		u := baseURL + *c.Service.Path
		c.Service, c.URL = nil, &u
		if selector != nil {
			*namespaceSelector = selector
		}
		return nil
	}
	var mutating *admissionregistrationv1.MutatingWebhookConfiguration
	var validating *admissionregistrationv1.ValidatingWebhookConfiguration
	var errs []error
	for _, obj := range objs {
		switch c := obj.(type) {
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			for i := range c.Webhooks {
				errs = append(errs, local(&c.Webhooks[i].ClientConfig, &c.Webhooks[i].NamespaceSelector))
			}
			mutating = c
		case *admissionregistrationv1.ValidatingWebhookConfiguration:
			for i := range c.Webhooks {
				errs = append(errs, local(&c.Webhooks[i].ClientConfig, &c.Webhooks[i].NamespaceSelector))
			}
			validating = c
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	if mutating == nil || validating == nil {
		return nil, nil, errors.New("manifests/webhooks.yaml: want a mutating and a validating webhook configuration")
	}
	return mutating, validating, nil
}

func createOrReplaceWebhooks(ctx context.Context, client kubernetes.Interface, m *admissionregistrationv1.MutatingWebhookConfiguration, v *admissionregistrationv1.ValidatingWebhookConfiguration) error {
	api := client.AdmissionregistrationV1()
	if err := ignoreNotFound(api.MutatingWebhookConfigurations().Delete(ctx, m.Name, metav1.DeleteOptions{})); err != nil {
		return err
	}
	if err := ignoreNotFound(api.ValidatingWebhookConfigurations().Delete(ctx, v.Name, metav1.DeleteOptions{})); err != nil {
		return err
	}
	if _, err := api.MutatingWebhookConfigurations().Create(ctx, m, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the MutatingWebhookConfiguration: %w", err)
	}
	if _, err := api.ValidatingWebhookConfigurations().Create(ctx, v, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the ValidatingWebhookConfiguration: %w", err)
	}
	return nil
}

// bindRunnerNamespaces creates the sample's RoleBinding in each runner
// namespace.
func bindRunnerNamespaces(ctx context.Context, o Options, sample string) error {
	objs, err := decodeFile(sample)
	if err != nil {
		return err
	}
	var binding *rbacv1.RoleBinding
	for _, obj := range objs {
		if b, ok := obj.(*rbacv1.RoleBinding); ok {
			binding = b
		}
	}
	if binding == nil {
		return fmt.Errorf("%s has no RoleBinding", sample)
	}
	for _, ns := range o.RunnerNamespaces {
		b := binding.DeepCopy()
		b.Namespace = ns
		_, err := o.Client.RbacV1().RoleBindings(ns).Create(ctx, b, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("binding Octorun's runner-namespace role in %s: %w", ns, err)
		}
	}
	return nil
}

// tokenLifetime is how long Octorun's token is valid: longer than any
// playground session or test run.
const tokenLifetime = 24 * time.Hour

// serviceAccountKubeconfig writes a kubeconfig of the admin's API server
// with a token of Octorun's ServiceAccount.
func serviceAccountKubeconfig(ctx context.Context, o Options) (string, error) {
	tok, err := o.Client.CoreV1().ServiceAccounts(Namespace).CreateToken(ctx, ServiceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64(tokenLifetime.Seconds()))},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("creating a token of Octorun's ServiceAccount: %w", err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: o.Config.Host, CertificateAuthority: o.Config.CAFile, CertificateAuthorityData: o.Config.CAData}
	cfg.AuthInfos["octorun"] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	cfg.Contexts["octorun"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "octorun"}
	cfg.CurrentContext = "octorun"
	path := filepath.Join(o.Dir, "octorun.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", fmt.Errorf("writing Octorun's kubeconfig: %w", err)
	}
	return path, nil
}

// decodeFile decodes the Kubernetes objects of a YAML file.
func decodeFile(path string) ([]runtime.Object, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var objs []runtime.Object
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if runtime.IsMissingKind(err) {
			continue // comments only
		}
		if err != nil {
			return nil, fmt.Errorf("decoding %s: %w", path, err)
		}
		objs = append(objs, obj)
	}
}

func hostOf(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
