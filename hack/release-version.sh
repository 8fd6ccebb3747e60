# shellcheck shell=bash
# Sourced by hack/dist.sh and hack/release.sh: release_version prints
# $VERSION (default `git describe --tags --always --dirty`) as the
# v-prefixed semantic version krew requires; a bare commit (no tag yet)
# becomes v0.0.0-g<commit>.
release_version() {
	local version="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-dev)}"
	if [[ "${version#v}" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]]; then
		echo "v${version#v}"
	else
		echo "v0.0.0-g${version#v}"
	fi
}
