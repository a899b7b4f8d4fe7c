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

// Package e2e holds Octorun's end-to-end tests. TestMain builds the control
// plane's binaries when they are not built yet (hack/build-tools.sh; a cold
// build takes minutes, so give go test a -timeout above 10m or run the script
// first), starts one control plane for the package (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok with fake nodes) with
// Octorun's CRDs from manifests/crd applied before the controller-manager
// starts, and stops it at the end, also on SIGINT or SIGTERM. Each test gets
// its own namespace from NewNamespace; Kubectl runs the built kubectl
// against the control plane; Config and Client are the admin's.
//
// Set OCTORUN_BIN_DIR to use binaries built elsewhere.
package e2e
