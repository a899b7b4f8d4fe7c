package statemetrics

import (
	"sort"
	"strconv"
	"strings"
)

// labelPrefix starts the Prometheus label name of every Kubernetes label,
// so that none can clash with the fixed labels (namespace, runner, ...).
const labelPrefix = "label_"

// conflictSuffix is appended, with a number, to label names that two or
// more Kubernetes label keys share after sanitizing.
const conflictSuffix = "_conflict"

// labelName returns the Prometheus label name of a Kubernetes label key,
// as kube-state-metrics makes it: every character outside [a-zA-Z0-9_]
// becomes "_", an upper-case letter after a lower-case letter or a digit
// gets a "_" before it, all is lower-cased and "label_" goes in front
// ("app.kubernetes.io/name" → "label_app_kubernetes_io_name",
// "octorun.github.io/runnerSet" → "label_octorun_github_io_runner_set").
func labelName(key string) string {
	var b strings.Builder
	b.Grow(len(labelPrefix) + len(key) + 2)
	b.WriteString(labelPrefix)
	afterLowerOrDigit := false
	for _, r := range key {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			b.WriteRune(r)
			afterLowerOrDigit = true
		case 'A' <= r && r <= 'Z':
			if afterLowerOrDigit {
				b.WriteByte('_')
			}
			b.WriteRune(r - 'A' + 'a')
			afterLowerOrDigit = false
		default:
			b.WriteByte('_')
			afterLowerOrDigit = false
		}
	}
	return b.String()
}

// promLabels returns the Prometheus label names and values of Kubernetes
// labels, ordered by key. Keys whose names clash after sanitizing ("a.b"
// and "a_b") all get a numbered suffix, in the order of their keys:
// "label_a_b_conflict1" (for "a.b"), "label_a_b_conflict2" (for "a_b"), as
// kube-state-metrics does. Unlike kube-state-metrics, a suffixed name never
// takes the name of another key (a real "a_b_conflict1" keeps it, and the
// clashing keys go on to the next free numbers), so the names are always
// distinct and the metric always valid.
func promLabels(labels map[string]string) (names, values []string) {
	if len(labels) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	names = make([]string, len(keys))
	values = make([]string, len(keys))
	for i, k := range keys {
		names[i] = labelName(k)
		values[i] = labels[k]
	}
	resolveConflicts(names)
	return names, values
}

// resolveConflicts renames, in place, every name that occurs more than once
// to name_conflictN, numbering each name's occurrences from 1 in order and
// skipping numbers whose result is another name of the list.
func resolveConflicts(names []string) {
	if !hasDuplicates(names) {
		return
	}
	count := make(map[string]int, len(names))
	for _, n := range names {
		count[n]++
	}
	taken := make(map[string]bool, len(names))
	for n, c := range count {
		if c == 1 {
			taken[n] = true
		}
	}
	next := make(map[string]int)
	for i, base := range names {
		if count[base] == 1 {
			continue
		}
		n := next[base]
		for {
			n++
			candidate := base + conflictSuffix + strconv.Itoa(n)
			if !taken[candidate] {
				names[i] = candidate
				taken[candidate] = true
				break
			}
		}
		next[base] = n
	}
}

func hasDuplicates(names []string) bool {
	if len(names) <= 16 {
		for i := range names {
			for j := i + 1; j < len(names); j++ {
				if names[i] == names[j] {
					return true
				}
			}
		}
		return false
	}
	seen := make(map[string]struct{}, len(names))
	for _, n := range names {
		if _, ok := seen[n]; ok {
			return true
		}
		seen[n] = struct{}{}
	}
	return false
}
