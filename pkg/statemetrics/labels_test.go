package statemetrics

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// kubeStateMetricsLabelName is kube-state-metrics' own spelling of
// labelName (internal/store/utils.go), which labelName must match.
func kubeStateMetricsLabelName(key string) string {
	invalid := regexp.MustCompile(`[^a-zA-Z0-9_]`)
	allCaps := regexp.MustCompile("([a-z0-9])([A-Z])")
	return "label_" + strings.ToLower(allCaps.ReplaceAllString(invalid.ReplaceAllString(key, "_"), "${1}_${2}"))
}

var validLabelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func TestLabelName(t *testing.T) {
	for _, tc := range []struct {
		name, key, want string
	}{
		{name: "plain", key: "team", want: "label_team"},
		{name: "prefixed", key: "app.kubernetes.io/name", want: "label_app_kubernetes_io_name"},
		{name: "Octorun's", key: "octorun.github.io/runnerset", want: "label_octorun_github_io_runnerset"},
		{name: "camel case", key: "teamName", want: "label_team_name"},
		{name: "digit before capital", key: "gpu2Count", want: "label_gpu2_count"},
		{name: "capitals", key: "ABC", want: "label_abc"},
		{name: "capital after separator", key: "a.B", want: "label_a_b"},
		{name: "leading underscore", key: "_x", want: "label__x"},
		{name: "dashes", key: "a-b-c", want: "label_a_b_c"},
		{name: "non-ASCII runes", key: "größe", want: "label_gr__e"},
		{name: "invalid UTF-8", key: "a\xffb", want: "label_a_b"},
		{name: "empty", key: "", want: "label_"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := labelName(tc.key)
			if got != tc.want {
				t.Errorf("labelName(%q) = %q, want %q", tc.key, got, tc.want)
			}
			if ksm := kubeStateMetricsLabelName(tc.key); got != ksm {
				t.Errorf("labelName(%q) = %q, kube-state-metrics makes %q", tc.key, got, ksm)
			}
			if !validLabelName.MatchString(got) {
				t.Errorf("labelName(%q) = %q is not a valid Prometheus label name", tc.key, got)
			}
		})
	}
}

func TestPromLabels(t *testing.T) {
	for _, tc := range []struct {
		name       string
		labels     map[string]string
		wantNames  []string
		wantValues []string
	}{
		{name: "none"},
		{
			name:       "sorted by key",
			labels:     map[string]string{"b": "2", "a": "1", "c.d/e": "3"},
			wantNames:  []string{"label_a", "label_b", "label_c_d_e"},
			wantValues: []string{"1", "2", "3"},
		},
		{
			name:       "two keys clash",
			labels:     map[string]string{"a.b": "dot", "a_b": "underscore"},
			wantNames:  []string{"label_a_b_conflict1", "label_a_b_conflict2"},
			wantValues: []string{"dot", "underscore"},
		},
		{
			name:       "case clash",
			labels:     map[string]string{"fooBar": "camel", "foo_bar": "snake", "foo-bar": "kebab"},
			wantNames:  []string{"label_foo_bar_conflict1", "label_foo_bar_conflict2", "label_foo_bar_conflict3"},
			wantValues: []string{"kebab", "camel", "snake"},
		},
		{
			name:       "a key is a suffixed name",
			labels:     map[string]string{"a.b": "dot", "a_b": "underscore", "a_b_conflict1": "real", "a_b_conflict3": "real3"},
			wantNames:  []string{"label_a_b_conflict2", "label_a_b_conflict4", "label_a_b_conflict1", "label_a_b_conflict3"},
			wantValues: []string{"dot", "underscore", "real", "real3"},
		},
		{
			name:       "clashing keys that are suffixed names",
			labels:     map[string]string{"x": "x", "X": "X", "x_conflict1": "c", "x.conflict1": "c."},
			wantNames:  []string{"label_x_conflict1", "label_x_conflict2", "label_x_conflict1_conflict1", "label_x_conflict1_conflict2"},
			wantValues: []string{"X", "x", "c.", "c"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			names, values := promLabels(tc.labels)
			if diff := cmp.Diff(tc.wantNames, names); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantValues, values); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPromLabelsAlwaysDistinct feeds promLabels random keys made to clash
// and checks that the names are valid, distinct and do not depend on map
// order.
func TestPromLabelsAlwaysDistinct(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "B", ".", "_", "-", "/", "1", "_conflict", "_conflict1", "_conflict2"}
	for i := range 2000 {
		labels := map[string]string{}
		for range 1 + rng.IntN(24) {
			var key strings.Builder
			for range 1 + rng.IntN(4) {
				key.WriteString(pieces[rng.IntN(len(pieces))])
			}
			labels[key.String()] = key.String()
		}
		names, values := promLabels(labels)
		seen := map[string]bool{}
		for j, n := range names {
			if !validLabelName.MatchString(n) {
				t.Fatalf("Case %d: invalid label name %q from %v", i, n, labels)
			}
			if seen[n] {
				t.Fatalf("Case %d: duplicate label name %q in %v from %v", i, n, names, labels)
			}
			seen[n] = true
			if labels[values[j]] != values[j] {
				t.Fatalf("Case %d: value %q does not belong to a key", i, values[j])
			}
		}
		// A copy of the map iterates in another order.
		again := make(map[string]string, len(labels))
		for k, v := range labels {
			again[k] = v
		}
		names2, _ := promLabels(again)
		if diff := cmp.Diff(names, names2); diff != "" {
			t.Fatalf("Case %d: names depend on map order (-first +second):\n%s", i, diff)
		}
	}
}
