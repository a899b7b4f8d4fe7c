package access

import (
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name   string
		method string
		url    string
		want   Request
	}{
		{"discovery", "GET", "/apis/octorun.github.io/v1alpha1", Request{Verb: "get", Path: "/apis/octorun.github.io/v1alpha1"}},
		{"version", "GET", "/version", Request{Verb: "get", Path: "/version"}},
		{"core get", "GET", "/api/v1/namespaces/ci/pods/r-1", Request{Verb: "get", Resource: "pods", Namespace: "ci", Name: "r-1"}},
		{"list across namespaces", "GET", "/api/v1/pods?labelSelector=octorun.github.io%2Frunner", Request{Verb: "list", Resource: "pods"}},
		{"watch", "GET", "/apis/octorun.github.io/v1alpha1/namespaces/ci/runners?watch=true&resourceVersion=5", Request{Verb: "watch", Group: "octorun.github.io", Resource: "runners", Namespace: "ci"}},
		{"watch=false is a list", "GET", "/api/v1/configmaps?watch=false", Request{Verb: "list", Resource: "configmaps"}},
		{"list of one name", "GET", "/api/v1/namespaces/s/configmaps?fieldSelector=metadata.name%3Dcm", Request{Verb: "list", Resource: "configmaps", Namespace: "s", Name: "cm"}},
		{"create", "POST", "/api/v1/namespaces/ci/events", Request{Verb: "create", Resource: "events", Namespace: "ci"}},
		{"status", "PUT", "/apis/octorun.github.io/v1alpha1/namespaces/ci/runners/r/status", Request{Verb: "update", Group: "octorun.github.io", Resource: "runners", Subresource: "status", Namespace: "ci", Name: "r"}},
		{"patch", "PATCH", "/api/v1/namespaces/ci/pods/r", Request{Verb: "patch", Resource: "pods", Namespace: "ci", Name: "r"}},
		{"delete", "DELETE", "/api/v1/namespaces/ci/secrets/r", Request{Verb: "delete", Resource: "secrets", Namespace: "ci", Name: "r"}},
		{"deletecollection", "DELETE", "/api/v1/namespaces/ci/secrets", Request{Verb: "deletecollection", Resource: "secrets", Namespace: "ci"}},
		{"cluster-scoped", "PUT", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/octorun", Request{Verb: "update", Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations", Name: "octorun"}},
		{"a namespace", "GET", "/api/v1/namespaces/ci", Request{Verb: "get", Resource: "namespaces", Namespace: "ci", Name: "ci"}},
		{"a namespace's status", "PUT", "/api/v1/namespaces/ci/status", Request{Verb: "update", Resource: "namespaces", Subresource: "status", Namespace: "ci", Name: "ci"}},
		{"namespaces", "GET", "/api/v1/namespaces?watch=1", Request{Verb: "watch", Resource: "namespaces"}},
		{"a create of a review", "POST", "/apis/authentication.k8s.io/v1/tokenreviews", Request{Verb: "create", Group: "authentication.k8s.io", Resource: "tokenreviews"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, ParseRequest(tt.method, u)); diff != "" {
				t.Errorf("ParseRequest(%s %s) (-want +got):\n%s", tt.method, tt.url, diff)
			}
		})
	}
}

func TestAllowing(t *testing.T) {
	p := &Policy{Grants: []Grant{
		{Role: "ClusterRole everywhere", Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "watch"}},
			{APIGroups: []string{"octorun.github.io"}, Resources: []string{"runners/finalizers"}, Verbs: []string{"update"}},
		}},
		{Role: "Role own/r", Namespace: "own", Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"cert"}, Verbs: []string{"get", "update"}},
			{APIGroups: []string{"*"}, Resources: []string{"*/status"}, Verbs: []string{"*"}},
		}},
	}}
	tests := []struct {
		name string
		req  Request
		want []Permission
	}{
		{"cluster-wide list", Request{Verb: "list", Resource: "pods"}, []Permission{{Role: "ClusterRole everywhere", Rule: 0, Group: "", Resource: "pods", Verb: "list"}}},
		{"namespaced watch under a ClusterRoleBinding", Request{Verb: "watch", Resource: "pods", Namespace: "ci"}, []Permission{{Role: "ClusterRole everywhere", Rule: 0, Group: "", Resource: "pods", Verb: "watch"}}},
		{"a verb not granted", Request{Verb: "get", Resource: "pods", Namespace: "ci", Name: "p"}, nil},
		{"a subresource is not its resource", Request{Verb: "update", Group: "octorun.github.io", Resource: "runners", Namespace: "ci", Name: "r"}, nil},
		{"the subresource", Request{Verb: "update", Group: "octorun.github.io", Resource: "runners", Subresource: "finalizers", Namespace: "ci", Name: "r"}, []Permission{{Role: "ClusterRole everywhere", Rule: 1, Group: "octorun.github.io", Resource: "runners/finalizers", Verb: "update"}}},
		{"a create has no name", Request{Verb: "create", Resource: "secrets", Namespace: "own"}, []Permission{{Role: "Role own/r", Rule: 0, Group: "", Resource: "secrets", Verb: "create"}}},
		{"the named object", Request{Verb: "get", Resource: "secrets", Namespace: "own", Name: "cert"}, []Permission{{Role: "Role own/r", Rule: 1, Group: "", Resource: "secrets", Verb: "get"}}},
		{"another object", Request{Verb: "get", Resource: "secrets", Namespace: "own", Name: "github"}, nil},
		{"a list of the named object", Request{Verb: "list", Resource: "secrets", Namespace: "own"}, nil},
		{"a Role outside its namespace", Request{Verb: "create", Resource: "secrets", Namespace: "ci"}, nil},
		{"wildcards", Request{Verb: "patch", Group: "apps", Resource: "deployments", Subresource: "status", Namespace: "own", Name: "d"}, []Permission{{Role: "Role own/r", Rule: 2, Group: "*", Resource: "*/status", Verb: "*"}}},
		{"non-resource", Request{Verb: "get", Path: "/version"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, p.Allowing(tt.req)); diff != "" {
				t.Errorf("Allowing(%s) (-want +got):\n%s", tt.req, diff)
			}
		})
	}
}
