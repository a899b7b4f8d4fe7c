package install

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned"
)

// GrantHost is the host Grant opens: the GitHub simulator plays github.com.
const GrantHost = "https://github.com"

// Grant creates, or replaces, the ScopeGrant name that lets the namespaces
// register runners anywhere on GitHub, in any runner group: what a cluster
// of one tenant grants, and what the tests that are not about tenancy need
// (a fresh install grants nothing).
func Grant(ctx context.Context, config *rest.Config, name string, namespaces ...string) error {
	client, err := versioned.NewForConfig(config)
	if err != nil {
		return err
	}
	grant := &octorunv1alpha1.ScopeGrant{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: octorunv1alpha1.ScopeGrantSpec{
			Namespaces: namespaces,
			Scopes:     []octorunv1alpha1.GrantedScope{{URL: GrantHost, RunnerGroups: []string{"*"}}},
		},
	}
	grants := client.OctorunV1alpha1().ScopeGrants()
	_, err = grants.Create(ctx, grant, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		var old *octorunv1alpha1.ScopeGrant
		if old, err = grants.Get(ctx, name, metav1.GetOptions{}); err == nil {
			grant.ResourceVersion = old.ResourceVersion
			_, err = grants.Update(ctx, grant, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		return fmt.Errorf("granting namespaces %v every scope: %w", namespaces, err)
	}
	return nil
}
