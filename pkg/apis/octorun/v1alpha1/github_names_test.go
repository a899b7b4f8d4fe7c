package v1alpha1_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/runnerurl"
)

func TestGitHubRunnerName(t *testing.T) {
	runner := func(namespace, name string) *v1alpha1.Runner {
		return &v1alpha1.Runner{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	}
	for _, tc := range []struct{ prefix, namespace, name, want string }{
		{"e2e-", "default", "one-job", "e2e-default.one-job"},
		{"", "ns", "r", "ns.r"},
		{"prod-eu-", "team-a", "pool-x7k2p", "prod-eu-team-a.pool-x7k2p"},
		{"", "team-a", "pool.v2", "team-a.pool.v2"},
		{"prod-eu-", "a-very-long-namespace-name-for-a-team", "pool-with-a-long-name-x7k2p", "prod-eu-a-very-long-namespace-name-for-a-team.p-83943409ff16e7ca"},
	} {
		if got := v1alpha1.GitHubRunnerName(tc.prefix, runner(tc.namespace, tc.name)); got != tc.want {
			t.Errorf("GitHubRunnerName(%q, %s/%s) = %q, want %q", tc.prefix, tc.namespace, tc.name, got, tc.want)
		}
	}
	// Runners of two namespaces whose names joined by '-' were the same.
	if a, b := v1alpha1.GitHubRunnerName("p-", runner("a-b", "c")), v1alpha1.GitHubRunnerName("p-", runner("a", "b-c")); a == b {
		t.Errorf("a-b/c and a/b-c share the GitHub runner name %q", a)
	}
	long, other := runner("default", strings.Repeat("x", 100)), runner("default", strings.Repeat("x", 99)+"y")
	a, b := v1alpha1.GitHubRunnerName("", long), v1alpha1.GitHubRunnerName("", other)
	if len(a) > runnerurl.MaxRunnerNameLength || a == b || v1alpha1.GitHubRunnerName("", long) != a {
		t.Errorf("long names %q and %q: want ≤ %d chars, distinct and stable", a, b, runnerurl.MaxRunnerNameLength)
	}
}

func TestGitHubLabels(t *testing.T) {
	got := v1alpha1.GitHubLabels(map[string]string{
		v1alpha1.LabelRunner:       "r1",
		v1alpha1.LabelRunnerSet:    "s",
		v1alpha1.LabelTemplateHash: "abc",
		"octorun.github.io/gpu":    "",
		"octorun.github.io/size":   "large",
		"app":                      "ci",
	})
	if diff := cmp.Diff([]string{"self-hosted", "gpu", "size=large"}, got); diff != "" {
		t.Errorf("GitHubLabels (-want +got):\n%s", diff)
	}
}
