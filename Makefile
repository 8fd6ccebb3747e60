# orphans — make help lists the targets.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO       ?= go
MODULE   := github.com/orphansweep/orphans
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH   ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y%m%d-%H:%M:%S)
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS  := -s -w \
	-X $(VERSION_PKG).Version=$(VERSION:v%=%) \
	-X $(VERSION_PKG).Revision=$(REVISION) \
	-X $(VERSION_PKG).Branch=$(BRANCH) \
	-X $(VERSION_PKG).BuildUser=orphans \
	-X $(VERSION_PKG).BuildDate=$(BUILD_DATE)
BIN      := $(CURDIR)/bin
TEST_FLAGS ?= -race -timeout 45m
PKGS     ?= ./...
# Tests that start PostgreSQL or a control plane, or build or run binaries,
# carry this build tag; without it `go test` runs the pure tier only.
TEST_TAGS := integration
# How long `make fuzz` runs each fuzz target, and how long `make test` does.
FUZZTIME ?= 20s
TEST_FUZZTIME ?= 10s

export KUBEBUILDER_ASSETS ?= $(BIN)/k8s

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build orphans-exporter and kubectl-orphans into bin/.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/orphans-exporter ./exporter
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/kubectl-orphans ./plugin
	install -m 0755 plugin/kubectl_complete-orphans $(BIN)/kubectl_complete-orphans

.PHONY: deps
deps: ## Install missing machine packages (PostgreSQL server, iproute2).
	hack/ensure-deps.sh

.PHONY: test-tools
test-tools: ## Build the test binaries (kube-apiserver, etcd, promtool, jsonnet, krew) into bin/, once per version.
	hack/test-tools.sh all

.PHONY: lint
lint: ## gofmt and go vet, with and without the integration tag.
	@out="$$(find . -name '*.go' -not -path './bin/*' -not -path './dist/*' -not -path './.cache/*' -print0 | xargs -0 gofmt -l)"; \
	if [[ -n "$$out" ]]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags $(TEST_TAGS) ./...

.PHONY: test
test: deps test-tools lint ## Run the whole test suite (real PostgreSQL and kube-apiserver) with the race detector, then every fuzz target for TEST_FUZZTIME.
	$(GO) test -tags $(TEST_TAGS) $(TEST_FLAGS) $(PKGS)
	GO='$(GO)' hack/fuzz.sh $(TEST_FUZZTIME)

.PHONY: test-short
test-short: ## Run the pure and in-process tests only (under a minute; starts no process).
	$(GO) test -short $(PKGS)

.PHONY: fuzz
fuzz: ## Run each fuzz target in the repository for FUZZTIME (20s).
	GO='$(GO)' hack/fuzz.sh $(FUZZTIME)

.PHONY: demo
demo: deps build ## Start Postgres and a control plane, seed a fleet, run the exporter and list the candidates.
	hack/test-tools.sh k8s
	$(GO) build -o $(BIN)/orphans-demo ./hack/demo
	$(BIN)/orphans-demo --bin $(BIN)

.PHONY: dist
dist: ## Build the kubectl-orphans release archives (+ .sha256) into dist/ and render .krew.yaml with their checksums.
	VERSION='$(VERSION)' hack/dist.sh

IMAGE_DIR ?= dist/image
# A directory of prebuilt exporters (orphans-exporter-linux-amd64,
# orphans-exporter-linux-arm64) for the image to use instead of compiling.
IMAGE_BINARIES ?=

.PHONY: image
image: ## Build the exporter's OCI image (linux/amd64 + linux/arm64, reproducible, offline) into dist/image: an OCI layout and a docker-load tarball per platform.
	$(GO) run ./hack/image -version '$(VERSION)' -revision '$(REVISION)' -branch '$(BRANCH)' -go '$(GO)' -out '$(IMAGE_DIR)' \
		$(if $(IMAGE_BINARIES),-binaries '$(IMAGE_BINARIES)')

RELEASE_DIR ?= dist/release

.PHONY: release
release: deps ## Build the whole release offline into RELEASE_DIR: plugin archives, krew manifest, image, chart package, SBOMs, SHA256SUMS; the same bytes from the same commit.
	hack/test-tools.sh helm cyclonedx
	VERSION='$(VERSION)' DIST_DIR='$(RELEASE_DIR)' hack/release.sh

