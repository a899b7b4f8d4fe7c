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

package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/octorun/octorun/pkg/admission"
	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned"
)

// scaleRefusal is the part of the webhook's refusal of a scale write to a
// scale-set RunnerSet that tells the user what to change instead.
const scaleRefusal = "change spec.scaleSet.minRunners or maxRunners instead"

// TestScaleSetRefusesScaling writes the scale subresource of RunnerSets as
// an HPA (the typed client's UpdateScale) and kubectl scale do, through
// the shipped webhook configurations: refused for a scale-set RunnerSet,
// whose spec.runners follows the jobs GitHub assigns to it, and allowed for
// a webhook-mode RunnerSet. No controller runs: the webhook alone decides.
func TestScaleSetRefusesScaling(t *testing.T) {
	t.Parallel()
	client := InstallCRDs(t)
	ns := NewNamespace(t)
	ctx := context.Background()
	sets := client.OctorunV1alpha1().RunnerSets(ns)
	startAdmissionWebhook(t, client, admissionWebhookOptions{
		namespaces: []string{ns},
		admitter: admission.Options{
			OctorunUsernames: []string{admission.ServiceAccountUsername(ns, "octorun")},
			StorageClasses:   noDefaultStorageClass{},
			// Read live rather than from a cache, so that the webhook
			// knows a RunnerSet as soon as it is created.
			RunnerSets: admission.RunnerSetsFunc(func(namespace, name string) (*octorunv1alpha1.RunnerSet, error) {
				return client.OctorunV1alpha1().RunnerSets(namespace).Get(context.Background(), name, metav1.GetOptions{})
			}),
		},
	})

	scaleSet := testRunnerSet("scale-set")
	scaleSet.Spec.ScaleSet = &octorunv1alpha1.RunnerScaleSetSpec{MaxRunners: ptr.To[int32](3)}
	if _, err := sets.Create(ctx, scaleSet, metav1.CreateOptions{}); err != nil {
		t.Fatalf("Creating the scale-set RunnerSet: %v", err)
	}
	if _, err := sets.Create(ctx, testRunnerSet("plain"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("Creating the plain RunnerSet: %v", err)
	}

	t.Run("scale set", func(t *testing.T) {
		before := runnerSetRunners(t, client, ns, "scale-set")
		refusal := updateScale(ctx, client, ns, "scale-set", 2)
		if err := expectScaleRefused(refusal); err != nil {
			t.Errorf("UpdateScale: %v", err)
		} else {
			t.Logf("UpdateScale refused: %v", refusal)
		}
		out, err := Kubectl("scale", "-n", ns, "runnerset/scale-set", "--replicas=2")
		switch {
		case err == nil:
			t.Errorf("kubectl scale succeeded (%q), want refused", out)
		case !strings.Contains(err.Error(), "denied the request") || !strings.Contains(err.Error(), scaleRefusal):
			t.Errorf("kubectl scale failed with %q, want the webhook's refusal %q", err, scaleRefusal)
		default:
			t.Logf("kubectl scale refused: %v", err)
		}
		if got := runnerSetRunners(t, client, ns, "scale-set"); got != before {
			t.Errorf("spec.runners = %d after the refused scale writes, want %d as before", got, before)
		}
	})

	t.Run("webhook mode", func(t *testing.T) {
		MustKubectl(t, "scale", "-n", ns, "runnerset/plain", "--replicas=2")
		if got := runnerSetRunners(t, client, ns, "plain"); got != 2 {
			t.Errorf("spec.runners = %d after kubectl scale --replicas=2, want 2", got)
		}
		if err := updateScale(ctx, client, ns, "plain", 3); err != nil {
			t.Fatalf("UpdateScale to 3: %v", err)
		}
		if got := runnerSetRunners(t, client, ns, "plain"); got != 3 {
			t.Errorf("spec.runners = %d after UpdateScale to 3, want 3", got)
		}
	})
}

// updateScale sets the replicas of the scale subresource of RunnerSet
// ns/name, as an HPA does: read the Scale, write it back changed.
func updateScale(ctx context.Context, client versioned.Interface, ns, name string, replicas int32) error {
	sets := client.OctorunV1alpha1().RunnerSets(ns)
	scale, err := sets.GetScale(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("GetScale: %w", err)
	}
	scale.Spec.Replicas = replicas
	_, err = sets.UpdateScale(ctx, name, scale, metav1.UpdateOptions{})
	return err
}

// expectScaleRefused checks that err is the webhook's refusal of a scale
// write to a scale-set RunnerSet.
func expectScaleRefused(err error) error {
	if err == nil {
		return errors.New("accepted, want refused")
	}
	if !apierrors.IsForbidden(err) {
		return fmt.Errorf("error %q is not Forbidden", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "denied the request") || !strings.Contains(msg, scaleRefusal) {
		return fmt.Errorf("error %q is not the webhook's refusal naming spec.scaleSet", err)
	}
	return nil
}

// runnerSetRunners returns spec.runners of RunnerSet ns/name.
func runnerSetRunners(t *testing.T, client versioned.Interface, ns, name string) int32 {
	t.Helper()
	set, err := client.OctorunV1alpha1().RunnerSets(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if set.Spec.Runners == nil {
		t.Fatalf("RunnerSet %s/%s has no spec.runners", ns, name)
	}
	return *set.Spec.Runners
}
