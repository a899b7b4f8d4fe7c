// Package scopegrant decides, from the cluster's ScopeGrants, whether a
// namespace may register runners in a GitHub scope and runner group. The
// admission webhook and the Runner controller both ask it: the webhook
// refuses a Runner or RunnerSet early, the controller refuses to register
// one the webhook did not see (webhook off, or bypassed).
package scopegrant

import (
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	octorunlisters "github.com/octorun/octorun/pkg/generated/listers/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/runnerurl"
)

// AnyGroup in a GrantedScope's runnerGroups allows every runner group.
const AnyGroup = "*"

// NotGrantedError says a namespace has no ScopeGrant for a scope and runner
// group. It names only what was asked, never what the namespace or
// Octorun's credential may use elsewhere.
type NotGrantedError struct {
	Namespace, URL, Group string
}

func (e *NotGrantedError) Error() string {
	what := "runners of " + e.URL
	if e.Group != "" {
		what += fmt.Sprintf(" in runner group %q", e.Group)
	}
	return fmt.Sprintf("no ScopeGrant lets namespace %s register %s; a cluster administrator grants it with a ScopeGrant", e.Namespace, what)
}

// IsNotGranted says whether err is, or wraps, a NotGrantedError.
func IsNotGranted(err error) bool {
	var e *NotGrantedError
	return errors.As(err, &e)
}

// Checker answers from the informers' caches of ScopeGrants and
// Namespaces.
type Checker struct {
	grants     octorunlisters.ScopeGrantLister
	namespaces corelisters.NamespaceLister
}

// New returns a Checker reading the listers' caches.
func New(grants octorunlisters.ScopeGrantLister, namespaces corelisters.NamespaceLister) *Checker {
	return &Checker{grants: grants, namespaces: namespaces}
}

// Check returns nil when a ScopeGrant lets namespace register runners of
// the runner URL (a Runner's spec.url) in group (its spec.group; empty is
// the default group), and a *NotGrantedError when none does. A URL that
// does not parse is granted nowhere.
func (c *Checker) Check(namespace, url, group string) error {
	notGranted := &NotGrantedError{Namespace: namespace, URL: url, Group: group}
	scope, err := runnerurl.Parse(url)
	if err != nil {
		return notGranted
	}
	grants, err := c.grants.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing ScopeGrants: %w", err)
	}
	var nsLabels labels.Set
	if ns, err := c.namespaces.Get(namespace); err == nil {
		nsLabels = ns.Labels
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading namespace %s: %w", namespace, err)
	}
	for _, g := range grants {
		if !Selects(&g.Spec, namespace, nsLabels) {
			continue
		}
		for i := range g.Spec.Scopes {
			if Grants(&g.Spec.Scopes[i], scope, group) {
				return nil
			}
		}
	}
	return notGranted
}

// Selects says whether a grant applies to the namespace of the given name
// and labels. A selector that does not parse selects nothing.
func Selects(spec *octorunv1alpha1.ScopeGrantSpec, namespace string, nsLabels labels.Set) bool {
	for _, n := range spec.Namespaces {
		if n == namespace {
			return true
		}
	}
	if spec.NamespaceSelector == nil {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(spec.NamespaceSelector)
	return err == nil && sel.Matches(nsLabels)
}

// Grants says whether a granted scope covers runners of scope in group.
// Hosts, organizations, repositories, enterprises and groups compare
// without regard to case, as GitHub's names do.
func Grants(granted *octorunv1alpha1.GrantedScope, scope runnerurl.Scope, group string) bool {
	host, path, ok := splitGrantURL(granted.URL)
	if !ok || !strings.EqualFold(host, scope.Host) {
		return false
	}
	if path != "" {
		g, err := runnerurl.Parse(granted.URL)
		if err != nil {
			return false
		}
		switch {
		case g.IsEnterprise():
			if !scope.IsEnterprise() || !strings.EqualFold(g.Owner, scope.Owner) {
				return false
			}
		case g.IsOrganization():
			if scope.IsEnterprise() || !strings.EqualFold(g.Owner, scope.Owner) {
				return false
			}
		default:
			if !scope.IsRepository() || !strings.EqualFold(g.Owner, scope.Owner) || !strings.EqualFold(g.Repo, scope.Repo) {
				return false
			}
		}
	}
	return scope.IsRepository() || groupGranted(granted.RunnerGroups, group)
}

// groupGranted says whether a runner group is among those granted: any
// with "*", the default group alone when none is named.
func groupGranted(granted []string, group string) bool {
	if group == "" {
		group = octorunv1alpha1.DefaultRunnerGroup
	}
	if len(granted) == 0 {
		return strings.EqualFold(group, octorunv1alpha1.DefaultRunnerGroup)
	}
	for _, g := range granted {
		if g == AnyGroup || strings.EqualFold(g, group) {
			return true
		}
	}
	return false
}

// splitGrantURL splits a granted URL into its host and the path after it
// ("" for a host alone).
func splitGrantURL(u string) (host, path string, ok bool) {
	rest, ok := strings.CutPrefix(u, "https://")
	if !ok {
		return "", "", false
	}
	host, path, _ = strings.Cut(strings.TrimSuffix(rest, "/"), "/")
	if runnerurl.ValidateHost(host) != nil {
		return "", "", false
	}
	return strings.ToLower(host), path, true
}
