#!/usr/bin/env bash
# Runs every fuzz target of the module, one after another, each for a bounded
# time:
#   hack/fuzz.sh [FUZZTIME]        (default 20s; `make fuzz FUZZTIME=2m`)
# Targets are found rather than listed: every `func FuzzX(f *testing.F)` in a
# _test.go file of the module's packages. A target in a file with the
# integration build tag is built with that tag (its package's test bed comes
# with it). Every target runs even when one fails; the exit status says
# whether any did.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"
fuzztime="${1:-${FUZZTIME:-20s}}"
go="${GO:-go}"

log() { printf 'fuzz: %s\n' "$*" >&2; }

ran=0
failed=()
# Directories of the module's packages, tagged-only ones included.
while IFS= read -r dir; do
	for file in "${dir}"/*_test.go; do
		[[ -e "${file}" ]] || continue
		tags=()
		if head -n 1 "${file}" | grep -Eq '^//go:build .*\bintegration\b'; then
			tags=(-tags integration)
		fi
		pkg=".${dir#"${root}"}"
		while IFS= read -r target; do
			log "${target} in ${pkg} for ${fuzztime}"
			ran=$((ran + 1))
			if ! "${go}" test "${tags[@]}" -run '^$' -fuzz "^${target}\$" -fuzztime "${fuzztime}" "${pkg}"; then
				failed+=("${pkg} ${target}")
			fi
		done < <(sed -n -E 's/^func (Fuzz[A-Za-z0-9_]*)\(.*\*testing\.F\).*/\1/p' "${file}")
	done
done < <("${go}" list -tags integration -f '{{.Dir}}' ./...)

if [[ ${ran} -eq 0 ]]; then
	log "no fuzz targets found"
	exit 1
fi
if [[ ${#failed[@]} -gt 0 ]]; then
	log "failed: ${failed[*]}"
	exit 1
fi
log "${ran} fuzz targets ran for ${fuzztime} each"
