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
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRenderFlags(t *testing.T) {
	defaults := []flag{{"a", "1"}, {"b", "2"}}
	tests := []struct {
		name  string
		extra []string
		want  []string
	}{
		{
			name: "defaults only",
			want: []string{"--a=1", "--b=2"},
		},
		{
			name:  "extra flag replaces a default in place",
			extra: []string{"--a=9"},
			want:  []string{"--a=9", "--b=2"},
		},
		{
			name:  "other extras follow in order",
			extra: []string{"--z=1", "--v", "--b=3", "-y=2"},
			want:  []string{"--a=1", "--b=3", "--z=1", "--v", "-y=2"},
		},
		{
			name:  "empty value replaces too",
			extra: []string{"--b="},
			want:  []string{"--a=1", "--b="},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, renderFlags(defaults, tt.extra)); diff != "" {
				t.Errorf("renderFlags() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func testLayout() layout {
	return layout{
		dir:                   "/tmp/cp",
		etcdClientPort:        2379,
		etcdPeerPort:          2380,
		apiServerPort:         6443,
		controllerManagerPort: 10257,
		schedulerPort:         10259,
	}
}

// flagMap returns the flags as name → values, in order.
func flagMap(flags []flag) map[string][]string {
	m := map[string][]string{}
	for _, f := range flags {
		m[f.name] = append(m[f.name], f.value)
	}
	return m
}

func TestComponentFlags(t *testing.T) {
	l := testLayout()
	tests := []struct {
		name  string
		flags []flag
		want  map[string]string // flag → value that must be set
		never []string          // flags that must not be set
	}{
		{
			name:  "etcd",
			flags: etcdFlags(l),
			want: map[string]string{
				"data-dir":           "/tmp/cp/etcd",
				"listen-client-urls": "http://127.0.0.1:2379",
				"listen-peer-urls":   "http://127.0.0.1:2380",
				"initial-cluster":    "octorun=http://127.0.0.1:2380",
				"unsafe-no-fsync":    "true",
				"heartbeat-interval": "10",
				"election-timeout":   "100",
			},
		},
		{
			name:  "kube-apiserver with controller-manager",
			flags: apiServerFlags(l, AllComponents),
			want: map[string]string{
				"etcd-servers":                     "http://127.0.0.1:2379",
				"bind-address":                     "127.0.0.1",
				"advertise-address":                "127.0.0.1",
				"secure-port":                      "6443",
				"endpoint-reconciler-type":         "none",
				"cert-dir":                         "/tmp/cp/pki",
				"service-account-key-file":         "/tmp/cp/pki/service-account.key",
				"service-account-signing-key-file": "/tmp/cp/pki/service-account.key",
				"service-account-issuer":           ServiceAccountIssuer,
				"token-auth-file":                  "/tmp/cp/pki/tokens.csv",
				"authorization-mode":               "RBAC",
				"service-cluster-ip-range":         ServiceClusterIPRange,
			},
			never: []string{"disable-admission-plugins"},
		},
		{
			name:  "kube-apiserver alone",
			flags: apiServerFlags(l, Components{}),
			want: map[string]string{
				"disable-admission-plugins": "ServiceAccount,TaintNodesByCondition",
			},
		},
		{
			name:  "kube-controller-manager",
			flags: controllerManagerFlags(l, nil),
			want: map[string]string{
				"kubeconfig":                            "/tmp/cp/kubeconfig",
				"secure-port":                           "10257",
				"bind-address":                          "127.0.0.1",
				"leader-elect":                          "false",
				"controllers":                           "*",
				"service-account-private-key-file":      "/tmp/cp/pki/service-account.key",
				"root-ca-file":                          "/tmp/cp/pki/ca.crt",
				"horizontal-pod-autoscaler-sync-period": "1s",
			},
		},
		{
			name:  "kube-controller-manager with chosen controllers",
			flags: controllerManagerFlags(l, []string{"garbage-collector-controller", "namespace-controller"}),
			want: map[string]string{
				"controllers": "garbage-collector-controller,namespace-controller",
			},
		},
		{
			name:  "kube-scheduler",
			flags: schedulerFlags(l),
			want: map[string]string{
				"kubeconfig":   "/tmp/cp/kubeconfig",
				"secure-port":  "10259",
				"bind-address": "127.0.0.1",
				"leader-elect": "false",
			},
		},
		{
			name:  "kwok",
			flags: kwokFlags(l, []string{"/s/a.yaml"}),
			want: map[string]string{
				"kubeconfig":                            "/tmp/cp/kubeconfig",
				"manage-all-nodes":                      "false",
				"manage-nodes-with-annotation-selector": "kwok.x-k8s.io/node=fake",
				"node-lease-duration-seconds":           "40",
				"config":                                "/s/a.yaml",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := flagMap(tt.flags)
			for name, want := range tt.want {
				if !slices.Equal(got[name], []string{want}) {
					t.Errorf("--%s = %q, want [%q]", name, got[name], want)
				}
			}
			for _, name := range tt.never {
				if _, ok := got[name]; ok {
					t.Errorf("--%s is set to %q, want it unset", name, got[name])
				}
			}
			for name, values := range got {
				if name != "config" && len(values) > 1 {
					t.Errorf("--%s is set %d times", name, len(values))
				}
			}
		})
	}
}

func TestKwokFlagsOneConfigPerStage(t *testing.T) {
	stages := []string{"/s/a.yaml", "/s/b.yaml", "/s/c.yaml"}
	got := flagMap(kwokFlags(testLayout(), stages))["config"]
	if diff := cmp.Diff(stages, got); diff != "" {
		t.Errorf("--config mismatch (-want +got):\n%s", diff)
	}
}

func TestKwokEnvIsolatesWorkDir(t *testing.T) {
	env := kwokEnv(testLayout())
	if len(env) != 1 || !strings.HasPrefix(env[0], "KWOK_WORKDIR=/tmp/cp/") {
		t.Errorf("kwokEnv() = %q, want KWOK_WORKDIR inside the control plane's dir", env)
	}
}
