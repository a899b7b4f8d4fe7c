package e2e

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/octorun/octorun/test/githubsim"
)

// TestMetricsRequireAuthorisedToken runs Octorun as a process with its
// metrics secure, as by default: /metrics is served over HTTPS only, and
// answers 401 without a token or with one the API server does not know, 403
// with the token of a ServiceAccount not authorised, and 200 with the token
// of one bound to manifests/metrics-reader.yaml's ClusterRole, which grants
// /metrics and nothing else. The probes answer anyone, over HTTP, on their
// own address.
func TestMetricsRequireAuthorisedToken(t *testing.T) {
	InstallCRDs(t)
	ns := NewNamespace(t)
	ctx := context.Background()

	sim := githubsim.New(githubsim.Options{})
	sim.AddToken(simToken)
	srv := httptest.NewServer(sim)
	defer srv.Close()
	defer sim.Close()
	metricsAddr, healthAddr := freeAddr(t), freeAddr(t)
	startOctorun(t, "--kubeconfig", ControlPlane.KubeconfigPath, "--github-api-url", srv.URL+"/",
		"--namespace", ns, "--pod-namespace", ns, "--runner-name-prefix", "metricsauth-",
		"--metrics-addr", metricsAddr, "--health-probe-addr", healthAddr, "--profiling")
	Eventually(t, "/readyz to answer anyone", func(context.Context) (bool, error) {
		resp, err := http.Get("http://" + healthAddr + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})

	// The shipped role, bound to one ServiceAccount and not the other.
	reader, stranger := serviceAccountToken(t, ns, "reader"), serviceAccountToken(t, ns, "stranger")
	applyClusterRole(t, RepoPath(t, "manifests", "metrics-reader.yaml"))
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "octorun-metrics-reader-" + ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "octorun-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "reader", Namespace: ns}},
	}
	if _, err := Client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Client.RbacV1().ClusterRoleBindings().Delete(context.Background(), binding.Name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("Deleting ClusterRoleBinding %s: %v", binding.Name, err)
		}
	})
	// Octorun caches a denial for 30 s: ask it only once the API server
	// authorises the reader.
	Eventually(t, "the API server to let the reader get /metrics", func(ctx context.Context) (bool, error) {
		review, err := Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User:                  "system:serviceaccount:" + ns + ":reader",
				Groups:                []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
				NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"},
			},
		}, metav1.CreateOptions{})
		return err == nil && review.Status.Allowed, err
	})

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		// The certificate is self-signed: scrapers skip its verification.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	get := func(url, token string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	metrics := "https://" + metricsAddr + "/metrics"
	for _, tc := range []struct {
		name, url, token string
		want             int
		wantBody         string
	}{
		{name: "plain HTTP", url: "http://" + metricsAddr + "/metrics", want: http.StatusBadRequest, wantBody: "HTTPS"},
		{name: "no token", url: metrics, want: http.StatusUnauthorized},
		{name: "a token the API server does not know", url: metrics, token: "not-a-token", want: http.StatusUnauthorized},
		{name: "a ServiceAccount not authorised", url: metrics, token: stranger, want: http.StatusForbidden,
			wantBody: `user "system:serviceaccount:` + ns + `:stranger" cannot get path "/metrics"`},
		{name: "a ServiceAccount bound to octorun-metrics-reader", url: metrics, token: reader, want: http.StatusOK,
			wantBody: "octorun_workqueue_adds_total"},
		{name: "octorun-metrics-reader grants no profiles", url: "https://" + metricsAddr + "/debug/pprof/heap", token: reader, want: http.StatusForbidden},
		{name: "the probes need no token", url: "http://" + healthAddr + "/healthz", want: http.StatusOK},
		{name: "the probe server serves no metrics", url: "http://" + healthAddr + "/metrics", want: http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(tc.url, tc.token)
			if code != tc.want || !strings.Contains(body, tc.wantBody) {
				if len(body) > 500 {
					body = body[:500] + "…"
				}
				t.Errorf("GET %s: %d %q, want %d with %q", tc.url, code, body, tc.want, tc.wantBody)
			}
		})
	}
}

// serviceAccountToken creates ServiceAccount name in ns and returns a token
// of it from the TokenRequest API.
func serviceAccountToken(t *testing.T, ns, name string) string {
	t.Helper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := Client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Requesting a token of ServiceAccount %s/%s: %v", ns, name, err)
	}
	return tr.Status.Token
}

// applyClusterRole creates the ClusterRole of the file, or updates it to the
// file's rules: it is cluster-wide, and other tests may have created it.
func applyClusterRole(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(data, &role); err != nil {
		t.Fatalf("Reading %s: %v", path, err)
	}
	_, err = Client.RbacV1().ClusterRoles().Create(ctx, &role, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		var current *rbacv1.ClusterRole
		if current, err = Client.RbacV1().ClusterRoles().Get(ctx, role.Name, metav1.GetOptions{}); err == nil {
			current.Rules = role.Rules
			_, err = Client.RbacV1().ClusterRoles().Update(ctx, current, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		t.Fatalf("Creating ClusterRole %s: %v", role.Name, err)
	}
}
