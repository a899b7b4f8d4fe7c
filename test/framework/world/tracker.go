package world

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

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// runnerTimes is when the tracker first saw a Runner, and in each phase.
type runnerTimes struct {
	name   string
	seen   time.Time
	id     int64 // spec.id, once registered
	phases map[octorunv1alpha1.RunnerPhase]time.Time
	phase  octorunv1alpha1.RunnerPhase
	gone   bool
	// jobAssigned: the Runner's status said GitHub gave it a job
	// (JobAssigned true), in any phase.
	jobAssigned bool
}

// ready is when the Runner could first take a job: Idle, or Active if the
// tracker never saw it Idle.
func (r *runnerTimes) ready() (time.Time, bool) {
	if t, ok := r.phases[octorunv1alpha1.RunnerPhaseIdle]; ok {
		return t, true
	}
	t, ok := r.phases[octorunv1alpha1.RunnerPhaseActive]
	return t, ok
}

// Tracker records what the Runners went through, from a Runner informer.
type Tracker struct {
	mu      sync.Mutex
	runners map[string]*runnerTimes // by UID
	byID    map[int64]*runnerTimes
	names   map[string]int // Runners seen, by name
	// failures counts the Runners that failed, by their conditions.
	failures map[string]int
	// reasons holds a message of each reason of a false condition seen
	// since the last TakeReasons, by condition type.
	reasons map[string]map[string]string
}

func newTracker() *Tracker {
	return &Tracker{
		runners: map[string]*runnerTimes{}, byID: map[int64]*runnerTimes{}, names: map[string]int{},
		failures: map[string]int{}, reasons: map[string]map[string]string{},
	}
}

func (t *Tracker) handler() cache.ResourceEventHandler {
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

func (t *Tracker) observe(obj any, deleted bool) {
	r, ok := obj.(*octorunv1alpha1.Runner)
	if !ok {
		return
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	rt, ok := t.runners[string(r.UID)]
	if !ok {
		rt = &runnerTimes{name: r.Name, seen: now, phases: map[octorunv1alpha1.RunnerPhase]time.Time{}}
		t.runners[string(r.UID)] = rt
		t.names[r.Name]++
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
	for _, c := range r.Status.Conditions {
		if c.Type == octorunv1alpha1.RunnerConditionJobAssigned && c.Status == metav1.ConditionTrue {
			rt.jobAssigned = true
		}
		if c.Status == metav1.ConditionTrue {
			continue
		}
		if t.reasons[c.Type] == nil {
			t.reasons[c.Type] = map[string]string{}
		}
		t.reasons[c.Type][c.Reason] = c.Message
	}
}

// TakeReasons returns the reasons (with a message of each) of the
// conditions of type condType seen false since the last call, and forgets
// them.
func (t *Tracker) TakeReasons(condType string) map[string]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.reasons[condType]
	delete(t.reasons, condType)
	if out == nil {
		out = map[string]string{}
	}
	return out
}

// CountPhase counts the Runners that exist and are in phase now.
func (t *Tracker) CountPhase(phase octorunv1alpha1.RunnerPhase) int {
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

// Live counts the Runners that exist now, in any phase.
func (t *Tracker) Live() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, rt := range t.runners {
		if !rt.gone {
			n++
		}
	}
	return n
}

// ActiveAt is when the tracker first saw the Runner registered as GitHub
// runner id Active.
func (t *Tracker) ActiveAt(id int64) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rt, ok := t.byID[id]
	if !ok {
		return time.Time{}, false
	}
	at, ok := rt.phases[octorunv1alpha1.RunnerPhaseActive]
	return at, ok
}

// RecordedJob says whether the Runner registered as GitHub runner id
// recorded a job in its status: seen Active, or with JobAssigned true (a
// Runner whose job started and ended between two of its syncs goes from
// Pending or Idle to Complete, its job in the condition).
func (t *Tracker) RecordedJob(id int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	rt, ok := t.byID[id]
	if !ok {
		return false
	}
	_, active := rt.phases[octorunv1alpha1.RunnerPhaseActive]
	return active || rt.jobAssigned
}

// ReadySince lists, in order, when Runners first seen after since were
// first ready to take a job: first seen Idle or Active, or, when sooner,
// when GitHub started a job on them (jobStarts, by GitHub runner id; nil
// for none), as a Runner may take a job before its Idle status is written.
func (t *Tracker) ReadySince(since time.Time, jobStarts map[int64]time.Time) []time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []time.Time
	for _, rt := range t.runners {
		if rt.seen.Before(since) {
			continue
		}
		at, ok := rt.ready()
		if started, took := jobStarts[rt.id]; took && rt.id != 0 && (!ok || started.Before(at)) {
			at, ok = started, true
		}
		if ok {
			out = append(out, at)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// Failed returns how many Runners failed, by their conditions.
func (t *Tracker) Failed() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.failures)
}

// Created counts the Runners seen at all.
func (t *Tracker) Created() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.runners)
}

// RegisteredIDs counts, by GitHub runner id, the Runners that carried it:
// more than one is a runner registered twice.
func (t *Tracker) RegisteredIDs() map[int64]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[int64]int{}
	for _, rt := range t.runners {
		if rt.id != 0 {
			out[rt.id]++
		}
	}
	return out
}

// ReusedNames lists the Runner names seen on more than one object: a
// RunnerSet's names are random, so a reuse is a Runner created twice.
func (t *Tracker) ReusedNames() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for name, n := range t.names {
		if n > 1 {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// PodTracker records the pods each Runner had, from a pod informer.
type PodTracker struct {
	mu   sync.Mutex
	pods map[string]map[string]bool // Runner name → pod UIDs
}

func (t *PodTracker) handler() cache.ResourceEventHandler {
	observe := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		owner := metav1.GetControllerOf(pod)
		if owner == nil || owner.Kind != "Runner" {
			return
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.pods[owner.Name] == nil {
			t.pods[owner.Name] = map[string]bool{}
		}
		t.pods[owner.Name][string(pod.UID)] = true
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    observe,
		UpdateFunc: func(_, obj any) { observe(obj) },
		DeleteFunc: observe,
	}
}

// Created counts the pods seen.
func (t *PodTracker) Created() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, uids := range t.pods {
		n += len(uids)
	}
	return n
}

// Twice lists the Runners that had more than one pod.
func (t *PodTracker) Twice() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for name, uids := range t.pods {
		if len(uids) > 1 {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
