#!/usr/bin/env bash
# Renders the monitoring mixin (deploy/mixin) into OUT: OUT/prometheus/
# prometheusrule.yaml, OUT/prometheus/rules.yaml and OUT/grafana/*.json.
# `make mixin` renders into deploy/ with the mixin's defaults; the deploy tests
# render into a temporary directory the same way and compare, or render with
# CONFIG, a jsonnet object merged into the mixin's _config.
#
# Usage: hack/mixin.sh OUT [CONFIG]
#   hack/mixin.sh /tmp/acme '{ metricsNamespace: "acme", orphansSelector: "job=\"acme\"" }'
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jsonnet="${root}/bin/jsonnet"
if [[ $# -lt 1 || $# -gt 2 ]]; then
	echo "usage: hack/mixin.sh OUT [CONFIG]" >&2
	exit 2
fi
if [[ ! -x "${jsonnet}" ]]; then
	echo "mixin: ${jsonnet} not built: run hack/test-tools.sh jsonnet" >&2
	exit 1
fi
"${jsonnet}" -S --create-output-dirs --multi "$1" --tla-code "config=${2:-{\}}" \
	"${root}/deploy/mixin/generate.jsonnet" >/dev/null
