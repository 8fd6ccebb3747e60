#!/usr/bin/env bash
# Builds a whole release offline, the same bytes from the same commit:
#   kubectl-orphans_<version>_<os>_<arch>.{tar.gz,zip}(+.sha256)  the plugin, every platform (hack/dist.sh)
#   orphans.yaml                                                  the krew manifest with their checksums
#   image/oci, image/orphans-exporter-<version>-<arch>.tar       the exporter's image (hack/image)
#   orphans-exporter-<chart version>.tgz                          the Helm chart, defaulting to that image
#   sbom/<binary>_<version>_<os>_<arch>.cdx.json                  a CycloneDX SBOM per released binary
#   SHA256SUMS                                                    over every file above
# The tag workflow (.github/workflows/release.yaml) runs this and uploads the
# result; nothing here needs the network.
#
# Environment (all optional):
#   VERSION    release version; default `git describe --tags --always --dirty`,
#              forced to a v-prefixed semantic version as hack/dist.sh does.
#   DIST_DIR   output directory (dist/release); emptied first.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"

# shellcheck source=release-version.sh
source "${root}/hack/release-version.sh"
version="$(release_version)"
out="${DIST_DIR:-${root}/dist/release}"
bin="${root}/bin"
for tool in helm cyclonedx-gomod; do
	if [[ ! -x "${bin}/${tool}" ]]; then
		echo "release: ${bin}/${tool} not built: run hack/test-tools.sh" >&2
		exit 1
	fi
done

# Everything is dated with the commit, not the clock.
SOURCE_DATE_EPOCH="$(git log -1 --format=%ct 2>/dev/null || echo 0)"
export SOURCE_DATE_EPOCH

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
rm -rf "${out}"
mkdir -p "${out}/sbom"

log() { printf 'release: %s\n' "$*" >&2; }

log "${version}: plugin archives and krew manifest"
VERSION="${version}" DIST_DIR="${out}" KREW_MANIFEST="${out}/orphans.yaml" BUILD_DIR="${work}/plugin" hack/dist.sh

log "${version}: image"
go run ./hack/image -version "${version}" -created "${SOURCE_DATE_EPOCH}" -out "${out}/image" -save-binaries "${work}/exporter" >&2

log "${version}: chart"
"${bin}/helm" package deploy/chart/orphans-exporter --version "${version#v}" --app-version "${version}" --destination "${out}" >&2

log "${version}: SBOMs"
# The serial number is derived from the binary, so the same binary always
# has the same SBOM.
sbom() { # BINARY NAME PLATFORM
	local binary="$1" name="$2" platform="$3" sum serial variant
	sum="$(sha256sum "${binary}" | cut -c1-32)"
	# A name-based (version 5, RFC 4122 variant) uuid, as CycloneDX requires.
	variant="$(printf '%x' $(((0x${sum:16:1} & 3) | 8)))"
	serial="urn:uuid:${sum:0:8}-${sum:8:4}-5${sum:13:3}-${variant}${sum:17:3}-${sum:20:12}"
	"${bin}/cyclonedx-gomod" bin -json -notimestamp -serial "${serial}" -version "${version}" \
		-output "${out}/sbom/${name}_${version}_${platform}.cdx.json" "${binary}"
}
for binary in "${work}"/plugin/*/*; do # <os>_<arch>/kubectl-orphans[.exe]
	sbom "${binary}" "$(basename "${binary}" .exe)" "$(basename "$(dirname "${binary}")")"
done
for binary in "${work}"/exporter/orphans-exporter-*; do # orphans-exporter-<os>-<arch>
	platform="${binary##*/orphans-exporter-}"
	sbom "${binary}" orphans-exporter "${platform/-/_}"
done

log "${version}: SHA256SUMS"
(cd "${out}" && find . -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)
log "${version}: done in ${out}"
