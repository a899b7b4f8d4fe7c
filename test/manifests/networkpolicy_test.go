package manifests_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// decode returns the objects of kind in a manifest file, read strictly.
func decode[T any](t *testing.T, kind string, path ...string) []T {
	t.Helper()
	file := filepath.Join(append([]string{root, "manifests"}, path...)...)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []T
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Reading %s: %v", file, err)
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("Reading %s: %v", file, err)
		}
		if meta.Kind != kind {
			continue
		}
		var obj T
		if err := yaml.UnmarshalStrict(doc, &obj); err != nil {
			t.Fatalf("Reading the %s of %s: %v", kind, file, err)
		}
		out = append(out, obj)
	}
}

// kustomized says whether the kustomization of dir lists file.
func kustomized(t *testing.T, dir, file string) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "manifests", dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	return slices.Contains(k.Resources, file)
}

// portKey is a port as a policy names it: by number, or by the name of a
// container port.
type portKey struct {
	protocol corev1.Protocol
	port     string
}

func ports(rules []networkingv1.NetworkPolicyPort) []portKey {
	var out []portKey
	for _, p := range rules {
		protocol := corev1.ProtocolTCP
		if p.Protocol != nil {
			protocol = *p.Protocol
		}
		out = append(out, portKey{protocol, p.Port.String()})
	}
	return out
}

// TestOctorunNetworkPolicy: the policy of octorun-system selects Octorun's
// pods, admits each port they serve but the kubelet's probes, by names the
// Deployment gives, and lets them reach DNS, the API server and GitHub.
func TestOctorunNetworkPolicy(t *testing.T) {
	if !kustomized(t, ".", "networkpolicies.yaml") {
		t.Error("manifests/kustomization.yaml does not apply networkpolicies.yaml")
	}
	policies := decode[networkingv1.NetworkPolicy](t, "NetworkPolicy", "networkpolicies.yaml")
	deployments := decode[appsv1.Deployment](t, "Deployment", "deployment.yaml")
	if len(policies) != 1 || len(deployments) != 1 {
		t.Fatalf("Want one NetworkPolicy and one Deployment, got %d and %d", len(policies), len(deployments))
	}
	policy, deployment := policies[0], deployments[0]
	if policy.Namespace != deployment.Namespace {
		t.Errorf("The policy is in %s, Octorun in %s", policy.Namespace, deployment.Namespace)
	}
	selector, err := metav1.LabelSelectorAsSelector(&policy.Spec.PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	if selector.Empty() || !selector.Matches(labels.Set(deployment.Spec.Template.Labels)) {
		t.Errorf("The policy's selector %s does not select Octorun's pods %v", selector, deployment.Spec.Template.Labels)
	}
	if diff := cmp.Diff([]networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, policy.Spec.PolicyTypes); diff != "" {
		t.Errorf("Policy types (-want +got):\n%s", diff)
	}

	var served []string
	for _, c := range deployment.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == "" {
				t.Errorf("Container port %d has no name for the policy to admit it by", p.ContainerPort)
			}
			served = append(served, p.Name)
		}
	}
	var admitted []string
	for _, rule := range policy.Spec.Ingress {
		if len(rule.Ports) == 0 {
			t.Errorf("An ingress rule admits every port: %+v", rule)
		}
		for _, p := range ports(rule.Ports) {
			if !slices.Contains(served, p.port) {
				t.Errorf("The policy admits port %s, which the Deployment does not name (it serves %v)", p.port, served)
			}
			admitted = append(admitted, p.port)
		}
	}
	for _, name := range served {
		// The probes come from the kubelet, on the pod's node, which no
		// policy restricts.
		if want := name != "health"; slices.Contains(admitted, name) != want {
			t.Errorf("Port %s admitted: %t, want %t", name, !want, want)
		}
	}

	var egress []portKey
	for _, rule := range policy.Spec.Egress {
		egress = append(egress, ports(rule.Ports)...)
	}
	want := []portKey{{corev1.ProtocolUDP, "53"}, {corev1.ProtocolTCP, "53"}, {corev1.ProtocolTCP, "6443"}, {corev1.ProtocolTCP, "443"}}
	if diff := cmp.Diff(want, egress, cmp.AllowUnexported(portKey{})); diff != "" {
		t.Errorf("Egress (-want +got):\n%s", diff)
	}
}

// TestRunnerNetworkPolicy: the sample runner namespace's policy admits
// nothing into any of its pods and lets them reach DNS and HTTPS only.
func TestRunnerNetworkPolicy(t *testing.T) {
	if !kustomized(t, "samples", "runner-networkpolicies.yaml") {
		t.Error("manifests/samples/kustomization.yaml does not apply runner-networkpolicies.yaml")
	}
	policies := decode[networkingv1.NetworkPolicy](t, "NetworkPolicy", "samples", "runner-networkpolicies.yaml")
	namespaces := decode[corev1.Namespace](t, "Namespace", "samples", "runner-namespace.yaml")
	if len(policies) != 1 || len(namespaces) != 1 {
		t.Fatalf("Want one NetworkPolicy and one Namespace, got %d and %d", len(policies), len(namespaces))
	}
	policy := policies[0]
	if policy.Namespace != namespaces[0].Name {
		t.Errorf("The policy is in %s, the sample's runners in %s", policy.Namespace, namespaces[0].Name)
	}
	if len(policy.Spec.PodSelector.MatchLabels) > 0 || len(policy.Spec.PodSelector.MatchExpressions) > 0 {
		t.Errorf("The policy selects %v, want every pod of the namespace", policy.Spec.PodSelector)
	}
	if diff := cmp.Diff([]networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, policy.Spec.PolicyTypes); diff != "" {
		t.Errorf("Policy types (-want +got):\n%s", diff)
	}
	if len(policy.Spec.Ingress) > 0 {
		t.Errorf("The policy admits %+v, want nothing", policy.Spec.Ingress)
	}
	var egress []portKey
	for _, rule := range policy.Spec.Egress {
		if len(rule.Ports) == 0 {
			t.Errorf("An egress rule allows every port: %+v", rule)
		}
		egress = append(egress, ports(rule.Ports)...)
	}
	want := []portKey{{corev1.ProtocolUDP, "53"}, {corev1.ProtocolTCP, "53"}, {corev1.ProtocolTCP, "443"}}
	if diff := cmp.Diff(want, egress, cmp.AllowUnexported(portKey{})); diff != "" {
		t.Errorf("Egress (-want +got):\n%s", diff)
	}
}
