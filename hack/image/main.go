// Command image builds the orphans-exporter OCI image, offline and
// reproducibly: one index for linux/amd64 and linux/arm64, each image FROM
// scratch with the static exporter, the nonroot user 65532:65532, a CA
// bundle and LICENSE. `make image` runs it; so can a release:
//
//	go run ./hack/image -version v1.2.3 -out dist/image
//
// It compiles the exporter for each platform itself (CGO off, -trimpath, an
// empty build ID, the version flags of the Makefile, dated with -created), so
// one commit builds one digest; with -binaries DIR it takes the exporters a
// release already built from DIR/orphans-exporter-linux-<arch> instead, and
// refuses any that is not a static -trimpath build stamped with -revision.
// Into -out it writes
//
//	oci/                                     an OCI image layout holding the index, tagged <version>
//	orphans-exporter-<version>-<arch>.tar    per platform, for `docker load`, tagged <repository>:<version>
//
// and prints the index's and each platform's manifest digest.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func main() {
	var (
		o        options
		created  string
		platform string
	)
	flag.StringVar(&o.version, "version", "", "release version (required); like hack/dist.sh, a bare commit becomes v0.0.0-g<commit>")
	flag.StringVar(&o.revision, "revision", "", "commit the image is built from (default: git rev-parse HEAD)")
	flag.StringVar(&o.branch, "branch", "", "branch stamped into the binary, as the Makefile does (default: git rev-parse --abbrev-ref HEAD)")
	flag.StringVar(&created, "created", "", "unix time of the image's created label, its files and its binaries' build date (default: the commit's, git log -1 --format=%ct)")
	flag.StringVar(&o.repository, "repository", defaultRepository, "image repository the tarballs are tagged with")
	flag.StringVar(&platform, "platforms", "linux/amd64,linux/arm64", "comma-separated os/arch of the index")
	flag.StringVar(&o.license, "license", "LICENSE", "license file shipped as /LICENSE")
	flag.StringVar(&o.out, "out", "dist/image", "output directory")
	flag.StringVar(&o.goCmd, "go", "go", "go command that compiles the exporter")
	flag.StringVar(&o.binaries, "binaries", "", "directory of prebuilt exporters to use instead of compiling, one per platform named orphans-exporter-<os>-<arch> "+
		"(orphans-exporter-linux-amd64, orphans-exporter-linux-arm64); each must be static, built with CGO_ENABLED=0 and -trimpath, and stamped with -revision")
	flag.StringVar(&o.saveBinaries, "save-binaries", "", "directory to keep the compiled exporters in, named as -binaries reads them (for the release's SBOMs)")
	flag.Parse()

	if err := o.complete(created, platform); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(2)
	}
	res, err := build(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Printf("%s  %s (index, %s)\n", res.index, o.reference(), o.layoutDir())
	for _, p := range res.platforms {
		fmt.Printf("%s  %s (%s)\n", p.manifest, p.platform, p.tarball)
	}
}

// complete fills what was not given from git and checks the rest.
func (o *options) complete(created, platforms string) error {
	if o.version == "" {
		return fmt.Errorf("-version is required")
	}
	o.version = releaseVersion(o.version)
	var err error
	if o.revision == "" {
		if o.revision, err = git("rev-parse", "HEAD"); err != nil {
			return err
		}
	}
	if o.branch == "" {
		if o.branch, err = git("rev-parse", "--abbrev-ref", "HEAD"); err != nil {
			return err
		}
	}
	if created == "" {
		if created, err = git("log", "-1", "--format=%ct"); err != nil {
			return err
		}
	}
	secs, err := strconv.ParseInt(created, 10, 64)
	if err != nil {
		return fmt.Errorf("-created %q: want unix seconds", created)
	}
	o.created = time.Unix(secs, 0).UTC()
	for _, p := range strings.Split(platforms, ",") {
		goos, arch, ok := strings.Cut(strings.TrimSpace(p), "/")
		if !ok || goos != "linux" || arch == "" {
			return fmt.Errorf("-platforms: %q is not linux/<arch>", p)
		}
		o.platforms = append(o.platforms, v1.Platform{OS: goos, Architecture: arch})
	}
	return nil
}

func git(args ...string) (string, error) {
	out, err := exec.Command("git", args...).Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}
