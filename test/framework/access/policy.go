package access

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Octorun's ServiceAccount, the subject of the shipped bindings.
const (
	ServiceAccountNamespace = "octorun-system"
	ServiceAccountName      = "octorun"
)

// Manifests are the RBAC objects of manifests/rbac.yaml and of the runner
// namespace sample, samples/runner-namespace.yaml, whose RoleBinding every
// namespace where runners live gets.
type Manifests struct {
	ClusterRoles        []rbacv1.ClusterRole
	Roles               []rbacv1.Role
	ClusterRoleBindings []rbacv1.ClusterRoleBinding
	// RoleBindings are rbac.yaml's.
	RoleBindings []rbacv1.RoleBinding
	// RunnerNamespaceBindings are the sample's.
	RunnerNamespaceBindings []rbacv1.RoleBinding
}

// LoadManifests reads the RBAC objects of the manifests under root, the
// repository's root, strictly: an unknown field is an error, as a typo such
// as "resourceName:" would otherwise grant more than it says.
func LoadManifests(root string) (*Manifests, error) {
	m := &Manifests{}
	if err := m.read(filepath.Join(root, "manifests", "rbac.yaml"), false); err != nil {
		return nil, err
	}
	if err := m.read(filepath.Join(root, "manifests", "samples", "runner-namespace.yaml"), true); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Manifests) read(path string, runnerNamespace bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		var into any
		switch {
		case meta.Kind == "ClusterRole":
			m.ClusterRoles = append(m.ClusterRoles, rbacv1.ClusterRole{})
			into = &m.ClusterRoles[len(m.ClusterRoles)-1]
		case meta.Kind == "Role":
			m.Roles = append(m.Roles, rbacv1.Role{})
			into = &m.Roles[len(m.Roles)-1]
		case meta.Kind == "ClusterRoleBinding":
			m.ClusterRoleBindings = append(m.ClusterRoleBindings, rbacv1.ClusterRoleBinding{})
			into = &m.ClusterRoleBindings[len(m.ClusterRoleBindings)-1]
		case meta.Kind == "RoleBinding" && runnerNamespace:
			m.RunnerNamespaceBindings = append(m.RunnerNamespaceBindings, rbacv1.RoleBinding{})
			into = &m.RunnerNamespaceBindings[len(m.RunnerNamespaceBindings)-1]
		case meta.Kind == "RoleBinding":
			m.RoleBindings = append(m.RoleBindings, rbacv1.RoleBinding{})
			into = &m.RoleBindings[len(m.RoleBindings)-1]
		default:
			continue // the ServiceAccount, the Namespace, comments
		}
		if err := yaml.UnmarshalStrict(doc, into); err != nil {
			return fmt.Errorf("reading the %s of %s: %w", meta.Kind, path, err)
		}
	}
}

// A Grant is a role bound to Octorun's ServiceAccount: its rules apply in
// Namespace, or everywhere (every namespace and the cluster-scoped
// resources) when Namespace is empty.
type Grant struct {
	// Role is "ClusterRole <name>" or "Role <namespace>/<name>".
	Role      string
	Namespace string
	Rules     []rbacv1.PolicyRule
}

// Policy is what the manifests grant Octorun.
type Policy struct {
	Grants []Grant
}

// Policy returns what the manifests grant Octorun, with the runner
// namespace sample's RoleBinding in each of runnerNamespaces (as
// test/framework/install binds them) or, when there are none, in the
// sample's namespace.
func (m *Manifests) Policy(runnerNamespaces ...string) (*Policy, error) {
	p := &Policy{}
	var errs []error
	add := func(namespace string, ref rbacv1.RoleRef, subjects []rbacv1.Subject) {
		if !slices.ContainsFunc(subjects, isOctorun) {
			return
		}
		switch {
		case ref.Kind == "ClusterRole":
			i := slices.IndexFunc(m.ClusterRoles, func(r rbacv1.ClusterRole) bool { return r.Name == ref.Name })
			if i < 0 {
				errs = append(errs, fmt.Errorf("a binding refers to ClusterRole %s, which the manifests lack", ref.Name))
				return
			}
			p.Grants = append(p.Grants, Grant{Role: "ClusterRole " + ref.Name, Namespace: namespace, Rules: m.ClusterRoles[i].Rules})
		case ref.Kind == "Role" && namespace != "":
			i := slices.IndexFunc(m.Roles, func(r rbacv1.Role) bool { return r.Namespace == namespace && r.Name == ref.Name })
			if i < 0 {
				errs = append(errs, fmt.Errorf("a binding refers to Role %s/%s, which the manifests lack", namespace, ref.Name))
				return
			}
			p.Grants = append(p.Grants, Grant{Role: "Role " + namespace + "/" + ref.Name, Namespace: namespace, Rules: m.Roles[i].Rules})
		default:
			errs = append(errs, fmt.Errorf("a binding refers to %s %s", ref.Kind, ref.Name))
		}
	}
	for _, b := range m.ClusterRoleBindings {
		add("", b.RoleRef, b.Subjects)
	}
	for _, b := range m.RoleBindings {
		add(b.Namespace, b.RoleRef, b.Subjects)
	}
	for _, b := range m.RunnerNamespaceBindings {
		namespaces := runnerNamespaces
		if len(namespaces) == 0 {
			namespaces = []string{b.Namespace}
		}
		for _, ns := range namespaces {
			add(ns, b.RoleRef, b.Subjects)
		}
	}
	return p, errors.Join(errs...)
}

