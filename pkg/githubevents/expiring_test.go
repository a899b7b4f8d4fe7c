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
