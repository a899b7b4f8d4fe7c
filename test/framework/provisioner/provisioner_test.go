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

package provisioner

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"
)

func TestEnsureStorageClass(t *testing.T) {
	tests := []struct {
		name      string
		isDefault bool
		want      map[string]string
	}{
		{name: "default", isDefault: true, want: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
		{name: "not default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset()
			ctx := context.Background()
			if err := EnsureStorageClass(ctx, client, "fast", tt.isDefault); err != nil {
				t.Fatal(err)
			}
			// A second call finds it.
			if err := EnsureStorageClass(ctx, client, "fast", tt.isDefault); err != nil {
				t.Fatalf("Ensuring an existing StorageClass: %v", err)
			}
			got, err := client.StorageV1().StorageClasses().Get(ctx, "fast", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// The fake clientset adds type and managed fields.
			got.TypeMeta, got.ManagedFields = metav1.TypeMeta{}, nil
			want := &storagev1.StorageClass{
				ObjectMeta:        metav1.ObjectMeta{Name: "fast", Annotations: tt.want},
				Provisioner:       "octorun.test/fake",
				ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
				VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate),
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("StorageClass (-want +got):\n%s", diff)
			}
		})
	}
}

func claim(namespace, name, class string, uid types.UID) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: uid},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany},
			StorageClassName: &class,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}},
			VolumeMode:       ptr.To(corev1.PersistentVolumeFilesystem),
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
	}
}

func volume(name, class string, phase corev1.PersistentVolumePhase) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name)},
		Spec: corev1.PersistentVolumeSpec{
			StorageClassName:              class,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
		},
		Status: corev1.PersistentVolumeStatus{Phase: phase},
	}
}

// TestRun: a Pending claim of the class gets its volume; claims of another
// class, bound or being bound do not; a Released volume of the class goes,
// others stay.
func TestRun(t *testing.T) {
	bound := claim("ns", "bound", "fast", "uid-bound")
	bound.Spec.VolumeName = "elsewhere"
	kept := volume("kept", "fast", corev1.VolumeReleased)
	kept.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	client := fake.NewClientset(
		claim("ns", "work", "fast", "uid-work"),
		claim("ns", "other", "slow", "uid-other"),
		bound,
		volume("released", "fast", corev1.VolumeReleased),
		volume("released-slow", "slow", corev1.VolumeReleased),
		volume("in-use", "fast", corev1.VolumeBound),
		kept,
	)
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, client, "fast")
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	want := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "pvc-uid-work",
			Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": "octorun.test/fake"},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: "/tmp/pvc-uid-work", Type: ptr.To(corev1.HostPathDirectoryOrCreate),
			}},
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany},
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: "ns", Name: "work", UID: "uid-work",
			},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              "fast",
			VolumeMode:                    ptr.To(corev1.PersistentVolumeFilesystem),
		},
	}
	var got *corev1.PersistentVolume
	poll(t, "the claim's volume", func(ctx context.Context) (bool, error) {
		var err error
		got, err = client.CoreV1().PersistentVolumes().Get(ctx, want.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	// The fake clientset adds type and managed fields.
	got = &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: got.Name, Annotations: got.Annotations},
		Spec:       got.Spec,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Volume (-want +got):\n%s", diff)
	}
	poll(t, "the released volume to go", func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().PersistentVolumes().Get(ctx, "released", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})

	// A claim made while it runs.
	if _, err := client.CoreV1().PersistentVolumeClaims("ns").Create(ctx, claim("ns", "late", "fast", "uid-late"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, "the late claim's volume", func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().PersistentVolumes().Get(ctx, "pvc-uid-late", metav1.GetOptions{})
		return err == nil, nil
	})
	// A volume released while it runs.
	inUse, err := client.CoreV1().PersistentVolumes().Get(ctx, "in-use", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inUse.Status.Phase = corev1.VolumeReleased
	if _, err := client.CoreV1().PersistentVolumes().UpdateStatus(ctx, inUse, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, "the volume released later to go", func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().PersistentVolumes().Get(ctx, "in-use", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})

	list, err := client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, pv := range list.Items {
		names = append(names, pv.Name)
	}
	slices.Sort(names)
	wantNames := []string{"kept", "pvc-uid-late", "pvc-uid-work", "released-slow"}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("Volumes (-want +got):\n%s", diff)
	}
}

func poll(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 10*time.Second, true, cond); err != nil {
		t.Fatalf("Waiting for %s: %v", what, err)
	}
}
