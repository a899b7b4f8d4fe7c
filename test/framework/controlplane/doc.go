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

// Package controlplane runs a real Kubernetes control plane on 127.0.0.1 for
// tests and local runs: etcd, kube-apiserver and, on request,
// kube-controller-manager, kube-scheduler and kwok with fake nodes.
//
// The binaries come from hack/build-tools.sh, which builds them from the Go
// modules pinned in hack/tools/ into _output/bin/ (or $OCTORUN_BIN_DIR).
// Start never builds: it fails with ErrBinariesMissing and the command to run
// instead. BuildTools runs the script, which returns at once when the
// binaries are up to date; the end-to-end tests call it from TestMain.
//
// Options.CRDs are applied before kube-controller-manager starts: it learns
// of CRDs created later only every 30s.
//
// Every process runs in its own process group, gets SIGKILL when the process
// that started it dies (Linux), and is killed by Stop. Component logs are
// written to <Dir>/logs/; Stop removes Dir unless KeepDir was called, which a
// caller does for a failed run.
//
// Restart crashes a component (SIGKILL) and starts it again with the same
// flags, data and certificates, and Pause and Resume freeze and continue one
// (SIGSTOP, SIGCONT), for tests of how clients live through an API server or
// etcd outage.
//
// Pods on kwok nodes become Running on their own. A Running pod exits when it
// gets the ExitCodeAnnotation: "0" makes it Succeeded, any other integer makes
// it Failed with that exit code, as a runner pod exits after its one job.
package controlplane
