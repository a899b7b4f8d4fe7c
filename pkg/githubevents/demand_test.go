package githubevents

import (
	"context"
	"testing"
	"time"

	"github.com/octorun/octorun/pkg/runnerurl"
)

// queue records a queued event in d as the Receiver does, and says whether
// the job counts.
func queue(t *testing.T, d JobStore, id int64, org, repo string, labels []string, since, now time.Time) bool {
	t.Helper()
	job, ok := queuedJob(jobEvent{jobID: id, org: org, repo: repo, labels: labels, createdAt: since}, now, 24*time.Hour)
	if !ok {
		return false
	}
	counted, err := d.Queued(context.Background(), job, now)
	if err != nil {
		t.Fatal(err)
	}
	return counted
}

func TestDemandCount(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := newMemoryStore(100, 24*time.Hour)
	if _, known := d.Count(func(*QueuedJob) bool { return true }, now); known {
		t.Error("An empty store knows")
	}
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
		if got := queue(t, d, j.id, j.org, j.repo, j.labels, j.since, now); got != j.wantQueued {
			t.Errorf("queue(%d) = %v, want %v", j.id, got, j.wantQueued)
		}
	}
	count := func(org, repo string, labels []string, now time.Time) int {
		t.Helper()
		n, known := d.Count(ScopeMatcher(org, repo, labels), now)
		if !known {
			t.Fatal("The store does not know after deliveries")
		}
		return n
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
			if got := count(tc.org, tc.repo, tc.labels, now); got != tc.want {
				t.Errorf("count = %d, want %d", got, tc.want)
			}
		})
	}

	_ = d.Finished(context.Background(), 1, now)
	_ = d.Finished(context.Background(), 99, now) // never queued
	if got := count("octo", "", []string{"linux"}, now); got != 1 {
		t.Errorf("After job 1 started: count = %d, want 1", got)
	}
	if queue(t, d, 1, "octo", "hello", []string{"linux"}, now, now) {
		t.Error("A job that started is counted again by a late queued event")
	}
	if got := count("octo", "", []string{"gpu"}, now.Add(23*time.Hour)); got != 0 {
		t.Errorf("Job 3, 24h old: count = %d, want 0", got)
	}
}

func TestDemandIsBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := newMemoryStore(2, time.Hour)
	all := func(*QueuedJob) bool { return true }
	queue(t, d, 1, "o", "r", []string{"a"}, now.Add(-59*time.Minute), now)
	queue(t, d, 2, "o", "r", []string{"a"}, now, now)
	if queue(t, d, 3, "o", "r", []string{"a"}, now, now) {
		t.Error("A third job was counted by a store of 2")
	}
	if !queue(t, d, 2, "o", "r", []string{"a", "b"}, now, now) {
		t.Error("A job already counted could not be updated")
	}
	// Once job 1 expired there is room again.
	if !queue(t, d, 3, "o", "r", []string{"a"}, now, now.Add(time.Minute)) {
		t.Error("No room after a job expired")
	}
	if n, _ := d.Count(all, now.Add(time.Minute)); n != 2 {
		t.Errorf("Count = %d, want 2", n)
	}
}

func TestQueuedJob(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		name   string
		ev     jobEvent
		want   QueuedJob
		wantOK bool
	}{
		{
			name:   "lower case, enterprise kept",
			ev:     jobEvent{jobID: 7, org: "Octo", repo: "Hello", enterprise: "Big-Corp", labels: []string{"Linux"}, createdAt: now.Add(-time.Minute)},
			want:   QueuedJob{ID: 7, Org: "octo", Repo: "hello", Enterprise: "big-corp", Labels: []string{"linux"}, Since: now.Add(-time.Minute)},
			wantOK: true,
		},
		{
			name:   "no creation time",
			ev:     jobEvent{jobID: 7, org: "octo", labels: []string{"x"}},
			want:   QueuedJob{ID: 7, Org: "octo", Labels: []string{"x"}, Since: now},
			wantOK: true,
		},
		{
			name: "no labels",
			ev:   jobEvent{jobID: 7, org: "octo", createdAt: now},
			want: QueuedJob{ID: 7, Org: "octo", Since: now},
		},
		{
			name: "too old",
			ev:   jobEvent{jobID: 7, org: "octo", labels: []string{"x"}, createdAt: now.Add(-24 * time.Hour)},
			want: QueuedJob{ID: 7, Org: "octo", Labels: []string{"x"}, Since: now.Add(-24 * time.Hour)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := queuedJob(tc.ev, now, 24*time.Hour)
			if ok != tc.wantOK || got.ID != tc.want.ID || got.Org != tc.want.Org || got.Repo != tc.want.Repo ||
				got.Enterprise != tc.want.Enterprise || !got.Since.Equal(tc.want.Since) || len(got.Labels) != len(tc.want.Labels) {
				t.Errorf("queuedJob = %+v, %v; want %+v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestQueuedJobsOfScope(t *testing.T) {
	r, _, clock, _ := newTestReceiver(t, nil)
	now := clock.Now()
	for _, j := range []QueuedJob{
		{ID: 1, Org: "octo", Repo: "hello", Enterprise: "big", Labels: []string{"linux"}, Since: now},
		{ID: 2, Org: "other", Repo: "world", Enterprise: "big", Labels: []string{"linux", "gpu"}, Since: now},
		{ID: 3, Org: "big", Repo: "hello", Labels: []string{"linux"}, Since: now},
	} {
		if _, err := r.jobs.Queued(context.Background(), j, now); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		url    string
		labels []string
		want   int
	}{
		{name: "enterprise", url: "https://github.com/enterprises/BIG", labels: []string{"linux", "gpu"}, want: 2},
		{name: "enterprise, labels", url: "https://github.com/enterprises/big", labels: []string{"linux"}, want: 1},
		{name: "organization of the enterprise's name", url: "https://github.com/big", labels: []string{"linux"}, want: 1},
		{name: "organization", url: "https://github.com/octo", labels: []string{"linux"}, want: 1},
		{name: "repository", url: "https://github.com/other/world", labels: []string{"linux", "gpu"}, want: 1},
		{name: "another enterprise", url: "https://github.com/enterprises/small", labels: []string{"linux"}, want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scope, err := runnerurl.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if got, known := r.QueuedJobsOfScope(scope, tc.labels); got != tc.want || !known {
				t.Errorf("QueuedJobsOfScope = %d, %v; want %d, true", got, known, tc.want)
			}
		})
	}
}
