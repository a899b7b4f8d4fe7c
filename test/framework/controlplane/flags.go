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

package controlplane

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Component names, also the names of their binaries, log files and keys of
// Options.ExtraArgs.
const (
	Etcd                  = "etcd"
	KubeAPIServer         = "kube-apiserver"
	KubeControllerManager = "kube-controller-manager"
	KubeScheduler         = "kube-scheduler"
	Kwok                  = "kwok"
	Kubectl               = "kubectl"
)

const (
	// ServiceClusterIPRange is the service CIDR of the API server.
	ServiceClusterIPRange = "10.96.0.0/16"
	// PodCIDR is where kwok takes pod IPs from.
	PodCIDR = "10.244.0.0/16"
	// ServiceAccountIssuer is the issuer of service account tokens.
	ServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
)

// layout says where a control plane's files are and which ports its
// components listen on; the flags are computed from it alone.
type layout struct {
	dir string // the control plane's temp dir

	etcdClientPort        int
	etcdPeerPort          int
	apiServerPort         int
	controllerManagerPort int
	schedulerPort         int
}

func (l layout) etcdDataDir() string { return filepath.Join(l.dir, "etcd") }
func (l layout) certDir() string     { return filepath.Join(l.dir, "pki") }
func (l layout) servingCert() string { return filepath.Join(l.certDir(), "apiserver.crt") }
func (l layout) caBundle() string    { return filepath.Join(l.certDir(), "ca.crt") }
func (l layout) serviceAccountKey() string {
	return filepath.Join(l.certDir(), "service-account.key")
}
func (l layout) tokenFile() string  { return filepath.Join(l.certDir(), "tokens.csv") }
func (l layout) kubeconfig() string { return filepath.Join(l.dir, "kubeconfig") }
func (l layout) logDir() string     { return filepath.Join(l.dir, "logs") }
func (l layout) kwokDir() string    { return filepath.Join(l.dir, "kwok") }
func (l layout) logFile(component string) string {
	return filepath.Join(l.logDir(), component+".log")
}
func (l layout) etcdURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(l.etcdClientPort)
}
func (l layout) apiServerURL() string {
	return "https://127.0.0.1:" + strconv.Itoa(l.apiServerPort)
}

// flag is one --name=value command-line flag.
type flag struct {
	name, value string
}

// renderFlags turns defaults into --name=value arguments, in order. An extra
// "--name=value" whose name is among the defaults replaces that default in
// place; the other extras follow, in their order.
func renderFlags(defaults []flag, extra []string) []string {
	overrides := make(map[string]string, len(extra))
	var rest []string
	for _, arg := range extra {
		name, value, ok := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if ok && hasFlag(defaults, name) {
			overrides[name] = value
			continue
		}
		rest = append(rest, arg)
	}
	args := make([]string, 0, len(defaults)+len(rest))
	for _, f := range defaults {
		value := f.value
		if v, ok := overrides[f.name]; ok {
			value = v
		}
		args = append(args, fmt.Sprintf("--%s=%s", f.name, value))
	}
	return append(args, rest...)
}

func hasFlag(flags []flag, name string) bool {
	for _, f := range flags {
		if f.name == name {
			return true
		}
	}
	return false
}

func etcdFlags(l layout) []flag {
	peerURL := "http://127.0.0.1:" + strconv.Itoa(l.etcdPeerPort)
	return []flag{
		{"name", "octorun"},
		{"data-dir", l.etcdDataDir()},
		{"listen-client-urls", l.etcdURL()},
		{"advertise-client-urls", l.etcdURL()},
		{"listen-peer-urls", peerURL},
		{"initial-advertise-peer-urls", peerURL},
		{"initial-cluster", "octorun=" + peerURL},
		// Test data need not survive a crash: skip fsync, elect at once.
		{"unsafe-no-fsync", "true"},
		{"heartbeat-interval", "10"},
		{"election-timeout", "100"},
		{"log-level", "warn"},
	}
}

func apiServerFlags(l layout, c Components) []flag {
	flags := []flag{
		{"etcd-servers", l.etcdURL()},
		{"bind-address", "127.0.0.1"},
		{"advertise-address", "127.0.0.1"},
		{"secure-port", strconv.Itoa(l.apiServerPort)},
		// The default reconciler refuses a loopback advertise address.
		{"endpoint-reconciler-type", "none"},
		{"cert-dir", l.certDir()},
		{"service-account-key-file", l.serviceAccountKey()},
		{"service-account-signing-key-file", l.serviceAccountKey()},
		{"service-account-issuer", ServiceAccountIssuer},
		{"token-auth-file", l.tokenFile()},
		{"authorization-mode", "RBAC"},
		{"service-cluster-ip-range", ServiceClusterIPRange},
		{"allow-privileged", "true"},
		{"profiling", "false"},
	}
	if !c.ControllerManager {
		// Without the controller-manager nobody creates the default service
		// account nor lifts the not-ready taint of new nodes: skip both.
		flags = append(flags, flag{"disable-admission-plugins", "ServiceAccount,TaintNodesByCondition"})
	}
	return flags
}

func controllerManagerFlags(l layout, controllers []string) []flag {
	if len(controllers) == 0 {
		controllers = []string{"*"}
	}
	return []flag{
		{"kubeconfig", l.kubeconfig()},
		{"bind-address", "127.0.0.1"},
		{"secure-port", strconv.Itoa(l.controllerManagerPort)},
		{"cert-dir", filepath.Join(l.dir, KubeControllerManager)},
		{"leader-elect", "false"},
		{"controllers", strings.Join(controllers, ",")},
		{"service-account-private-key-file", l.serviceAccountKey()},
		{"root-ca-file", l.caBundle()},
		// The default 15s makes every HPA test wait; a new HPA is first
		// synced one period after it is created.
		{"horizontal-pod-autoscaler-sync-period", "1s"},
		{"profiling", "false"},
	}
}

func schedulerFlags(l layout) []flag {
	return []flag{
		{"kubeconfig", l.kubeconfig()},
		{"bind-address", "127.0.0.1"},
		{"secure-port", strconv.Itoa(l.schedulerPort)},
		{"cert-dir", filepath.Join(l.dir, KubeScheduler)},
		{"leader-elect", "false"},
		{"profiling", "false"},
	}
}

// kwokFlags makes kwok manage the nodes that carry NodeAnnotation, with the
// stages in stageFiles (kwok refuses to run without stages).
func kwokFlags(l layout, stageFiles []string) []flag {
	flags := []flag{
		{"kubeconfig", l.kubeconfig()},
		{"manage-all-nodes", "false"},
		{"manage-nodes-with-annotation-selector", NodeAnnotation + "=" + NodeAnnotationValue},
		// kwok keeps node leases only when given their duration; without
		// them the node lifecycle controller finds the nodes unreachable
		// after its grace period (50s), taints them and evicts their pods.
		{"node-lease-duration-seconds", "40"},
		{"cidr", PodCIDR},
		{"node-ip", "127.0.0.1"},
	}
	for _, f := range stageFiles {
		flags = append(flags, flag{"config", f})
	}
	return flags
}

// kwokEnv keeps kwok away from the user's ~/.kwok, whose config it would
// otherwise load as well.
func kwokEnv(l layout) []string {
	return []string{"KWOK_WORKDIR=" + filepath.Join(l.kwokDir(), "workdir")}
}
