package jobstore

import (
	"context"

	"k8s.io/klog/v2"
)

// prune deletes the keys that no longer tell anything (see prunable), one
// patch per ConfigMap that has some. Every replica prunes; the patches are
// idempotent.
func (s *Store) prune(ctx context.Context) {
	now := s.opts.Now()
	s.mu.RLock()
	work := map[string][]string{}
	finished := func(id int64) bool { k := s.jobs[id]; return k != nil && k.finished > 0 }
	for name, sh := range s.shards {
		if keys := sh.prunable(finished, now, s.opts.QueuedTTL, s.opts.FinishedTTL); len(keys) > 0 {
			work[name] = keys
		}
	}
	s.mu.RUnlock()
	for name, keys := range work {
		data := make(map[string]*string, len(keys))
		for _, k := range keys {
			data[k] = nil
		}
		if err := s.patch(ctx, name, data, reasonPrune); err != nil {
			klog.FromContext(ctx).Error(err, "Pruning the job store failed; the next round retries", "keys", len(keys))
		}
	}
}
