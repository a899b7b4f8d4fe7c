package runnerset

import (
	"sync"
	"time"
)

// expectationsTTL bounds how long unmet expectations block a set: a missed
// watch event must not freeze it forever.
const expectationsTTL = 5 * time.Minute

// expectations remember, per RunnerSet, the Runner creations and deletions
// the controller asked for and has not yet seen in its informer, as the
// ReplicaSet controller's UID-tracking expectations do. A set with unmet
// expectations is not managed: its cache is known to be stale, and acting on
// it would create duplicates or delete twice.
type expectations struct {
	mu  sync.Mutex
	m   map[string]*expectation
	now func() time.Time
}

type expectation struct {
	adds      int
	deletes   map[string]bool // Runner keys whose deletion is awaited
	timestamp time.Time
}

func newExpectations() *expectations {
	return &expectations{m: map[string]*expectation{}, now: time.Now}
}

// satisfied tells whether the set's cache can be trusted.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	if x.adds <= 0 && len(x.deletes) == 0 {
		return true
	}
	return e.now().Sub(x.timestamp) > expectationsTTL
}

// expect records the Runners a sync is about to create (a count: their
// names are generated) and delete (by key).
func (e *expectations) expect(key string, adds int, deletes []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expectation{adds: adds, deletes: map[string]bool{}, timestamp: e.now()}
	for _, r := range deletes {
		x.deletes[r] = true
	}
	e.m[key] = x
}

// creationObserved: the informer saw a Runner the set created (or a create
// failed and will not be seen).
func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok && x.adds > 0 {
		x.adds--
	}
}

// deletionObserved: the informer saw the Runner being deleted (or the delete
// failed and will not be seen).
func (e *expectations) deletionObserved(key, runner string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.deletes, runner)
	}
}

// forget drops a deleted set's expectations.
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
