package jobstore

import (
	"context"
	"encoding/json"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// fieldManager is the field manager of the store's writes.
const fieldManager = "octorun-job-store"

// batch is the writes of one commit window, one patch of one ConfigMap.
// Its writers wait for done, then read err.
type batch struct {
	data map[string]*string
	err  error
	done chan struct{}
}

// write adds a key to the batch under way, starting one if there is none,
// and waits until the batch is written.
func (s *Store) write(ctx context.Context, key, value string) error {
	s.commitMu.Lock()
	if s.stopped {
		s.commitMu.Unlock()
		return errStopped
	}
	b := s.next
	if b == nil {
		b = &batch{data: map[string]*string{}, done: make(chan struct{})}
		s.next = b
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	b.data[key] = &value
	s.commitMu.Unlock()
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// commitLoop writes a batch CommitWindow after its first write (at once
// when it is negative), one batch at a time: writes that come while a batch
// is written join the next, so a busy receiver batches without a window. When
// ctx is done it refuses new writes and writes the batch under way, so the
// deliveries waiting for it are answered.
func (s *Store) commitLoop(ctx context.Context) {
	for {
		select {
		case <-s.kick:
		case <-ctx.Done():
			s.commitMu.Lock()
			s.stopped = true
			s.commitMu.Unlock()
			s.commit(context.WithoutCancel(ctx))
			return
		}
		if s.opts.CommitWindow > 0 {
			timer := time.NewTimer(s.opts.CommitWindow)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
			}
		}
		s.commit(context.WithoutCancel(ctx))
	}
}

// commit writes the batch under way in one patch, to the smallest
// ConfigMap.
func (s *Store) commit(ctx context.Context) {
	s.commitMu.Lock()
	b := s.next
	s.next = nil
	s.commitMu.Unlock()
	if b == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.CommitTimeout)
	defer cancel()
	b.err = s.patch(ctx, s.target(), b.data, reasonCommit)
	s.metrics.batchKeys.Observe(float64(len(b.data)))
	close(b.done)
}

// patch merges data into the ConfigMap name, creating it the first time.
func (s *Store) patch(ctx context.Context, name string, data map[string]*string, reason string) error {
	logger := klog.FromContext(ctx)
	body, err := json.Marshal(map[string]any{"data": data})
	if err != nil {
		return err
	}
	cms := s.client.CoreV1().ConfigMaps(s.opts.Namespace)
	// Patch, or create when missing; a create that lost to another
	// replica's is a patch again.
	for attempt := 1; ; attempt++ {
		_, err = cms.Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: fieldManager})
		s.metrics.observePatch(reason, err)
		if !apierrors.IsNotFound(err) || attempt == 3 {
			break
		}
		if reason == reasonPrune {
			return nil // nothing to prune in a ConfigMap that is gone
		}
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.opts.Namespace,
				Labels: map[string]string{Label: "", "app.kubernetes.io/name": "octorun"}},
			Data: map[string]string{},
		}
		for k, v := range data {
			if v != nil {
				cm.Data[k] = *v
			}
		}
		_, err = cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: fieldManager})
		s.metrics.observePatch(reason, err)
		if !apierrors.IsAlreadyExists(err) {
			if err == nil {
				logger.V(2).Info("Created a ConfigMap of the job store", "configMap", klog.KObj(cm))
			}
			break
		}
		// Another replica created it meanwhile: patch it.
	}
	if err != nil {
		return wrapPatch(name, err)
	}
	logger.V(4).Info("Wrote the job store", "configMap", klog.KRef(s.opts.Namespace, name), "keys", len(data), "reason", reason)
	return nil
}
