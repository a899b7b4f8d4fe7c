/*
Copyright The Octorun Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Package provisioner plays a dynamic volume provisioner for tests: the test
// control plane runs no storage driver, so a PersistentVolumeClaim would stay
// Pending, and a pod using it unscheduled. Run makes a PersistentVolume for
// each claim of a StorageClass, as an external provisioner does, and the
// controller-manager's PersistentVolume controller binds the two; it deletes
// the volume when its claim is gone. The volumes are hostPath volumes no
// container mounts (kwok plays the pods).
package provisioner

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

const (
	// Name is the provisioner of the StorageClasses EnsureStorageClass
	// creates.
	Name = "octorun.test/fake"

	// annDefaultClass makes a StorageClass the cluster's default.
	annDefaultClass = "storageclass.kubernetes.io/is-default-class"
	// annProvisionedBy names the provisioner of a volume: the
	// PersistentVolume controller leaves the deletion of a volume an
	// external provisioner made to it, instead of trying an in-tree plugin
	// (hostPath's would remove the path on the controller-manager's host).
	annProvisionedBy = "pv.kubernetes.io/provisioned-by"
)

// EnsureStorageClass creates StorageClass name, provisioned by Run, binding
// its claims at once (no wait for a pod) and the cluster's default class
// when isDefault. A class of that name already there is left as it is.
func EnsureStorageClass(ctx context.Context, client kubernetes.Interface, name string, isDefault bool) error {
	class := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: name},
		Provisioner:       Name,
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate),
	}
	if isDefault {
		class.Annotations = map[string]string{annDefaultClass: "true"}
	}
	_, err := client.StorageV1().StorageClasses().Create(ctx, class, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating StorageClass %s: %w", name, err)
	}
	return nil
}

// key is a claim (namespace and name) or a volume (name only).
type key struct {
	volume          bool
	namespace, name string
}

type provisioner struct {
	client    kubernetes.Interface
	className string
	claims    corelisters.PersistentVolumeClaimLister
	volumes   corelisters.PersistentVolumeLister
	queue     workqueue.TypedRateLimitingInterface[key]
}

// Run provisions the claims of StorageClass className until ctx is done:
// for each Pending claim without a volume, a hostPath volume at /tmp/<name>
// of the size and access modes it requests, bound to it in advance by
// claimRef, with reclaim policy Delete; and it deletes a Released volume of
// the class. Errors are logged and retried.
func Run(ctx context.Context, client kubernetes.Interface, className string) {
	logger := klog.FromContext(ctx).WithValues("storageClass", className)
	ctx = klog.NewContext(ctx, logger)
	factory := informers.NewSharedInformerFactory(client, 0)
	claims := factory.Core().V1().PersistentVolumeClaims()
	volumes := factory.Core().V1().PersistentVolumes()
	p := &provisioner{
		client:    client,
		className: className,
		claims:    claims.Lister(),
		volumes:   volumes.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[key](10*time.Millisecond, time.Second),
			workqueue.TypedRateLimitingQueueConfig[key]{Name: "provisioner"}),
	}
	defer p.queue.ShutDown()
	enqueue := func(obj any) {
		if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tombstone.Obj
		}
		switch o := obj.(type) {
		case *corev1.PersistentVolumeClaim:
			p.queue.Add(key{namespace: o.Namespace, name: o.Name})
		case *corev1.PersistentVolume:
			p.queue.Add(key{volume: true, name: o.Name})
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}
	if _, err := claims.Informer().AddEventHandler(handler); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Watching claims")
		return
	}
	if _, err := volumes.Informer().AddEventHandler(handler); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Watching volumes")
		return
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForNamedCacheSync("provisioner", ctx.Done(), claims.Informer().HasSynced, volumes.Informer().HasSynced) {
		return
	}
	go wait.UntilWithContext(ctx, p.work, time.Second)
	<-ctx.Done()
}

func (p *provisioner) work(ctx context.Context) {
	for {
		k, shutdown := p.queue.Get()
		if shutdown {
			return
		}
		var err error
		if k.volume {
			err = p.syncVolume(ctx, k.name)
		} else {
			err = p.syncClaim(ctx, k.namespace, k.name)
		}
		if err != nil {
			klog.FromContext(ctx).Error(err, "Provisioning failed; retrying", "key", k)
			p.queue.AddRateLimited(k)
		} else {
			p.queue.Forget(k)
		}
		p.queue.Done(k)
	}
}

// volumeName is the name of the volume of a claim, as external
// provisioners name them: a retry finds the volume it made.
func volumeName(claim *corev1.PersistentVolumeClaim) string {
	return "pvc-" + string(claim.UID)
}

// syncClaim makes the volume of a Pending claim of the class.
func (p *provisioner) syncClaim(ctx context.Context, namespace, name string) error {
	claim, err := p.claims.PersistentVolumeClaims(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ptr.Deref(claim.Spec.StorageClassName, "") != p.className || claim.Spec.VolumeName != "" ||
		claim.Status.Phase != corev1.ClaimPending || claim.DeletionTimestamp != nil {
		return nil
	}
	pv := newVolume(claim)
	if _, err := p.volumes.Get(pv.Name); err == nil {
		return nil // made already; the PersistentVolume controller binds it
	}
	_, err = p.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating volume %s for claim %s/%s: %w", pv.Name, namespace, name, err)
	}
	klog.FromContext(ctx).V(2).Info("Provisioned a volume", "persistentVolume", pv.Name, "persistentVolumeClaim", klog.KObj(claim))
	return nil
}

// newVolume returns the volume Run makes for claim: a hostPath volume
// bound to it in advance, of the claim's class, size, access modes and
// volume mode, deleted when the claim goes.
func newVolume(claim *corev1.PersistentVolumeClaim) *corev1.PersistentVolume {
	name := volumeName(claim)
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{annProvisionedBy: Name},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity: corev1.ResourceList{corev1.ResourceStorage: claim.Spec.Resources.Requests[corev1.ResourceStorage]},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + name, Type: ptr.To(corev1.HostPathDirectoryOrCreate)},
			},
			AccessModes: append([]corev1.PersistentVolumeAccessMode(nil), claim.Spec.AccessModes...),
			ClaimRef: &corev1.ObjectReference{
				Kind:       "PersistentVolumeClaim",
				APIVersion: "v1",
				Namespace:  claim.Namespace,
				Name:       claim.Name,
				UID:        claim.UID,
			},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              ptr.Deref(claim.Spec.StorageClassName, ""),
			VolumeMode:                    claim.Spec.VolumeMode,
		},
	}
}

// syncVolume deletes a Released volume of the class whose reclaim policy
// is Delete.
func (p *provisioner) syncVolume(ctx context.Context, name string) error {
	pv, err := p.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pv.Spec.StorageClassName != p.className || pv.Status.Phase != corev1.VolumeReleased ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.DeletionTimestamp != nil {
		return nil
	}
	err = p.client.CoreV1().PersistentVolumes().Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pv.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting released volume %s: %w", name, err)
	}
	klog.FromContext(ctx).V(2).Info("Deleted a released volume", "persistentVolume", name)
	return nil
}
