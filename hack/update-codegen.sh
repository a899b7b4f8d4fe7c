#!/usr/bin/env bash
# Regenerates everything generated from the API types in pkg/apis:
#   - deepcopy functions (zz_generated.deepcopy.go),
#   - the typed clientset (with fake), listers and informers in pkg/generated,
#   - the CustomResourceDefinitions in manifests/crd,
#   - the API reference in docs/api-reference.md.
# Tool versions are pinned by hack/tools/go.mod; a fresh machine needs only Go.
set -o errexit -o nounset -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
MODULE="github.com/octorun/octorun"
# The generator binaries are kept out of the tree; verify-codegen.sh points
# this at the real checkout so a copy of the tree reuses them.
TOOLS_BIN="${OCTORUN_TOOLS_BIN:-${ROOT}/_output/bin/codegen}"
mkdir -p "${TOOLS_BIN}"

cd "${ROOT}/hack/tools"
go mod download k8s.io/code-generator
CODEGEN_PKG="$(go list -m -f '{{.Dir}}' k8s.io/code-generator)"
go build -o "${TOOLS_BIN}/controller-gen" sigs.k8s.io/controller-tools/cmd/controller-gen
cd "${ROOT}/hack/tools/docs"
go build -o "${TOOLS_BIN}/crd-ref-docs" github.com/elastic/crd-ref-docs
cd "${ROOT}"

export GOBIN="${TOOLS_BIN}"
# shellcheck source=/dev/null
source "${CODEGEN_PKG}/kube_codegen.sh"

BOILERPLATE="${ROOT}/hack/boilerplate.go.txt"

kube::codegen::gen_helpers \
    --boilerplate "${BOILERPLATE}" \
    "${ROOT}/pkg/apis"

kube::codegen::gen_client \
    --with-watch \
    --output-dir "${ROOT}/pkg/generated" \
    --output-pkg "${MODULE}/pkg/generated" \
    --boilerplate "${BOILERPLATE}" \
    "${ROOT}/pkg/apis"

echo "Generating CustomResourceDefinitions into manifests/crd"
rm -f "${ROOT}"/manifests/crd/octorun.github.io_*.yaml
"${TOOLS_BIN}/controller-gen" \
    crd:generateEmbeddedObjectMeta=true \
    paths="./pkg/apis/..." \
    output:crd:artifacts:config=manifests/crd

echo "Generating the API reference into docs/api-reference.md"
"${TOOLS_BIN}/crd-ref-docs" \
    --config hack/crd-ref-docs/config.yaml \
    --source-path pkg/apis/octorun/v1alpha1 \
    --renderer markdown \
    --output-path docs/api-reference.md \
    --log-level ERROR
