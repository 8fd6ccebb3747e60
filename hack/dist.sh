#!/usr/bin/env bash
# Builds the kubectl-orphans release: static binaries for every platform
# (internal/release.Platforms), one archive each with LICENSE, a .sha256 per
# archive, and the krew manifest rendered with the real checksums.
#
# Environment (all optional):
#   VERSION        release version; default `git describe --tags --always --dirty`.
#                  Forced to a v-prefixed semantic version, as krew requires:
#                  a bare commit (no tag yet) becomes v0.0.0-g<commit>.
#   DIST_DIR       output directory (dist)
#   KREW_MANIFEST  rendered manifest (.krew.yaml)
#   RELEASE_BASE_URL  download directory of the release
#                  (https://github.com/orphansweep/orphans/releases/download/<version>)
#   BUILD_DIR      where the binaries are kept, as <os>_<arch>/kubectl-orphans[.exe]
#                  (a temporary directory, removed at the end, when unset)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"

# shellcheck source=release-version.sh
source "${root}/hack/release-version.sh"
version="$(release_version)"
dist="${DIST_DIR:-${root}/dist}"
manifest="${KREW_MANIFEST:-${root}/.krew.yaml}"
base_url="${RELEASE_BASE_URL:-https://github.com/orphansweep/orphans/releases/download/${version}}"

revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
# The commit's time, not the clock's: the same commit builds the same archives.
epoch="$(git log -1 --format=%ct 2>/dev/null || echo 0)"
build_date="$(date -u -d "@${epoch}" +%Y%m%d-%H:%M:%S)"
pkg=github.com/prometheus/common/version
branch="$(git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)"
ldflags="-s -w -X ${pkg}.Version=${version#v} -X ${pkg}.Revision=${revision} -X ${pkg}.Branch=${branch}"
ldflags+=" -X ${pkg}.BuildUser=orphans -X ${pkg}.BuildDate=${build_date}"

if [[ -n "${BUILD_DIR:-}" ]]; then
	build="${BUILD_DIR}"
	mkdir -p "${build}"
else
	build="$(mktemp -d)"
	trap 'rm -rf "${build}"' EXIT
fi
mkdir -p "${dist}"

mapfile -t platforms < <(go run ./hack/release -list-platforms)
for p in "${platforms[@]}"; do
	os="${p%/*}" arch="${p#*/}"
	exe=kubectl-orphans
	[[ "${os}" == windows ]] && exe+=.exe
	printf 'dist: building %s %s\n' "${version}" "${p}" >&2
	CGO_ENABLED=0 GOOS="${os}" GOARCH="${arch}" \
		go build -trimpath -buildvcs=false -ldflags "${ldflags}" -o "${build}/${os}_${arch}/${exe}" ./plugin
done

go run ./hack/release -version "${version}" -build-dir "${build}" -license LICENSE \
	-out "${dist}" -base-url "${base_url}" -template hack/krew.yaml.tmpl -manifest "${manifest}" -mtime "${epoch}"
