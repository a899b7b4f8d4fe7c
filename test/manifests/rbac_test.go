// Package manifests_test holds the promises of the shipped manifests that
// need no cluster: what the RBAC roles allow and refuse, and what the
// network policies admit. test/e2e holds the roles to the requests Octorun
// makes, and has the API server accept every manifest.
package manifests_test

import (
	"fmt"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/octorun/octorun/cmd/octorun/app/options"
	"github.com/octorun/octorun/pkg/githubevents/jobstore"
	"github.com/octorun/octorun/test/framework/access"
)

// root is the repository's root, from this package's directory.
const root = "../.."

// The namespaces of the checks: Octorun's, the sample's runner namespace,
// and one where runners do not live.
const (
	system  = access.ServiceAccountNamespace
	runners = "ci-runners"
	other   = "kube-system"
)

func loadPolicy(t *testing.T) (*access.Manifests, *access.Policy) {
	t.Helper()
	m, err := access.LoadManifests(root)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Policy()
	if err != nil {
		t.Fatal(err)
	}
	return m, p
}

// TestRBACAllowsAndRefuses holds the roles to requests they must allow
// (what Octorun's code needs, by the names its options and the job store
// give by default) and requests they must refuse.
func TestRBACAllowsAndRefuses(t *testing.T) {
	_, p := loadPolicy(t)
	o := options.New()
	const octorun = "octorun.github.io"
	tests := []struct {
		name  string
		req   access.Request
		allow bool
	}{
		// What the informers cache, everywhere.
		{"list Runners everywhere", access.Request{Verb: "list", Group: octorun, Resource: "runners"}, true},
		{"watch RunnerSets everywhere", access.Request{Verb: "watch", Group: octorun, Resource: "runnersets"}, true},
		{"watch pods everywhere", access.Request{Verb: "watch", Resource: "pods"}, true},
		{"list pods in one namespace", access.Request{Verb: "list", Resource: "pods", Namespace: other}, true},

		// Writes in the runner namespaces, and nowhere else.
		{"create a runner pod", access.Request{Verb: "create", Resource: "pods", Namespace: runners}, true},
		{"create a pod elsewhere", access.Request{Verb: "create", Resource: "pods", Namespace: other}, false},
		{"patch a pod elsewhere", access.Request{Verb: "patch", Resource: "pods", Namespace: other, Name: "p"}, false},
		{"delete a pod elsewhere", access.Request{Verb: "delete", Resource: "pods", Namespace: other, Name: "p"}, false},
		{"exec into a runner pod", access.Request{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: runners, Name: "r"}, false},
		{"evict a runner pod", access.Request{Verb: "create", Resource: "pods", Subresource: "eviction", Namespace: runners, Name: "r"}, false},
		{"create a runner's Secret", access.Request{Verb: "create", Resource: "secrets", Namespace: runners}, true},
		{"read a runner's Secret", access.Request{Verb: "get", Resource: "secrets", Namespace: runners, Name: "r"}, true},
		{"list the Secrets of a runner namespace", access.Request{Verb: "list", Resource: "secrets", Namespace: runners}, false},
		{"read a Secret elsewhere", access.Request{Verb: "get", Resource: "secrets", Namespace: other, Name: "s"}, false},
		{"list Secrets everywhere", access.Request{Verb: "list", Resource: "secrets"}, false},
		{"create the busy runners' PodDisruptionBudget", access.Request{Verb: "create", Group: "policy", Resource: "poddisruptionbudgets", Namespace: runners}, true},
		{"create a PodDisruptionBudget elsewhere", access.Request{Verb: "create", Group: "policy", Resource: "poddisruptionbudgets", Namespace: other}, false},
		{"create an Event of a Runner", access.Request{Verb: "create", Resource: "events", Namespace: runners}, true},
		{"patch an Event of a Runner", access.Request{Verb: "patch", Resource: "events", Namespace: runners, Name: "r.1"}, true},
		{"create an Event elsewhere", access.Request{Verb: "create", Resource: "events", Namespace: other}, false},
		{"create an Event in Octorun's namespace", access.Request{Verb: "create", Resource: "events", Namespace: system}, false},
		{"update a Runner", access.Request{Verb: "update", Group: octorun, Resource: "runners", Namespace: runners, Name: "r"}, true},
		{"update a Runner elsewhere", access.Request{Verb: "update", Group: octorun, Resource: "runners", Namespace: other, Name: "r"}, false},
		{"update a RunnerSet", access.Request{Verb: "update", Group: octorun, Resource: "runnersets", Namespace: runners, Name: "s"}, false},
		{"update a RunnerSet's status", access.Request{Verb: "update", Group: octorun, Resource: "runnersets", Subresource: "status", Namespace: runners, Name: "s"}, true},

		// OwnerReferencesPermissionEnforcement: Octorun's pods and Secrets
		// block their Runner's deletion, its Runners their RunnerSet's.
		{"block a Runner's deletion", access.Request{Verb: "update", Group: octorun, Resource: "runners", Subresource: "finalizers", Namespace: runners, Name: "r"}, true},
		{"block a RunnerSet's deletion", access.Request{Verb: "update", Group: octorun, Resource: "runnersets", Subresource: "finalizers", Namespace: runners, Name: "s"}, true},
		{"block a Runner's deletion elsewhere", access.Request{Verb: "update", Group: octorun, Resource: "runners", Subresource: "finalizers", Namespace: other, Name: "r"}, false},

		// Octorun's own namespace: by name, but for creates and the job
		// store's informer.
		{"read the leader Lease", access.Request{Verb: "get", Group: "coordination.k8s.io", Resource: "leases", Namespace: system, Name: o.LeaseName}, true},
		{"renew the leader Lease", access.Request{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: system, Name: o.LeaseName}, true},
		{"create the leader Lease", access.Request{Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Namespace: system}, true},
		{"take another Lease", access.Request{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: system, Name: "kube-scheduler"}, false},
		{"take a Lease elsewhere", access.Request{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: other, Name: o.LeaseName}, false},
		{"read the certificate Secret", access.Request{Verb: "get", Resource: "secrets", Namespace: system, Name: o.AdmissionSecret}, true},
		{"renew the certificate Secret", access.Request{Verb: "update", Resource: "secrets", Namespace: system, Name: o.AdmissionSecret}, true},
		{"create the certificate Secret", access.Request{Verb: "create", Resource: "secrets", Namespace: system}, true},
		{"read the GitHub credentials (mounted, never read through the API)", access.Request{Verb: "get", Resource: "secrets", Namespace: system, Name: "octorun-github"}, false},
		{"list the Secrets of Octorun's namespace", access.Request{Verb: "list", Resource: "secrets", Namespace: system}, false},
		{"watch the job store", access.Request{Verb: "watch", Resource: "configmaps", Namespace: system}, true},
		{"create a ConfigMap of the job store", access.Request{Verb: "create", Resource: "configmaps", Namespace: system}, true},
		{"patch the first ConfigMap of the job store", access.Request{Verb: "patch", Resource: "configmaps", Namespace: system, Name: jobstore.DefaultNamePrefix + "0"}, true},
		{"patch the last ConfigMap of the job store", access.Request{Verb: "patch", Resource: "configmaps", Namespace: system, Name: fmt.Sprintf("%s%d", jobstore.DefaultNamePrefix, jobstore.DefaultShards-1)}, true},
		{"patch a ConfigMap past the job store", access.Request{Verb: "patch", Resource: "configmaps", Namespace: system, Name: fmt.Sprintf("%s%d", jobstore.DefaultNamePrefix, jobstore.DefaultShards)}, false},
		{"watch ConfigMaps elsewhere", access.Request{Verb: "watch", Resource: "configmaps", Namespace: other}, false},

		// Cluster-scoped: its own webhook configurations, and reads.
		{"inject the CA bundle", access.Request{Verb: "update", Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations", Name: o.AdmissionConfig}, true},
		{"read the validating webhook configuration", access.Request{Verb: "get", Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations", Name: o.AdmissionConfig}, true},
		{"update another webhook configuration", access.Request{Verb: "update", Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations", Name: "other"}, false},
		{"list webhook configurations", access.Request{Verb: "list", Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations"}, false},
		{"review a scrape's token", access.Request{Verb: "create", Group: "authentication.k8s.io", Resource: "tokenreviews"}, true},
		{"review a scrape's access", access.Request{Verb: "create", Group: "authorization.k8s.io", Resource: "subjectaccessreviews"}, true},
		{"watch namespaces", access.Request{Verb: "watch", Resource: "namespaces"}, true},
		{"update a namespace", access.Request{Verb: "update", Resource: "namespaces", Namespace: runners, Name: runners}, false},
		{"watch ScopeGrants", access.Request{Verb: "watch", Group: octorun, Resource: "scopegrants"}, true},
		{"update a ScopeGrant", access.Request{Verb: "update", Group: octorun, Resource: "scopegrants", Name: "g"}, false},
		{"create a RoleBinding", access.Request{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "rolebindings", Namespace: runners}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allowing := p.Allowing(tt.req)
			if got := len(allowing) > 0; got != tt.allow {
				t.Errorf("%s: allowed %t (by %v), want %t", tt.req, got, allowing, tt.allow)
			}
		})
	}
}

// clusterScopedWrites are the only resources Octorun may write
// cluster-wide: its webhook configurations (CA bundle) and the reviews of
// the metrics server. Everything else it writes is in a namespace, by a
// Role or a RoleBinding.
var clusterScopedWrites = []string{
	"mutatingwebhookconfigurations", "validatingwebhookconfigurations", "tokenreviews", "subjectaccessreviews",
}

// TestRBACStructure holds the roles to promises a reader relies on.
func TestRBACStructure(t *testing.T) {
	m, p := loadPolicy(t)
	reads := []string{"get", "list", "watch"}
	for _, g := range p.Grants {
		for i, rule := range g.Rules {
			where := fmt.Sprintf("%s, rule %d", g.Role, i)
			for _, list := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames} {
				if slices.ContainsFunc(list, func(s string) bool { return s == "*" || len(s) > 1 && s[0] == '*' }) {
					t.Errorf("%s: a wildcard in %v", where, list)
				}
			}
			if len(rule.NonResourceURLs) > 0 {
				t.Errorf("%s: non-resource URLs %v", where, rule.NonResourceURLs)
			}
			// A name never matches a create, nor a list or watch without
			// a field selector on it, which Octorun does not use.
			if len(rule.ResourceNames) > 0 {
				for _, v := range []string{"create", "list", "watch", "deletecollection"} {
					if slices.Contains(rule.Verbs, v) {
						t.Errorf("%s: %s with resourceNames, which never matches", where, v)
					}
				}
			}
			for _, v := range []string{"escalate", "bind", "impersonate"} {
				if slices.Contains(rule.Verbs, v) {
					t.Errorf("%s: %s", where, v)
				}
			}
			if g.Namespace != "" {
				continue
			}
			// Cluster-wide: reads, and writes of cluster-scoped resources.
			for _, res := range rule.Resources {
				if res == "secrets" {
					t.Errorf("%s: Secrets cluster-wide", where)
				}
				if slices.Contains(clusterScopedWrites, res) {
					continue
				}
				for _, v := range rule.Verbs {
					if !slices.Contains(reads, v) {
						t.Errorf("%s: %s %s cluster-wide; writes in a namespace belong to octorun:runner-namespace or the Role", where, v, res)
					}
				}
			}
		}
	}

	// The role of the runner namespaces is bound only namespace by
	// namespace, and the sample binds it.
	const runnerRole = "octorun:runner-namespace"
	for _, b := range m.ClusterRoleBindings {
		if b.RoleRef.Kind == "ClusterRole" && b.RoleRef.Name == runnerRole {
			t.Errorf("ClusterRoleBinding %s binds %s cluster-wide", b.Name, runnerRole)
		}
	}
	if !slices.ContainsFunc(m.RunnerNamespaceBindings, func(b rbacv1.RoleBinding) bool {
		return b.Namespace == runners && b.RoleRef.Kind == "ClusterRole" && b.RoleRef.Name == runnerRole
	}) {
		t.Errorf("samples/runner-namespace.yaml does not bind %s in %s", runnerRole, runners)
	}
}
