package githubevents

import (
	"testing"
	"time"
)

func TestExpiringSet(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := newExpiringSet[string](3, time.Minute)
	for _, k := range []string{"a", "b", "c"} {
		if !s.add(k, now) {
			t.Fatalf("add(%s) of a new key = false", k)
		}
	}
	if s.add("a", now) {
		t.Error("add of a present key = true")
	}
	// Full: the oldest goes.
	if !s.add("d", now.Add(time.Second)) {
		t.Fatal("add(d) = false")
	}
	if s.contains("a", now) || !s.contains("b", now) || s.len() != 3 {
		t.Errorf("After eviction: a %v, b %v, len %d; want false, true, 3", s.contains("a", now), s.contains("b", now), s.len())
	}
	// Expired keys go, and may be added again.
	later := now.Add(time.Minute)
	if s.contains("b", later) {
		t.Error("b is there after its TTL")
	}
	if !s.add("b", later) {
		t.Error("add(b) after its TTL = false")
	}
	if s.len() != 2 { // d (not expired yet) and b
		t.Errorf("len = %d, want 2", s.len())
	}
	s.remove("b")
	s.remove("nothing")
	if s.contains("b", later) {
		t.Error("b is there after remove")
	}
}

func TestDemandCount(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := newDemand(100, 24*time.Hour)
	jobs := []struct {
		id         int64
		org, repo  string
		labels     []string
		since      time.Time
		wantQueued bool
	}{
		{1, "octo", "hello", []string{"self-hosted", "linux"}, now, true},
		{2, "octo", "world", []string{"linux", "x64"}, now, true},
		{3, "Octo", "Hello", []string{"GPU"}, now.Add(-time.Hour), true},
		{4, "other", "hello", []string{"linux"}, now, true},
		{5, "octo", "hello", nil, now, false},                                    // no labels
		{6, "octo", "hello", []string{"linux"}, now.Add(-24 * time.Hour), false}, // expired
		{7, "octo", "hello", []string{"linux"}, now.Add(time.Hour), true},        // future creation: counted from now
	}
	for _, j := range jobs {
		if got := d.queue(j.id, j.org, j.repo, j.labels, j.since, now); got != j.wantQueued {
			t.Errorf("queue(%d) = %v, want %v", j.id, got, j.wantQueued)
		}
	}
	for _, tc := range []struct {
		name      string
		org, repo string
		labels    []string
		want      int
	}{
		{name: "organization runner, linux", org: "octo", labels: []string{"linux"}, want: 2},
		{name: "self-hosted is implied", org: "octo", labels: []string{"linux"}, want: 2},
		{name: "case-insensitive", org: "OCTO", labels: []string{"LINUX", "x64", "gpu"}, want: 4},
		{name: "repository runner", org: "octo", repo: "hello", labels: []string{"linux", "gpu"}, want: 3},
		{name: "repository case-insensitive", org: "octo", repo: "HELLO", labels: []string{"gpu"}, want: 1},
		{name: "another repository", org: "octo", repo: "world", labels: []string{"linux"}, want: 0},
		{name: "no labels but self-hosted", org: "octo", labels: []string{"self-hosted"}, want: 0},
		{name: "another organization", org: "other", labels: []string{"linux"}, want: 1},
		{name: "unknown organization", org: "nobody", labels: []string{"linux"}, want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := d.count(tc.org, tc.repo, tc.labels, now); got != tc.want {
				t.Errorf("count = %d, want %d", got, tc.want)
			}
		})
	}

	d.finish(1, now)
	d.finish(99, now) // never queued
	if got := d.count("octo", "", []string{"linux"}, now); got != 1 {
		t.Errorf("After job 1 started: count = %d, want 1", got)
	}
	if d.queue(1, "octo", "hello", []string{"linux"}, now, now) {
		t.Error("A job that started is counted again by a late queued event")
	}
	if got := d.count("octo", "", []string{"gpu"}, now.Add(23*time.Hour)); got != 0 {
		t.Errorf("Job 3, 24h old: count = %d, want 0", got)
	}
}

func TestDemandIsBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := newDemand(2, time.Hour)
	d.queue(1, "o", "r", []string{"a"}, now.Add(-59*time.Minute), now)
	d.queue(2, "o", "r", []string{"a"}, now, now)
	if d.queue(3, "o", "r", []string{"a"}, now, now) {
		t.Error("A third job was counted by a tracker of 2")
	}
	if !d.queue(2, "o", "r", []string{"a", "b"}, now, now) {
		t.Error("A job already counted could not be updated")
	}
	// Once job 1 expired there is room again.
	if !d.queue(3, "o", "r", []string{"a"}, now, now.Add(time.Minute)) {
		t.Error("No room after a job expired")
	}
	if n := d.len(now.Add(time.Minute)); n != 2 {
		t.Errorf("len = %d, want 2", n)
	}
}
