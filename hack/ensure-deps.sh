#!/usr/bin/env bash
# Installs the machine packages the tests and the demo need, when missing:
# the PostgreSQL server (tests start their own throwaway clusters from its
# binaries) and iproute2 (network namespaces for the service-proxy test).
set -euo pipefail

missing=()
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && ! command -v initdb >/dev/null; then
	missing+=(postgresql)
fi
command -v ip >/dev/null || missing+=(iproute2)

if [[ ${#missing[@]} -eq 0 ]]; then
	exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "ensure-deps: missing packages: ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
	exit 1
fi
echo "ensure-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian package starts a cluster of its own; the tests never use it.
if command -v pg_lsclusters >/dev/null; then
	pg_lsclusters -h 2>/dev/null | while read -r ver name _; do
		pg_ctlcluster "${ver}" "${name}" stop 2>/dev/null || true
	done
fi
