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
	"crypto/tls"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/cert"

	"github.com/octorun/octorun/pkg/admission"
	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned"
)

// Certificates of the test's webhook are short-lived, so that they are
// renewed (every 4s, when a third of their validity is left) while the test
// runs.
const (
	webhookCertValidity = 6 * time.Second
	webhookCertResync   = 200 * time.Millisecond
)

// TestAdmissionWebhook registers Octorun's admission webhook with the API
// server and checks what users see: defaults, refusals naming the field,
// spec.id written only by Octorun, and certificate rotation without
// failed requests.
func TestAdmissionWebhook(t *testing.T) {
	t.Parallel()
	client := InstallCRDs(t)
	ns := NewNamespace(t)
	octorunUser := admission.ServiceAccountUsername(ns, "octorun")
	wh := startAdmissionWebhook(t, client, admissionWebhookOptions{
		namespaces: []string{ns},
		admitter: admission.Options{
			EnterpriseHosts:  []string{"ghe.example.com"},
			OctorunUsernames: []string{octorunUser},
			StorageClasses:   noDefaultStorageClass{},
		},
		validity: webhookCertValidity,
		resync:   webhookCertResync,
	})

	t.Run("defaults", func(t *testing.T) { testAdmissionDefaults(t, client, ns) })
	t.Run("refusals", func(t *testing.T) { testAdmissionRefusals(t, client, ns) })
	t.Run("id set by Octorun only", func(t *testing.T) { testAdmissionRunnerID(t, client, ns, octorunUser) })
	t.Run("certificate rotation", func(t *testing.T) { testAdmissionCertRotation(t, client, wh) })
}

