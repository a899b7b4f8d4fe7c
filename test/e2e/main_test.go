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
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/octorun/octorun/test/framework/controlplane"
)

// The control plane shared by the package's tests, set by TestMain.
var (
	// ControlPlane is the running control plane.
	ControlPlane *controlplane.ControlPlane
	// Config is the admin's client config; build other clients from it.
	Config *rest.Config
	// Client is the admin's clientset.
	Client kubernetes.Interface
)

const (
	// nodes is how many fake nodes the control plane runs.
	nodes = 2
	// crdDir holds Octorun's CRDs, relative to the repository root.
	crdDir = "manifests/crd"
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "e2e: "+format+"\n", args...)
	}

	if err := controlplane.BuildTools(ctx, "", os.Stderr); err != nil {
		logf("Building the control plane failed: %v", err)
		return 1
	}

	// A Ctrl-C or a SIGTERM must not leave the components running: stop
	// them, keeping their logs, then exit. The components run in their own
	// process groups, so the signal reaches this process only.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	go func() {
		sig, ok := <-signals
		if !ok {
			return
		}
		logf("Got %s: stopping the control plane", sig)
		controlplane.StopAll()
		os.Exit(1)
	}()

	// Octorun's CRDs go in before the controller-manager starts, so that
	// its HPA controller and garbage collector know them at once.
	var crds []string
	if root, err := controlplane.RepoRoot(); err == nil {
		if _, err := os.Stat(filepath.Join(root, crdDir)); err == nil {
			crds = append(crds, filepath.Join(root, crdDir))
		}
	}
	cp, err := controlplane.Start(ctx, controlplane.Options{
		Components: controlplane.AllComponents,
		Nodes:      nodes,
		CRDs:       crds,
		Logf:       logf,
	})
	if err != nil {
		logf("%v", err)
		return 1
	}
	ControlPlane, Config, Client = cp, cp.Config, cp.Client

	// A test that panics ends the process from its own goroutine, and no
	// deferred call here runs: the components then die with this process
	// (Pdeathsig) and the dir, whose path is logged above, stays.
	code := 1
	defer func() {
		if code != 0 {
			cp.KeepDir()
		}
		if err := cp.Stop(); err != nil {
			logf("Stopping the control plane: %v", err)
		}
	}()
	code = m.Run()
	if err := cp.Healthy(); err != nil {
		logf("A component died during the tests: %v", err)
		code = 1
	}
	return code
}
