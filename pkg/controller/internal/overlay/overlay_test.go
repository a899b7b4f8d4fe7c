package overlay

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

func pod(rv, phase string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", ResourceVersion: rv},
		Status:     corev1.PodStatus{Phase: corev1.PodPhase(phase)},
	}
}

func TestOverlayShowsTheNewestVersion(t *testing.T) {
	informer := informers.NewSharedInformerFactory(fake.NewClientset(), 0).Core().V1().Pods().Informer()
	c := New[*corev1.Pod](klog.Background(), informer, corev1.Resource("pods"))
	key := cache.ObjectName{Namespace: "ns", Name: "p"}
	store := informer.GetIndexer()

	if _, err := c.Get(key); !apierrors.IsNotFound(err) {
		t.Fatalf("Get of nothing = %v, want NotFound", err)
	}
	steps := []struct {
		name     string
		do       func()
		wantRV   string
		notFound bool
	}{
		{"the informer's", func() { _ = store.Add(pod("10", "Pending")) }, "10", false},
		{"our write, newer", func() { c.Wrote(pod("12", "Running")) }, "12", false},
		{"an older informer version stays hidden", func() { _ = store.Update(pod("11", "Pending")) }, "12", false},
		{"the informer caught up", func() { _ = store.Update(pod("13", "Succeeded")) }, "13", false},
		{"gone from the informer", func() { _ = store.Delete(pod("13", "Succeeded")) }, "", true},
	}
	for _, s := range steps {
		s.do()
		got, err := c.Get(key)
		if s.notFound {
			if !apierrors.IsNotFound(err) {
				t.Errorf("%s: Get = %v, %v; want NotFound", s.name, got, err)
			}
			continue
		}
		if err != nil || got.ResourceVersion != s.wantRV {
			t.Errorf("%s: Get = %v, %v; want resourceVersion %s", s.name, got, err, s.wantRV)
		}
	}
}
