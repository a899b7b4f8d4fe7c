#!/usr/bin/env bash

# Copyright The Octorun Authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

# build-tools.sh builds the control plane used by the end-to-end tests and the
# local playground from the Go modules pinned in hack/tools/kube and
# hack/tools/kwok:
#
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok
#
# into _output/bin/ (or $OCTORUN_BIN_DIR), and copies the kwok stages shipped
# in the kwok module into <bin>/kwok-stages/. A binary whose stamp file
# (<bin>/.<name>.stamp) matches the pinned module versions, the Go version and
# the build flags is not rebuilt; delete the stamp or the binary to force it.
#
# Only Go is needed: every source comes from the Go module proxy.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${OCTORUN_BIN_DIR:-${REPO_ROOT}/_output/bin}"
KUBE_MODULE="${REPO_ROOT}/hack/tools/kube"
KWOK_MODULE="${REPO_ROOT}/hack/tools/kwok"

# kube_ldflags prints the -ldflags of the Kubernetes binaries, stamping them
# with the version of k8s.io/kubernetes pinned in the tools module: without
# the -X flags they report v0.0.0-master.
kube_ldflags() {
  local version major minor flags="-s -w" pkg
  version="$(cd "${KUBE_MODULE}" && go list -m -f '{{.Version}}' k8s.io/kubernetes)"
  IFS=. read -r major minor _ <<<"${version#v}"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X ${pkg}.gitVersion=${version}"
    flags+=" -X ${pkg}.gitMajor=${major}"
    flags+=" -X ${pkg}.gitMinor=${minor}"
  done
  echo "${flags}"
}

# kwok and etcd carry their versions as constants.
PLAIN_LDFLAGS="-s -w"

# The pinned go.mod/go.sum are the source of truth: never resolve anew, and
# never let a go.work elsewhere on the machine take over.
export GOWORK=off
export GOFLAGS="${GOFLAGS:-} -mod=readonly"

# The stages kwok needs to run nodes and pods, as shipped in its module.
KWOK_STAGES=(
  node/fast/node-initialize.yaml
  node/heartbeat-with-lease/node-heartbeat-with-lease.yaml
  pod/fast/pod-ready.yaml
  pod/fast/pod-complete.yaml
  pod/fast/pod-delete.yaml
)

log() {
  echo "build-tools: $*"
}

# stamp_of prints what a binary was built from: the tools module's go.mod and
# go.sum, the Go version, the package and the ldflags.
stamp_of() {
  local module="$1" pkg="$2" ldflags="$3"
  {
    cat "${module}/go.mod" "${module}/go.sum"
    echo "${GO_VERSION}"
    echo "${pkg}"
    echo "-trimpath ${ldflags}"
  } | sha256sum | cut -d' ' -f1
}

build_tool() {
  local name="$1" module="$2" pkg="$3" ldflags="$4"
  local bin="${BIN_DIR}/${name}" stamp_file="${BIN_DIR}/.${name}.stamp" stamp
  stamp="$(stamp_of "${module}" "${pkg}" "${ldflags}")"
  if [[ -x "${bin}" && -f "${stamp_file}" && "$(cat "${stamp_file}")" == "${stamp}" ]]; then
    log "${name} is up to date"
    return 0
  fi
  log "building ${name} (${pkg})"
  local start=${SECONDS}
  rm -f "${stamp_file}"
  # Build next to the target and rename, so an interrupted build never
  # leaves a half-written binary behind a valid stamp.
  (cd "${module}" && go build -trimpath -ldflags "${ldflags}" -o "${bin}.tmp" "${pkg}" 9>&-)
  mv -f "${bin}.tmp" "${bin}"
  echo "${stamp}" >"${stamp_file}"
  log "built ${name} in $((SECONDS - start))s"
}

copy_kwok_stages() {
  local src dst="${BIN_DIR}/kwok-stages" stamp_file="${BIN_DIR}/.kwok-stages.stamp" stamp
  stamp="$(stamp_of "${KWOK_MODULE}" "stages ${KWOK_STAGES[*]}" "")"
  if [[ -d "${dst}" && -f "${stamp_file}" && "$(cat "${stamp_file}")" == "${stamp}" ]]; then
    log "kwok stages are up to date"
    return 0
  fi
  # go list -m gives no Dir for a module missing from the module cache.
  (cd "${KWOK_MODULE}" && go mod download sigs.k8s.io/kwok 9>&-)
  src="$(cd "${KWOK_MODULE}" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok 9>&-)/kustomize/stage"
  rm -rf "${dst}" "${stamp_file}"
  mkdir -p "${dst}"
  for stage in "${KWOK_STAGES[@]}"; do
    # The module cache is read-only; the copies need not be.
    install -m 0644 "${src}/${stage}" "${dst}/$(basename "${stage}")"
  done
  echo "${stamp}" >"${stamp_file}"
  log "copied ${#KWOK_STAGES[@]} kwok stages to ${dst}"
}

main() {
  command -v go >/dev/null || { echo "build-tools: go is not on PATH" >&2; exit 1; }
  GO_VERSION="$(go env GOVERSION) $(go env GOOS)/$(go env GOARCH)"
  local kube_flags
  kube_flags="$(kube_ldflags)"
  # name|module dir|package|ldflags
  local tools=(
    "kube-apiserver|${KUBE_MODULE}|k8s.io/kubernetes/cmd/kube-apiserver|${kube_flags}"
    "kube-controller-manager|${KUBE_MODULE}|k8s.io/kubernetes/cmd/kube-controller-manager|${kube_flags}"
    "kube-scheduler|${KUBE_MODULE}|k8s.io/kubernetes/cmd/kube-scheduler|${kube_flags}"
    "kubectl|${KUBE_MODULE}|k8s.io/kubernetes/cmd/kubectl|${kube_flags}"
    "etcd|${KUBE_MODULE}|go.etcd.io/etcd/server/v3|${PLAIN_LDFLAGS}"
    "kwok|${KWOK_MODULE}|sigs.k8s.io/kwok/cmd/kwok|${PLAIN_LDFLAGS}"
  )

  mkdir -p "${BIN_DIR}"
  # Serialize concurrent runs, e.g. two test packages starting at once.
  if command -v flock >/dev/null; then
    exec 9>"${BIN_DIR}/.build.lock"
    flock -n 9 || { log "waiting for another build-tools.sh run"; flock 9; }
  fi
  log "output: ${BIN_DIR} (${GO_VERSION})"
  local start=${SECONDS} entry name module pkg ldflags
  for entry in "${tools[@]}"; do
    IFS='|' read -r name module pkg ldflags <<<"${entry}"
    build_tool "${name}" "${module}" "${pkg}" "${ldflags}"
  done
  copy_kwok_stages
  log "done in $((SECONDS - start))s"
}

main "$@"
