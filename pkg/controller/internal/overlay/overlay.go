// Package overlay is an informer cache with a controller's own writes laid
// over it until the informer catches up (client-go's MutationCache), so a
// sync right after a write works from the written version instead of
// meeting a conflict.
package overlay

import (
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// ttl is how long a write is laid over the informer's version: far longer
// than a watch event takes to arrive.
const ttl = time.Minute

// Cache holds objects of type T, e.g. *v1alpha1.Runner.
type Cache[T runtime.Object] struct {
	resource schema.GroupResource
	mutation cache.MutationCache
}

// New returns the overlay of an informer's cache of resource.
func New[T runtime.Object](logger klog.Logger, informer cache.SharedIndexInformer, resource schema.GroupResource) *Cache[T] {
	return &Cache[T]{
		resource: resource,
		mutation: cache.NewIntegerResourceVersionMutationCache(logger, informer.GetStore(), informer.GetIndexer(), ttl, false),
	}
}

// Get returns the newest version this process knows of an object: the
// informer's, or the one its last write returned. An object the informer no
// longer has is NotFound.
func (c *Cache[T]) Get(key cache.ObjectName) (T, error) {
	var zero T
	obj, exists, err := c.mutation.GetByKey(key.String())
	if err != nil {
		return zero, err
	}
	t, ok := obj.(T)
	if !exists || !ok {
		return zero, apierrors.NewNotFound(c.resource, key.Name)
	}
	return t, nil
}

// Wrote lays an object returned by a write over the cache.
func (c *Cache[T]) Wrote(obj T) {
	c.mutation.Mutation(obj)
}
