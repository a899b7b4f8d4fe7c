package main

import (
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	dto "github.com/prometheus/client_model/go"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

type dtoFamily = dto.MetricFamily

func namespaceObject(name string) corev1.Namespace {
	return corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// runnerTimes is when the bench first saw a Runner, and in each phase.
type runnerTimes struct {
	seen   time.Time
	id     int64 // spec.id, once registered
	phases map[octorunv1alpha1.RunnerPhase]time.Time
	phase  octorunv1alpha1.RunnerPhase
	gone   bool
}

// ready is when the Runner could first take a job: Idle, or Active if the
// bench never saw it Idle.
func (r *runnerTimes) ready() (time.Time, bool) {
	if t, ok := r.phases[octorunv1alpha1.RunnerPhaseIdle]; ok {
		return t, true
	}
	t, ok := r.phases[octorunv1alpha1.RunnerPhaseActive]
	return t, ok
}

// tracker records what the Runners went through, from a Runner informer.
type tracker struct {
	mu      sync.Mutex
	runners map[string]*runnerTimes // by UID
	byID    map[int64]*runnerTimes
	// failures counts the Runners that failed, by their conditions.
	failures map[string]int
}

func newTracker() *tracker {
	return &tracker{runners: map[string]*runnerTimes{}, byID: map[int64]*runnerTimes{}, failures: map[string]int{}}
}

func (t *tracker) handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { t.observe(obj, false) },
		UpdateFunc: func(_, obj any) { t.observe(obj, false) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			t.observe(obj, true)
		},
	}
}

func (t *tracker) observe(obj any, deleted bool) {
	r, ok := obj.(*octorunv1alpha1.Runner)
	if !ok {
		return
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	rt, ok := t.runners[string(r.UID)]
	if !ok {
		rt = &runnerTimes{seen: now, phases: map[octorunv1alpha1.RunnerPhase]time.Time{}}
		t.runners[string(r.UID)] = rt
	}
	if r.Spec.ID != 0 && rt.id == 0 {
		rt.id = r.Spec.ID
		t.byID[r.Spec.ID] = rt
	}
	rt.phase = r.Status.Phase
	if _, seen := rt.phases[r.Status.Phase]; !seen && r.Status.Phase != "" {
		rt.phases[r.Status.Phase] = now
		if r.Status.Phase == octorunv1alpha1.RunnerPhaseFailed {
			var why []string
			for _, c := range r.Status.Conditions {
				why = append(why, fmt.Sprintf("%s=%s/%s: %s", c.Type, c.Status, c.Reason, c.Message))
			}
			t.failures[strings.Join(why, "; ")]++
		}
	}
	rt.gone = rt.gone || deleted
}

// countPhase counts the Runners that exist and are in phase now.
func (t *tracker) countPhase(phase octorunv1alpha1.RunnerPhase) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, rt := range t.runners {
		if !rt.gone && rt.phase == phase {
			n++
		}
	}
	return n
}

// activeAt is when the bench first saw the Runner registered as GitHub
// runner id Active.
func (t *tracker) activeAt(id int64) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rt, ok := t.byID[id]
	if !ok {
		return time.Time{}, false
	}
	at, ok := rt.phases[octorunv1alpha1.RunnerPhaseActive]
	return at, ok
}

// readySince lists, in order, when Runners first seen after since were
// first ready to take a job.
func (t *tracker) readySince(since time.Time) []time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []time.Time
	for _, rt := range t.runners {
		if rt.seen.Before(since) {
			continue
		}
		if at, ok := rt.ready(); ok {
			out = append(out, at)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// failed returns how many Runners failed, by their conditions.
func (t *tracker) failed() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.failures)
}

// created counts the Runners seen at all.
func (t *tracker) created() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.runners)
}