.PHONY: mixin
mixin: ## Regenerate deploy/prometheus's alerts and deploy/grafana's dashboard from the mixin in deploy/mixin.
	hack/test-tools.sh jsonnet
	hack/mixin.sh deploy

.PHONY: test-deploy
test-deploy: test-tools ## Test deploy/ alone: manifests on a real API server, alert rules, dashboard, image, krew packaging.
	$(GO) test -tags $(TEST_TAGS) $(TEST_FLAGS) ./deploy/... ./internal/release/...

BENCH_SIZES  ?= 1000x100000,10000x100000,10000x1000000,50000x5000000
BENCH_ONLY   ?= 50000x1000000
BENCH_FEATURES ?= 10000x1000000
BENCH_FRESH ?= 100000x1000000
BENCH_GHOST_INTERVAL ?= 10s
BENCH_SWEEPS ?= 20
BENCH_INTERVAL ?= 2s
BENCH_DIR    := .cache/bench

.PHONY: bench-build
bench-build: deps
	hack/test-tools.sh k8s
	mkdir -p $(BENCH_DIR)
	$(GO) build -o $(BENCH_DIR)/orphans-exporter ./exporter
	$(GO) build -o $(BENCH_DIR)/bench ./hack/bench

.PHONY: bench
bench: bench-build ## Measure the exporter against the naive sweep on fleets of BENCH_SIZES, then the ghost sweep and contents; writes docs/BENCHMARKS.md (about an hour).
	$(BENCH_DIR)/bench --exporter=$(BENCH_DIR)/orphans-exporter --sizes=$(BENCH_SIZES) --exporter-only=$(BENCH_ONLY) --features=$(BENCH_FEATURES) --fresh=$(BENCH_FRESH) \
		--ghost-interval=$(BENCH_GHOST_INTERVAL) --sweeps=$(BENCH_SWEEPS) --interval=$(BENCH_INTERVAL) --go-bench=$(GO) --out=docs/BENCHMARKS.md

.PHONY: bench-features
bench-features: bench-build ## Measure only the ghost sweep and contents at BENCH_FEATURES; rewrites only their section of docs/BENCHMARKS.md (about ten minutes).
	$(BENCH_DIR)/bench --exporter=$(BENCH_DIR)/orphans-exporter --features-only --features=$(BENCH_FEATURES) \
		--ghost-interval=$(BENCH_GHOST_INTERVAL) --sweeps=$(BENCH_SWEEPS) --interval=$(BENCH_INTERVAL) --out=docs/BENCHMARKS.md

.PHONY: bench-fresh
bench-fresh: bench-build ## Measure only fresh checks of candidates while the contents loop reads (1 000 candidates at BENCH_FRESH); rewrites only their section of docs/BENCHMARKS.md (about fifteen minutes).
	$(BENCH_DIR)/bench --exporter=$(BENCH_DIR)/orphans-exporter --fresh-only --fresh=$(BENCH_FRESH) \
		--sweeps=$(BENCH_SWEEPS) --interval=$(BENCH_INTERVAL) --out=docs/BENCHMARKS.md

SOAK_DURATION   ?= 20m
SOAK_NAMESPACES ?= 5000
SOAK_ROWS       ?= 500000
SOAK_OUTAGE     ?= 30s

.PHONY: soak
soak: bench-build ## Run the exporter for SOAK_DURATION (20m) on SOAK_NAMESPACES and SOAK_ROWS under churn, restarting PostgreSQL and the API server once; rewrites only the soak's section of docs/BENCHMARKS.md.
	$(GO) build -o $(BENCH_DIR)/soak ./hack/soak
	$(BENCH_DIR)/soak --exporter=$(BENCH_DIR)/orphans-exporter --duration=$(SOAK_DURATION) --size=$(SOAK_NAMESPACES)x$(SOAK_ROWS) \
		--outage=$(SOAK_OUTAGE) --workdir=$(BENCH_DIR)/soak-run --out=docs/BENCHMARKS.md

.PHONY: clean
clean: ## Remove build output (keeps the cached test binaries in bin/k8s).
	rm -rf $(BIN)/orphans-exporter $(BIN)/kubectl-orphans dist/