func isOctorun(s rbacv1.Subject) bool {
	return s.Kind == rbacv1.ServiceAccountKind && s.Namespace == ServiceAccountNamespace && s.Name == ServiceAccountName
}

// Permission is one verb on one resource of one API group by one rule of
// a role: the unit of a permission that is used, or not.
type Permission struct {
	// Role is the Grant's.
	Role string
	// Rule is the rule's index in the role.
	Rule int
	// Group, Resource and Verb are as the rule writes them: "" for the core
	// group, "runners/status", "*".
	Group, Resource, Verb string
}

func (p Permission) String() string {
	group := p.Group
	if group == "" {
		group = "core"
	}
	return fmt.Sprintf("%s: %s %s %s (rule %d)", p.Role, p.Verb, group, p.Resource, p.Rule)
}

// Permissions returns every permission of the roles granted, once for a
// role bound in several namespaces.
func (p *Policy) Permissions() []Permission {
	var out []Permission
	for _, g := range p.Grants {
		for i, rule := range g.Rules {
			for _, group := range rule.APIGroups {
				for _, res := range rule.Resources {
					for _, verb := range rule.Verbs {
						perm := Permission{Role: g.Role, Rule: i, Group: group, Resource: res, Verb: verb}
						if !slices.Contains(out, perm) {
							out = append(out, perm)
						}
					}
				}
			}
		}
	}
	return out
}

// Rule returns the rule of a permission.
func (p *Policy) Rule(perm Permission) (rbacv1.PolicyRule, bool) {
	for _, g := range p.Grants {
		if g.Role == perm.Role && perm.Rule < len(g.Rules) {
			return g.Rules[perm.Rule], true
		}
	}
	return rbacv1.PolicyRule{}, false
}

// Allowing returns the permissions that allow r: those of the rules of the
// grants applying in r's namespace that match it as the API server's RBAC
// authorizer matches rules. None means RBAC refuses r.
func (p *Policy) Allowing(r Request) []Permission {
	if !r.IsResource() {
		return nil
	}
	var out []Permission
	for _, g := range p.Grants {
		if g.Namespace != "" && g.Namespace != r.Namespace {
			continue
		}
		for i, rule := range g.Rules {
			if perm, ok := ruleAllows(rule, r); ok {
				perm.Role, perm.Rule = g.Role, i
				out = append(out, perm)
			}
		}
	}
	return out
}

// ruleAllows says whether rule allows r, and by which of its groups,
// resources and verbs.
func ruleAllows(rule rbacv1.PolicyRule, r Request) (Permission, bool) {
	match := func(list []string, ok func(string) bool) (string, bool) {
		i := slices.IndexFunc(list, ok)
		if i < 0 {
			return "", false
		}
		return list[i], true
	}
	verb, okVerb := match(rule.Verbs, func(v string) bool { return v == r.Verb || v == rbacv1.VerbAll })
	group, okGroup := match(rule.APIGroups, func(g string) bool { return g == r.Group || g == rbacv1.APIGroupAll })
	res, okRes := match(rule.Resources, func(res string) bool {
		return res == r.GroupResource() || res == rbacv1.ResourceAll || r.Subresource != "" && res == "*/"+r.Subresource
	})
	okName := len(rule.ResourceNames) == 0 || slices.Contains(rule.ResourceNames, r.Name)
	return Permission{Group: group, Resource: res, Verb: verb}, okVerb && okGroup && okRes && okName
}
