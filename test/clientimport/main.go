// Command clientimport is a program of another module that uses Octorun's
// generated clientset, informers and listers, as other tools do. It is built
// by .ci/run to prove the generated packages can be imported from outside.
//
// Run against a cluster it lists the RunnerSets of a namespace with their
// scale, and the Runners from an informer's cache.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/octorun/octorun/pkg/generated/clientset/versioned"
	informers "github.com/octorun/octorun/pkg/generated/informers/externalversions"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "path to a kubeconfig")
	namespace := flag.String("namespace", "default", "namespace to list")
	flag.Parse()

	if err := run(*kubeconfig, *namespace); err != nil {
		fmt.Fprintln(os.Stderr, "clientimport:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, namespace string) error {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	client, err := versioned.NewForConfig(config)
	if err != nil {
		return fmt.Errorf("creating the Octorun clientset: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	sets, err := client.OctorunV1alpha1().RunnerSets(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing RunnerSets: %w", err)
	}
	for _, set := range sets.Items {
		scale, err := client.OctorunV1alpha1().RunnerSets(namespace).GetScale(ctx, set.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading the scale of RunnerSet %s: %w", set.Name, err)
		}
		fmt.Printf("runnerset/%s\tdesired=%d\tcurrent=%d\n", set.Name, scale.Spec.Replicas, scale.Status.Replicas)
	}

	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(namespace))
	runners := factory.Octorun().V1alpha1().Runners()
	lister := runners.Lister()
	factory.Start(ctx.Done())
	defer func() {
		cancel()
		factory.Shutdown()
	}()
	if !cache.WaitForCacheSync(ctx.Done(), runners.Informer().HasSynced) {
		return fmt.Errorf("the Runner informer did not sync")
	}
	list, err := lister.Runners(namespace).List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing Runners from the cache: %w", err)
	}
	for _, r := range list {
		fmt.Printf("runner/%s\tid=%d\tphase=%s\n", r.Name, r.Spec.ID, r.Status.Phase)
	}
	return nil
}
