#!/usr/bin/env bash
# Builds the binaries the test bed needs into bin/, once per version:
#   bin/k8s/{kube-apiserver,etcd,kubectl}   the control plane for envtest (KUBEBUILDER_ASSETS)
#   bin/promtool                            alert rule checks and unit tests
#   bin/jsonnet                             renders the alerts and dashboard from deploy/mixin
#   bin/helm                                lints, renders and packages deploy/chart
#   bin/cyclonedx-gomod                     writes the SBOM of each released binary
#   bin/kubectl-krew, bin/validate-krew-manifest
# and fetches the Prometheus Operator module, whose CRDs the deploy tests
# install, into the Go module cache.
# Each binary is built under a versioned name and linked, so a version bump
# rebuilds exactly what changed and nothing else.
#
# Usage: hack/test-tools.sh [all|k8s|promtool|jsonnet|helm|cyclonedx|krew|crds]...
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=versions.env
source "${root}/hack/versions.env"
bin="${root}/bin"
mkdir -p "${bin}/k8s"

log() { printf 'test-tools: %s\n' "$*" >&2; }

# build OUT MODULE_DIR PACKAGE [LDFLAGS]
build() {
	local out="$1" dir="$2" pkg="$3" ldflags="${4:-}"
	if [[ -x "${out}" ]]; then
		return 0
	fi
	log "building $(basename "${out}") (first time only; cached in bin/)"
	local start=${SECONDS}
	(cd "${root}/tools/${dir}" && go build -trimpath -ldflags="-s -w ${ldflags}" -o "${out}.tmp" "${pkg}")
	mv "${out}.tmp" "${out}"
	log "built $(basename "${out}") in $((SECONDS - start))s"
}

link() { ln -sfn "$(basename "$1")" "$2" 2>/dev/null || ln -sfn "$1" "$2"; }

k8s() {
	local minor="${KUBE_VERSION#v1.}"
	minor="${minor%%.*}"
	local kver="-X k8s.io/component-base/version.gitVersion=${KUBE_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor} -X k8s.io/component-base/version.gitTreeState=clean"
	build "${bin}/k8s/kube-apiserver-${KUBE_VERSION}" kube k8s.io/kubernetes/cmd/kube-apiserver "${kver}"
	link "${bin}/k8s/kube-apiserver-${KUBE_VERSION}" "${bin}/k8s/kube-apiserver"
	build "${bin}/k8s/etcd-${ETCD_VERSION}" etcd go.etcd.io/etcd/server/v3
	link "${bin}/k8s/etcd-${ETCD_VERSION}" "${bin}/k8s/etcd"
	# The machine's kubectl is used when present (plugin discovery runs through it);
	# otherwise one of the same Kubernetes version is built.
	if command -v kubectl >/dev/null 2>&1; then
		ln -sfn "$(command -v kubectl)" "${bin}/k8s/kubectl"
	else
		build "${bin}/k8s/kubectl-${KUBE_VERSION}" kube k8s.io/kubernetes/cmd/kubectl "${kver}"
		link "${bin}/k8s/kubectl-${KUBE_VERSION}" "${bin}/k8s/kubectl"
	fi
}

promtool() {
	build "${bin}/promtool-${PROMETHEUS_VERSION}" promtool github.com/prometheus/prometheus/cmd/promtool
	link "${bin}/promtool-${PROMETHEUS_VERSION}" "${bin}/promtool"
}

jsonnet() {
	build "${bin}/jsonnet-${JSONNET_VERSION}" jsonnet github.com/google/go-jsonnet/cmd/jsonnet
	link "${bin}/jsonnet-${JSONNET_VERSION}" "${bin}/jsonnet"
}

helm() {
	build "${bin}/helm-${HELM_VERSION}" helm helm.sh/helm/v4/cmd/helm
	link "${bin}/helm-${HELM_VERSION}" "${bin}/helm"
}

cyclonedx() {
	build "${bin}/cyclonedx-gomod-${CYCLONEDX_GOMOD_VERSION}" cyclonedx github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod
	link "${bin}/cyclonedx-gomod-${CYCLONEDX_GOMOD_VERSION}" "${bin}/cyclonedx-gomod"
}

krew() {
	build "${bin}/kubectl-krew-${KREW_VERSION}" krew sigs.k8s.io/krew/cmd/krew
	link "${bin}/kubectl-krew-${KREW_VERSION}" "${bin}/kubectl-krew"
	build "${bin}/validate-krew-manifest-${KREW_VERSION}" krew sigs.k8s.io/krew/cmd/validate-krew-manifest
	link "${bin}/validate-krew-manifest-${KREW_VERSION}" "${bin}/validate-krew-manifest"
}

# The CRDs ship in the module under example/prometheus-operator-crd; the deploy
# tests find them with the same `go mod download`, which then reads the cache.
# Run outside any module so the project's go.mod is not touched.
crds() {
	local dir
	dir="$(mktemp -d)"
	(cd "${dir}" && GO111MODULE=on go mod download "github.com/prometheus-operator/prometheus-operator@${PROMETHEUS_OPERATOR_VERSION}")
	rmdir "${dir}"
}

targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(all)
for t in "${targets[@]}"; do
	case "${t}" in
	all) k8s; promtool; jsonnet; helm; cyclonedx; krew; crds ;;
	k8s | promtool | jsonnet | helm | cyclonedx | krew | crds) "${t}" ;;
	*) log "unknown target ${t} (want all, k8s, promtool, jsonnet, helm, cyclonedx, krew or crds)"; exit 2 ;;
	esac
done
