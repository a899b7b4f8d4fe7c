# Octorun developer commands. Everything needs only Go (and make, bash, tar,
# diff from a standard Debian install); tools are built from pinned modules.

SHELL := /usr/bin/env bash -o errexit -o nounset -o pipefail
GO ?= go
# go test flags for all test runs, e.g. make test GOTESTFLAGS=-v
GOTESTFLAGS ?=

.PHONY: all
all: build

.PHONY: build
build: ## Build all packages
	$(GO) build ./...

.PHONY: generate
generate: ## Regenerate deepcopy, clientset, listers, informers and CRDs from pkg/apis
	hack/update-codegen.sh

.PHONY: verify
verify: ## Check generated code, gofmt and go vet
	hack/verify-codegen.sh
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './_output/*'))"; \
	if [[ -n "$$unformatted" ]]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	@for mod in . test/clientimport test/bench/plot hack/tools hack/tools/kube hack/tools/kwok hack/tools/docs; do \
		(cd $$mod && $(GO) mod tidy -diff >/dev/null) || { echo "go.mod of $$mod is not tidy: run go mod tidy there"; exit 1; }; \
	done
	$(GO) vet ./...
	cd test/clientimport && $(GO) vet ./...
	cd test/bench/plot && $(GO) vet ./...

.PHONY: run-local
run-local: ## Run Octorun locally: control plane, GitHub simulator, sample RunnerSet and jobs (Ctrl-C stops)
	$(GO) run ./test/playground $(ARGS)

.PHONY: run
run: ## Run Octorun against the cluster of $$KUBECONFIG (credentials in GITHUB_TOKEN or OCTORUN_GITHUB_CREDENTIALS_DIR)
	$(GO) run ./cmd/octorun $(ARGS)

.PHONY: tools
tools: ## Build the test control plane (etcd, kube-*, kubectl, kwok) into _output/bin
	hack/build-tools.sh

.PHONY: test
test: tools test-unit test-e2e test-fuzz test-bench test-reliability-small ## Run all tests (builds the control plane first)

.PHONY: test-unit
test-unit: ## Unit tests (fake clientset), plus a build of a program importing the clientset, and the bench's plots
	$(GO) test $(GOTESTFLAGS) $$($(GO) list ./... | grep -v -e '/test/e2e' -e '/test/reliability')
	cd test/clientimport && $(GO) build -o /dev/null .
	cd test/bench/plot && $(GO) test $(GOTESTFLAGS) ./...

.PHONY: test-e2e
test-e2e: tools ## End-to-end tests against a real control plane
	$(GO) test $(GOTESTFLAGS) -count=1 -timeout 30m ./test/e2e/...

.PHONY: test-bench
test-bench: tools ## Prove the scale benchmark's harness with a small run (100 runners)
	$(GO) run ./test/bench -size small

.PHONY: test-reliability-small
test-reliability-small: tools ## The reliability suite at reduced sizes (about 9 min; part of make test)
	$(GO) test $(GOTESTFLAGS) -count=1 -v -timeout 30m ./test/reliability/ -args -size=small

.PHONY: test-reliability
test-reliability: tools ## The full reliability suite: faults, restarts, lost events, hostile input (about 20 min)
	$(GO) test $(GOTESTFLAGS) -count=1 -v -timeout 90m ./test/reliability/ -args -size=full

.PHONY: bench
bench: tools ## Scale benchmark on a real control plane (about 35 min): a table on stdout; JSON, profiles and plots in _output/bench/
	$(GO) run ./test/bench $(ARGS)

# Fuzz targets run briefly on every test run (their seeds run with the unit
# tests too), for a count of executions: a -fuzztime duration can fail at its
# end on a busy machine with a bare "context deadline exceeded" and no
# failing input (golang/go#75804, fixed in Go 1.27). FUZZTIME=5m runs each
# target for that long instead, for a longer hunt.
FUZZTIME ?=
fuzztime = $(if $(FUZZTIME),$(FUZZTIME),$(1))
.PHONY: test-fuzz
test-fuzz: ## Run each fuzz target briefly (or for FUZZTIME)
	$(GO) test -run '^$$' -fuzz '^FuzzReceiver$$' -fuzztime $(call fuzztime,100000x) ./pkg/githubevents/
	$(GO) test -run '^$$' -fuzz '^FuzzSignature$$' -fuzztime $(call fuzztime,100000x) ./pkg/githubevents/
	$(GO) test -run '^$$' -fuzz '^FuzzHandler$$' -fuzztime $(call fuzztime,10000x) ./pkg/admission/
	$(GO) test -run '^$$' -fuzz '^FuzzValidateURL$$' -fuzztime $(call fuzztime,100000x) ./pkg/admission/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(call fuzztime,100000x) ./pkg/runnerurl/
	$(GO) test -run '^$$' -fuzz '^FuzzRunnersEndpoint$$' -fuzztime $(call fuzztime,100000x) ./pkg/github/

.PHONY: help
help:
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "%-12s %s\n", $$1, $$2}'
