package githubevents

import (
	"container/list"
	"sync"
	"time"
)

// expiringSet remembers keys for a time, and at most max of them: when full,
// the key added longest ago is forgotten first. It is safe for concurrent
// use.
type expiringSet[K comparable] struct {
	max int
	ttl time.Duration

	mu    sync.Mutex
	order *list.List // of *expiringEntry, newest first
	items map[K]*list.Element
}

type expiringEntry[K comparable] struct {
	key     K
	expires time.Time
}

func newExpiringSet[K comparable](max int, ttl time.Duration) *expiringSet[K] {
	return &expiringSet[K]{max: max, ttl: ttl, order: list.New(), items: map[K]*list.Element{}}
}

// add adds key unless it is there already, and says whether it added it.
func (s *expiringSet[K]) add(key K, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
	if _, ok := s.items[key]; ok {
		return false
	}
	for s.order.Len() >= s.max {
		s.removeLocked(s.order.Back())
	}
	s.items[key] = s.order.PushFront(&expiringEntry[K]{key: key, expires: now.Add(s.ttl)})
	return true
}

// contains says whether key is there and not expired.
func (s *expiringSet[K]) contains(key K, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.items[key]
	return ok && now.Before(e.Value.(*expiringEntry[K]).expires)
}

// remove forgets key.
func (s *expiringSet[K]) remove(key K) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.items[key]; ok {
		s.removeLocked(e)
	}
}

func (s *expiringSet[K]) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.order.Len()
}

// expireLocked drops the expired keys, oldest first. Every key lives for the
// same ttl, so they expire in the order they were added.
func (s *expiringSet[K]) expireLocked(now time.Time) {
	for e := s.order.Back(); e != nil; e = s.order.Back() {
		if now.Before(e.Value.(*expiringEntry[K]).expires) {
			return
		}
		s.removeLocked(e)
	}
}

func (s *expiringSet[K]) removeLocked(e *list.Element) {
	delete(s.items, e.Value.(*expiringEntry[K]).key)
	s.order.Remove(e)
}
