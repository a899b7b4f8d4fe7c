package scopegrant

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	octorunlisters "github.com/octorun/octorun/pkg/generated/listers/octorun/v1alpha1"
)

func newChecker(t *testing.T, grants []*octorunv1alpha1.ScopeGrant, namespaces ...*corev1.Namespace) *Checker {
	t.Helper()
	gi := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, g := range grants {
		if err := gi.Add(g); err != nil {
			t.Fatal(err)
		}
	}
	ni := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, n := range namespaces {
		if err := ni.Add(n); err != nil {
			t.Fatal(err)
		}
	}
	return New(octorunlisters.NewScopeGrantLister(gi), corelisters.NewNamespaceLister(ni))
}

func grant(name string, spec octorunv1alpha1.ScopeGrantSpec) *octorunv1alpha1.ScopeGrant {
	return &octorunv1alpha1.ScopeGrant{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
}

func scopes(urls ...string) []octorunv1alpha1.GrantedScope {
	var out []octorunv1alpha1.GrantedScope
	for _, u := range urls {
		out = append(out, octorunv1alpha1.GrantedScope{URL: u})
	}
	return out
}

func TestCheck(t *testing.T) {
	teamA := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"team": "a"}}}
	teamB := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-b", Labels: map[string]string{"team": "b"}}}
	grants := []*octorunv1alpha1.ScopeGrant{
		grant("a", octorunv1alpha1.ScopeGrantSpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
			Scopes: []octorunv1alpha1.GrantedScope{
				{URL: "https://github.com/org-a", RunnerGroups: []string{"builders"}},
				{URL: "https://github.com/shared/tools"},
				{URL: "https://github.com/enterprises/acme", RunnerGroups: []string{AnyGroup}},
			},
		}),
		grant("b", octorunv1alpha1.ScopeGrantSpec{Namespaces: []string{"team-b"}, Scopes: scopes("https://github.com/org-b")}),
		grant("ghes", octorunv1alpha1.ScopeGrantSpec{Namespaces: []string{"ghes"}, Scopes: scopes("https://ghe.example.com")}),
	}
	c := newChecker(t, grants, teamA, teamB)
	for _, tc := range []struct {
		ns, url, group string
		granted        bool
	}{
		{"team-a", "https://github.com/org-a", "builders", true},
		{"team-a", "https://github.com/ORG-A", "Builders", true},
		{"team-a", "https://github.com/org-a", "", false},          // default group not granted
		{"team-a", "https://github.com/org-a", "deployers", false}, // another group
		{"team-a", "https://github.com/org-a/app", "", true},       // an organization's repository
		{"team-a", "https://github.com/shared/tools", "", true},
		{"team-a", "https://github.com/shared/other", "", false},
		{"team-a", "https://github.com/shared", "", false}, // a repository's grant is not its organization's
		{"team-a", "https://github.com/enterprises/acme", "anything", true},
		{"team-a", "https://github.com/acme", "", false}, // an enterprise's grant is not an organization's of that name
		{"team-a", "https://github.com/org-b", "", false},
		{"team-b", "https://github.com/org-b", "", true},
		{"team-b", "https://github.com/org-b", "Default", true},
		{"team-b", "https://github.com/org-a", "builders", false},
		{"team-b", "https://github.com/enterprises/org-b", "", false},
		{"ghes", "https://ghe.example.com/any/repo", "", true},
		{"ghes", "https://GHE.example.com/org", "", true},
		{"ghes", "https://ghe.example.com/org", "x", false}, // groups as for any grant
		{"ghes", "https://github.com/org", "", false},
		{"other", "https://github.com/org-a", "builders", false}, // no grant at all
		{"team-a", "not a url", "", false},
	} {
		err := c.Check(tc.ns, tc.url, tc.group)
		if granted := err == nil; granted != tc.granted {
			t.Errorf("Check(%s, %s, %q) = %v, want granted %v", tc.ns, tc.url, tc.group, err, tc.granted)
		}
		if err != nil && !IsNotGranted(err) {
			t.Errorf("Check(%s, %s, %q) = %v, want a NotGrantedError", tc.ns, tc.url, tc.group, err)
		}
	}
}

// TestRefusalRevealsNothingElse: the refusal names what was asked only,
// not the scopes granted to the namespace or to others.
func TestRefusalRevealsNothingElse(t *testing.T) {
	c := newChecker(t, []*octorunv1alpha1.ScopeGrant{
		grant("a", octorunv1alpha1.ScopeGrantSpec{Namespaces: []string{"team-a"}, Scopes: scopes("https://github.com/secret-org")}),
		grant("b", octorunv1alpha1.ScopeGrantSpec{Namespaces: []string{"team-b"}, Scopes: scopes("https://github.com/other-secret")}),
	})
	err := c.Check("team-a", "https://github.com/victim", "")
	if err == nil {
		t.Fatal("An ungranted scope was granted")
	}
	for _, secret := range []string{"secret-org", "other-secret", "team-b"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("The refusal %q tells %q", err, secret)
		}
	}
}

func TestNoGrantGrantsNothing(t *testing.T) {
	c := newChecker(t, nil)
	if err := c.Check("default", "https://github.com/octo", ""); !IsNotGranted(err) {
		t.Errorf("Check with no ScopeGrant = %v, want not granted", err)
	}
	// An empty selector selects every namespace, even one not cached yet.
	c = newChecker(t, []*octorunv1alpha1.ScopeGrant{grant("all", octorunv1alpha1.ScopeGrantSpec{
		NamespaceSelector: &metav1.LabelSelector{},
		Scopes:            []octorunv1alpha1.GrantedScope{{URL: "https://github.com", RunnerGroups: []string{AnyGroup}}},
	})})
	if err := c.Check("new", "https://github.com/octo", "any"); err != nil {
		t.Errorf("Check with a grant of every namespace and scope = %v", err)
	}
}
