package e2e

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// TestRunnerQuota: a ResourceQuota on count/runners.octorun.github.io, as
// docs/security.md shows, bounds a tenant's Runners: a RunnerSet asking
// for more keeps the quota's number, says why in its RunnerFailure
// condition, and makes the rest once the quota is raised.
func TestRunnerQuota(t *testing.T) {
	e := startRunnerEnv(t)
	ctx := context.Background()
	quota := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "runners"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/runners.octorun.github.io": resource.MustParse("2")}},
	}
	if _, err := Client.CoreV1().ResourceQuotas(e.ns).Create(ctx, quota, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The quota admits nothing until the controller-manager has counted.
	Eventually(t, "the quota to be counted", func(ctx context.Context) (bool, error) {
		q, err := Client.CoreV1().ResourceQuotas(e.ns).Get(ctx, "runners", metav1.GetOptions{})
		return err == nil && q.Status.Hard != nil, err
	})

	labels := map[string]string{octorunv1alpha1.LabelRunnerSet: "pool"}
	set := &octorunv1alpha1.RunnerSet{
		ObjectMeta: metav1.ObjectMeta{Name: "pool"},
		Spec: octorunv1alpha1.RunnerSetSpec{
			Runners:  ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: octorunv1alpha1.RunnerTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       octorunv1alpha1.RunnerSpec{URL: "https://github.com/octo"},
			},
		},
	}
	if _, err := e.client.OctorunV1alpha1().RunnerSets(e.ns).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "the RunnerSet to report the quota", func(ctx context.Context) (bool, error) {
		s, err := e.client.OctorunV1alpha1().RunnerSets(e.ns).Get(ctx, "pool", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		c := meta.FindStatusCondition(s.Status.Conditions, octorunv1alpha1.RunnerSetConditionRunnerFailure)
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == octorunv1alpha1.ReasonFailedCreate &&
			strings.Contains(c.Message, "exceeded quota"), nil
	})
	e.waitForIdle(t, "pool", 2)
	if _, n, err := e.setRunners(ctx, "pool"); err != nil || n != 2 {
		t.Errorf("The set has %d Runners (%v), want the quota's 2", n, err)
	}

	quota.Spec.Hard["count/runners.octorun.github.io"] = resource.MustParse("3")
	if _, err := Client.CoreV1().ResourceQuotas(e.ns).Update(ctx, quota, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitForIdle(t, "pool", 3)
}