func testAdmissionDefaults(t *testing.T, client versioned.Interface, ns string) {
	ctx := context.Background()
	manifest := []byte(`
apiVersion: octorun.github.io/v1alpha1
kind: Runner
metadata:
  name: defaulted
spec:
  url: https://github.com/octorun/octorun
`)
	kubectlWithManifest(t, manifest, "apply", "-n", ns, "-f", "-")
	out := MustKubectl(t, "get", "-n", ns, "runner/defaulted", "-o", `jsonpath={.spec.group} {.spec.workdir} {.spec.image.name} {.spec.image.pullPolicy} {.metadata.labels.octorun\.github\.io/runner}`)
	want := fmt.Sprintf("Default _work %s IfNotPresent defaulted", octorunv1alpha1.DefaultRunnerImage)
	if out != want {
		t.Errorf("kubectl get shows %q, want %q", out, want)
	}
	// The patches are idempotent: applying the manifest again changes
	// nothing.
	if out := kubectlWithManifest(t, manifest, "apply", "-n", ns, "-f", "-"); !strings.Contains(out, "unchanged") {
		t.Errorf("applying the manifest again: %q, want unchanged", out)
	}

	// Without a name yet there is no runner label; the rest is defaulted.
	r, err := client.OctorunV1alpha1().Runners(ns).Create(ctx, &octorunv1alpha1.Runner{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "generated-"},
		Spec:       octorunv1alpha1.RunnerSpec{URL: "https://ghe.example.com/octorun"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Creating a Runner with generateName: %v", err)
	}
	if label, ok := r.Labels[octorunv1alpha1.LabelRunner]; ok && label != r.Name {
		t.Errorf("Runner %s has the runner label %q", r.Name, label)
	}
	t.Logf("A Runner created with generateName got the labels %v", r.Labels)
	if r.Spec.Image.Name != octorunv1alpha1.DefaultRunnerImage || r.Spec.Workdir != octorunv1alpha1.DefaultWorkdir {
		t.Errorf("Runner %s was not defaulted: %+v", r.Name, r.Spec)
	}

	kubectlWithManifest(t, []byte(`
apiVersion: octorun.github.io/v1alpha1
kind: RunnerSet
metadata:
  name: defaulted
spec:
  runners: 0
  template:
    metadata:
      labels:
        team: a
    spec:
      url: https://github.com/octorun
`), "apply", "-n", ns, "-f", "-")
	set, err := client.OctorunV1alpha1().RunnerSets(ns).Get(ctx, "defaulted", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantLabels := map[string]string{"team": "a", octorunv1alpha1.LabelRunnerSet: "defaulted"}
	if got := set.Spec.Template.Labels; !maps.Equal(got, wantLabels) {
		t.Errorf("template labels = %v, want %v", got, wantLabels)
	}
	if set.Spec.Selector == nil || !maps.Equal(set.Spec.Selector.MatchLabels, wantLabels) || len(set.Spec.Selector.MatchExpressions) > 0 {
		t.Errorf("selector = %+v, want the template labels %v", set.Spec.Selector, wantLabels)
	}
	if spec := set.Spec.Template.Spec; spec.Workdir != octorunv1alpha1.DefaultWorkdir || spec.Image.PullPolicy != octorunv1alpha1.DefaultImagePullPolicy {
		t.Errorf("template spec was not defaulted: %+v", spec)
	}
}

// kubectlWithManifest runs kubectl with manifest on stdin and fails t on error.
func kubectlWithManifest(t *testing.T, manifest []byte, args ...string) string {
	t.Helper()
	out, err := KubectlWithInput(manifest, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func testAdmissionRefusals(t *testing.T, client versioned.Interface, ns string) {
	ctx := context.Background()
	runners := client.OctorunV1alpha1().Runners(ns)
	sets := client.OctorunV1alpha1().RunnerSets(ns)
	if _, err := runners.Create(ctx, &octorunv1alpha1.Runner{
		ObjectMeta: metav1.ObjectMeta{Name: "immutable"},
		Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octorun"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sets.Create(ctx, testRunnerSet("immutable"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		// kubectl arguments; the manifest, if any, is given on stdin.
		args     []string
		manifest string
		// want are parts of kubectl's error: the field and the message.
		want []string
	}{
		{
			name: "Runner URL on an unknown host",
			args: []string{"apply", "-f", "-"},
			manifest: `{"apiVersion":"octorun.github.io/v1alpha1","kind":"Runner","metadata":{"name":"gitlab"},
				"spec":{"url":"https://gitlab.com/octorun"}}`,
			want: []string{`spec.url: Invalid value: "https://gitlab.com/octorun"`, `host "gitlab.com" is not allowed`},
		},
		{
			name: "Runner with a sidecar named runner",
			args: []string{"apply", "-f", "-"},
			manifest: `{"apiVersion":"octorun.github.io/v1alpha1","kind":"Runner","metadata":{"name":"sidecar"},
				"spec":{"url":"https://github.com/octorun","initContainers":[{"name":"runner","image":"busybox","restartPolicy":"Always"}]}}`,
			want: []string{"spec.initContainers[0].name: Forbidden", `container name "runner" is set by Octorun`},
		},
		{
			name: "Runner env overriding the JIT config",
			args: []string{"apply", "-f", "-"},
			manifest: `{"apiVersion":"octorun.github.io/v1alpha1","kind":"Runner","metadata":{"name":"jit"},
				"spec":{"url":"https://github.com/octorun","env":[{"name":"ACTIONS_RUNNER_INPUT_JITCONFIG","value":"x"}]}}`,
			want: []string{"spec.env[0].name: Forbidden", "ACTIONS_RUNNER_INPUT_JITCONFIG is set by Octorun"},
		},
		{
			name: "Kubernetes mode with no work volume class where none is default",
			args: []string{"apply", "-f", "-"},
			manifest: `{"apiVersion":"octorun.github.io/v1alpha1","kind":"Runner","metadata":{"name":"kube"},
				"spec":{"url":"https://github.com/octorun","serviceAccountName":"hooks","containerMode":{"type":"Kubernetes"}}}`,
			want: []string{"spec.containerMode.kubernetes.workVolumeStorageClassName: Required value", "no default StorageClass"},
		},
		{
			name: "Runner URL with a query",
			args: []string{"apply", "-f", "-"},
			manifest: `{"apiVersion":"octorun.github.io/v1alpha1","kind":"Runner","metadata":{"name":"query"},
				"spec":{"url":"https://github.com/octorun?x=1"}}`,
			want: []string{"spec.url: Invalid value"},
		},
		{
			name: "Runner volumeMount naming no volume",
			args: []string{"apply", "-f", "-"},
			manifest: `{"apiVersion":"octorun.github.io/v1alpha1","kind":"Runner","metadata":{"name":"mounts"},
				"spec":{"url":"https://github.com/octorun","volumeMounts":[{"name":"docker","mountPath":"/var/run"}]}}`,
			want: []string{`spec.volumeMounts[0].name: Not found: "docker"`},
		},
		{
			name: "RunnerSet with -1 runners",
			args: []string{"apply", "-f", "-"},
			manifest: `{"apiVersion":"octorun.github.io/v1alpha1","kind":"RunnerSet","metadata":{"name":"negative"},
				"spec":{"runners":-1,"template":{"spec":{"url":"https://github.com/octorun"}}}}`,
			want: []string{"spec.runners: Invalid value: -1"},
		},
		{
			name: "RunnerSet selector not matching the template",
			args: []string{"apply", "-f", "-"},
			manifest: `{"apiVersion":"octorun.github.io/v1alpha1","kind":"RunnerSet","metadata":{"name":"mismatch"},
				"spec":{"selector":{"matchLabels":{"team":"b"}},"template":{"metadata":{"labels":{"team":"a"}},"spec":{"url":"https://github.com/octorun"}}}}`,
			want: []string{"spec.template.metadata.labels: Invalid value", "`selector` does not match template `labels`"},
		},
		{
			name: "RunnerSet template URL on an unknown host",
			args: []string{"apply", "-f", "-"},
			manifest: `{"apiVersion":"octorun.github.io/v1alpha1","kind":"RunnerSet","metadata":{"name":"template"},
				"spec":{"template":{"spec":{"url":"https://ghe.example.org/octorun"}}}}`,
			want: []string{`spec.template.spec.url: Invalid value: "https://ghe.example.org/octorun"`},
		},
		{
			name: "Runner URL edited",
			args: []string{"patch", "runner/immutable", "--type=merge", "-p", `{"spec":{"url":"https://github.com/other"}}`},
			// The CRD's transition rules refuse it before the webhook sees it.
			want: []string{`spec.url: Invalid value`, "field is immutable"},
		},
		{
			name: "Runner image edited",
			args: []string{"patch", "runner/immutable", "--type=merge", "-p", `{"spec":{"image":{"pullPolicy":"Always"}}}`},
			want: []string{"spec.image: Invalid value", "field is immutable"},
		},
		{
			name: "RunnerSet selector edited",
			args: []string{"patch", "runnerset/immutable", "--type=merge", "-p", `{"spec":{"selector":{"matchLabels":{"team":"a"}}}}`},
			want: []string{"spec.selector: Invalid value", "field is immutable"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdin []byte
			if tt.manifest != "" {
				stdin = []byte(tt.manifest)
			}
			_, err := KubectlWithInput(stdin, append([]string{"-n", ns}, tt.args...)...)
			if err == nil {
				t.Fatalf("kubectl %s succeeded, want refused", strings.Join(tt.args, " "))
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("kubectl error does not say %q:\n%v", want, err)
				}
			}
		})
	}

	// The typed client sees the field errors as Invalid causes.
	r := &octorunv1alpha1.Runner{
		ObjectMeta: metav1.ObjectMeta{Name: "typed"},
		Spec:       octorunv1alpha1.RunnerSpec{URL: "https://gitlab.com/octorun", Image: octorunv1alpha1.RunnerImage{Name: " runner"}},
	}
	_, err := runners.Create(ctx, r, metav1.CreateOptions{})
	if err := expectInvalid(err, "spec.url", "spec.image.name"); err != nil {
		t.Error(err)
	}
}

func testAdmissionRunnerID(t *testing.T, client versioned.Interface, ns, octorunUser string) {
	ctx := context.Background()
	runners := client.OctorunV1alpha1().Runners(ns)
	for _, name := range []string{"registered", "hijacked"} {
		if _, err := runners.Create(ctx, &octorunv1alpha1.Runner{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octorun"},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// Octorun's service account may update Runners (RBAC); the webhook
	// decides which fields.
	_, serviceAccount, _ := strings.Cut(strings.TrimPrefix(octorunUser, "system:serviceaccount:"), ":")
	if _, err := Client.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "octorun"},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{octorunv1alpha1.GroupName}, Resources: []string{"runners"},
			Verbs: []string{"get", "update", "patch"},
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "octorun"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "octorun"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: serviceAccount}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	config := rest.CopyConfig(Config)
	config.Impersonate = rest.ImpersonationConfig{UserName: octorunUser}
	octorun, err := versioned.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}

	register := []byte(`{"spec":{"id":42,"os":"linux"}}`)
	Eventually(t, "Octorun's service account to set spec.id", func(ctx context.Context) (bool, error) {
		_, err := octorun.OctorunV1alpha1().Runners(ns).Patch(ctx, "registered", types.MergePatchType, register, metav1.PatchOptions{})
		if apierrors.IsForbidden(err) {
			return false, nil // The RoleBinding is not in effect yet.
		}
		return err == nil, err
	})
	r, err := runners.Get(ctx, "registered", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Spec.ID != 42 || r.Spec.OS != "linux" {
		t.Errorf("spec.id, spec.os = %d, %q after Octorun's write, want 42, linux", r.Spec.ID, r.Spec.OS)
	}
	MustKubectl(t, "label", "-n", ns, "runner/registered", "octorun.github.io/gpu=true") // labels stay free

	// Set once: not even Octorun changes it.
	_, err = octorun.OctorunV1alpha1().Runners(ns).Patch(ctx, "registered", types.MergePatchType, []byte(`{"spec":{"id":43}}`), metav1.PatchOptions{})
	if err := expectInvalid(err, "spec.id"); err != nil {
		t.Errorf("Octorun changing spec.id: %v", err)
	}
	// Nobody else sets it.
	_, err = runners.Patch(ctx, "hijacked", types.MergePatchType, register, metav1.PatchOptions{})
	if invalid := expectInvalid(err, "spec.id", "spec.os"); invalid != nil {
		t.Errorf("The admin setting spec.id: %v", invalid)
	} else if !strings.Contains(err.Error(), "spec.id: Forbidden: may be set only by Octorun's controller") {
		t.Errorf("The admin setting spec.id: error %q does not say why", err)
	}
}

// testAdmissionCertRotation keeps writing while the webhook's certificate
// is renewed, and requires every write to succeed.
func testAdmissionCertRotation(t *testing.T, client versioned.Interface, wh *admissionWebhook) {
	ctx := context.Background()
	runners := client.OctorunV1alpha1().Runners(wh.namespace)
	if _, err := runners.Create(ctx, &octorunv1alpha1.Runner{
		ObjectMeta: metav1.ObjectMeta{Name: "rotation"},
		Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octorun"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pool, err := cert.NewPoolFromBytes(wh.certs.CABundle())
	if err != nil {
		t.Fatal(err)
	}

	// Each write goes through both webhooks. The API server keeps its
	// connections to the webhook open; a TLS dial per round shows what a
	// new connection is served.
	serials := map[string]bool{}
	secretVersions := map[string]bool{}
	deadline := time.Now().Add(2 * webhookCertValidity)
	writes, failures := 0, 0
	for i := 0; time.Now().Before(deadline); i++ {
		patch := fmt.Sprintf(`{"metadata":{"labels":{"write":"w%d"}}}`, i)
		if _, err := runners.Patch(ctx, "rotation", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			failures++
			t.Errorf("Write %d failed: %v", i, err)
		}
		dryRun := &octorunv1alpha1.Runner{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("dry-run-%d", i)},
			Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octorun"},
		}
		if r, err := runners.Create(ctx, dryRun, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			failures++
			t.Errorf("Dry-run create %d failed: %v", i, err)
		} else if r.Spec.Workdir != octorunv1alpha1.DefaultWorkdir {
			t.Errorf("Dry-run create %d was not defaulted", i)
		}
		writes += 2

		// What a new connection to the webhook gets now.
		conn, err := tls.Dial("tcp", wh.addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Errorf("TLS handshake with the webhook: %v", err)
		} else {
			serials[conn.ConnectionState().PeerCertificates[0].SerialNumber.String()] = true
			_ = conn.Close()
		}
		secret, err := Client.CoreV1().Secrets(wh.namespace).Get(ctx, admissionSecretName, metav1.GetOptions{})
		if err == nil {
			secretVersions[secret.ResourceVersion] = true
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d writes, %d failed, while the webhook served %d certificates (%d Secret versions)", writes, failures, len(serials), len(secretVersions))
	if len(serials) < 3 {
		t.Errorf("the webhook served %d certificates in %v, want at least 3 (renewed every %v)", len(serials), 2*webhookCertValidity, webhookCertValidity*2/3)
	}
}

// noDefaultStorageClass is a cluster without a default StorageClass (the
// test control plane's may have one, made by another test).
type noDefaultStorageClass struct{}

func (noDefaultStorageClass) HasDefault() (bool, error) { return false, nil }
