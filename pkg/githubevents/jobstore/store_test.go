package jobstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2/ktesting"

	"github.com/octorun/octorun/pkg/githubevents"
)

const testNamespace = "octorun-system"

var testNow = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

// writeCounter counts the writes (patches and creates) of a fake clientset.
type writeCounter struct{ patches, creates atomic.Int64 }

func newFakeClient() (*fake.Clientset, *writeCounter) {
	client := fake.NewClientset()
	var c writeCounter
	client.PrependReactor("patch", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		c.patches.Add(1)
		return false, nil, nil
	})
	client.PrependReactor("create", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		c.creates.Add(1)
		return false, nil, nil
	})
	return client, &c
}

// startStore runs a Store, one replica, until the test ends.
func startStore(t *testing.T, client *fake.Clientset, modify func(*Options)) *Store {
	t.Helper()
	opts := Options{Namespace: testNamespace, CommitWindow: 20 * time.Millisecond, Now: func() time.Time { return testNow }}
	if modify != nil {
		modify(&opts)
	}
	s, err := New(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s
}

func job(id int64) githubevents.QueuedJob {
	return githubevents.QueuedJob{ID: id, Org: "octo", Repo: "hello", Labels: []string{"linux"}, Since: testNow.Add(-time.Minute)}
}

func all(*githubevents.QueuedJob) bool { return true }

// waitForCount waits until s counts want jobs.
func waitForCount(t *testing.T, s *Store, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, known := s.Count(all, testNow)
		if known && n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Count = %d (known %v), want %d", n, known, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReplicasAgree: two replicas on one API server, deliveries split at
// random between them, in random order, duplicated at times: both count the
// jobs queued and not finished, and no more.
func TestReplicasAgree(t *testing.T) {
	client, writes := newFakeClient()
	a, b := startStore(t, client, nil), startStore(t, client, nil)
	if _, known := a.Count(all, testNow); known {
		t.Error("The store knows before any write")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	type delivery struct {
		id       int64
		finished bool
	}
	const jobs = 500
	var ds []delivery
	want := 0
	for id := int64(1); id <= jobs; id++ {
		ds = append(ds, delivery{id: id})
		if rng.IntN(3) > 0 {
			ds = append(ds, delivery{id: id, finished: true})
		} else {
			want++
		}
	}
	rng.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
	ctx := context.Background()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50) // deliveries in flight, as GitHub's
	for _, d := range ds {
		replica := a
		if rng.IntN(2) == 0 {
			replica = b
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			var err error
			if d.finished {
				err = replica.Finished(ctx, d.id, testNow)
			} else {
				_, err = replica.Queued(ctx, job(d.id), testNow)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	waitForCount(t, a, want)
	waitForCount(t, b, want)

	n := int64(len(ds))
	perThousand := float64(writes.patches.Load()+writes.creates.Load()) * 1000 / float64(n)
	t.Logf("%d deliveries, %d patches and %d creates: %.0f writes per 1,000 deliveries", n, writes.patches.Load(), writes.creates.Load(), perThousand)
	if perThousand > 100 {
		t.Errorf("%.0f writes per 1,000 deliveries, want at most 100: the group commit does not batch", perThousand)
	}
}

// TestGroupCommit: writes within a window make one patch per ConfigMap, and
// each returns only once its patch is done.
func TestGroupCommit(t *testing.T) {
	client, writes := newFakeClient()
	s := startStore(t, client, func(o *Options) { o.CommitWindow = 200 * time.Millisecond; o.Shards = 1 })
	var wg sync.WaitGroup
	for id := int64(1); id <= 20; id++ {
		wg.Go(func() {
			if _, err := s.Queued(context.Background(), job(id), testNow); err != nil {
				t.Error(err)
			}
			// Stored when acknowledged: the API server has the key.
			cm, err := client.CoreV1().ConfigMaps(testNamespace).Get(context.Background(), DefaultNamePrefix+"0", metaGet)
			if err != nil || cm.Data[queuedKey(id)] == "" {
				t.Errorf("Job %d acknowledged but not stored (%v)", id, err)
			}
		})
	}
	wg.Wait()
	// One ConfigMap, made by a failed patch and a create.
	if p, c := writes.patches.Load(), writes.creates.Load(); p != 1 || c != 1 {
		t.Errorf("%d patches and %d creates for 20 writes in a window, want 1 and 1", p, c)
	}
	if _, err := s.Queued(context.Background(), job(21), testNow); err != nil {
		t.Fatal(err)
	}
	if p := writes.patches.Load(); p != 2 {
		t.Errorf("%d patches after one more write, want 2", p)
	}
}

// TestShutdownWritesTheBatch: the writes waiting when the store stops are
// written; later ones fail, so their deliveries are not acknowledged.
func TestShutdownWritesTheBatch(t *testing.T) {
	client, _ := newFakeClient()
	s, err := New(client, Options{Namespace: testNamespace, CommitWindow: time.Hour, Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	errs := make(chan error, 1)
	go func() { errs <- s.Finished(context.Background(), 7, testNow) }()
	time.Sleep(50 * time.Millisecond) // the write waits for its window
	cancel()
	if err := <-errs; err != nil {
		t.Errorf("The write under way at shutdown: %v", err)
	}
	<-done
	cm, err := client.CoreV1().ConfigMaps(testNamespace).Get(context.Background(), DefaultNamePrefix+"0", metaGet)
	if err != nil || cm.Data[finishedKey(7)] == "" {
		t.Errorf("The write under way at shutdown was not stored (%v)", err)
	}
	if err := s.Finished(context.Background(), 8, testNow); err != errStopped {
		t.Errorf("A write after shutdown: %v, want %v", err, errStopped)
	}
}

// TestPruneKeepsTheCount: pruning removes what no longer tells anything,
// and the count stays.
func TestPruneKeepsTheCount(t *testing.T) {
	client, _ := newFakeClient()
	now := testNow
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	s := startStore(t, client, func(o *Options) {
		o.Shards = 1
		o.Now = func() time.Time { return *clock.Load() }
	})
	ctx := context.Background()
	for id := int64(1); id <= 3; id++ {
		if _, err := s.Queued(ctx, job(id), now); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Finished(ctx, 1, now); err != nil {
		t.Fatal(err)
	}
	old := job(4)
	old.Since = now.Add(-25 * time.Hour)
	if _, err := s.Queued(ctx, old, now); err != nil {
		t.Fatal(err)
	}
	if err := s.Finished(ctx, 5, now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	waitForCount(t, s, 2)
	// Prune until the informer saw every key.
	waitForKeys(t, client, DefaultNamePrefix+"0", []string{"1.f", "2.q", "3.q"}, func() { s.prune(ctx) })
	waitForCount(t, s, 2)
	// A late queued delivery of a finished job does not count it again.
	if counted, err := s.Queued(ctx, job(1), now); err != nil || counted {
		t.Errorf("Late queued of a finished job: counted %v (%v), want false", counted, err)
	}
	waitForCount(t, s, 2)
}

// waitForKeys waits until the ConfigMap name holds the keys want, calling
// step before each look.
func waitForKeys(t *testing.T, client *fake.Clientset, name string, want []string, step func()) {
	t.Helper()
	var got []string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		step()
		cm, err := client.CoreV1().ConfigMaps(testNamespace).Get(context.Background(), name, metaGet)
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for k := range cm.Data {
			got = append(got, k)
		}
		sort.Strings(got)
		if cmp.Equal(got, want) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Errorf("Keys of %s = %v, want %v", name, got, want)
}

func TestPrunable(t *testing.T) {
	now := testNow
	for _, tc := range []struct {
		name string
		data map[string]string
		want []string
	}{
		{name: "queued only", data: map[string]string{"1.q": `{"o":"octo","l":["x"],"s":` + unix(now.Add(-time.Hour)) + `}`}},
		{
			name: "finished job",
			data: map[string]string{"1.q": `{"o":"octo","l":["x"],"s":` + unix(now) + `}`, "1.f": unix(now)},
			want: []string{"1.q"},
		},
		{name: "finished first", data: map[string]string{"1.f": unix(now.Add(-59 * time.Minute))}},
		{name: "finished an hour ago", data: map[string]string{"1.f": unix(now.Add(-time.Hour))}, want: []string{"1.f"}},
		{
			name: "queued a day ago",
			data: map[string]string{"1.q": `{"o":"octo","l":["x"],"s":` + unix(now.Add(-24*time.Hour)) + `}`},
			want: []string{"1.q"},
		},
		{name: "not ours", data: map[string]string{"x": "y", "1.z": "2", "a.q": "{}", "2.q": "not json", "3.f": "never"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sh := parseShard(tc.data, nil)
			finished := func(id int64) bool { _, ok := sh.finished[id]; return ok }
			got := sh.prunable(finished, now, 24*time.Hour, time.Hour)
			sort.Strings(got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("prunable (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseShardRoundTrip(t *testing.T) {
	j := githubevents.QueuedJob{ID: 42, Org: "octo", Repo: "hello", Enterprise: "big", Labels: []string{"self-hosted", "linux"}, Since: testNow}
	v, err := encodeQueued(j)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) > 100 {
		t.Errorf("The queued value %s is %d bytes, want at most 100", v, len(v))
	}
	sh := parseShard(map[string]string{queuedKey(42): v, finishedKey(43): encodeFinished(testNow)}, nil)
	if diff := cmp.Diff(j, sh.queued[42].job); diff != "" {
		t.Errorf("Round trip (-want +got):\n%s", diff)
	}
	if at, ok := sh.finished[43]; !ok || !at.Equal(testNow) {
		t.Errorf("finished[43] = %v, %v", at, ok)
	}
	// An unchanged value is not parsed again.
	again := parseShard(map[string]string{queuedKey(42): v}, sh)
	if &again.queued[42].job.Labels[0] != &sh.queued[42].job.Labels[0] {
		t.Error("An unchanged queued key was parsed again")
	}
}

func unix(t time.Time) string { return fmt.Sprint(t.Unix()) }

var metaGet = metav1.GetOptions{}

// A state the ConfigMaps hold already is not written again: completed after
// in_progress, or queued after either.
func TestNoRewriteOfAStoredState(t *testing.T) {
	client, writes := newFakeClient()
	s := startStore(t, client, func(o *Options) { o.CommitWindow = -1; o.Shards = 1 })
	ctx := context.Background()
	if err := s.Finished(ctx, 7, testNow); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.RLock()
		k := s.jobs[7]
		seen := k != nil && k.finished > 0
		s.mu.RUnlock()
		if seen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("The finished key never reached the cache")
		}
		time.Sleep(5 * time.Millisecond)
	}
	before := writes.patches.Load() + writes.creates.Load()
	if err := s.Finished(ctx, 7, testNow); err != nil {
		t.Fatal(err)
	}
	if counted, err := s.Queued(ctx, job(7), testNow); err != nil || counted {
		t.Fatalf("Queued after finished = %v, %v; want not counted", counted, err)
	}
	if after := writes.patches.Load() + writes.creates.Load(); after != before {
		t.Errorf("%d writes for states already stored, want 0", after-before)
	}
}
