package main

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type result struct {
	index     v1.Hash
	platforms []builtPlatform
}

type builtPlatform struct {
	platform v1.Platform
	manifest v1.Hash
	tarball  string
}

func (o options) layoutDir() string { return filepath.Join(o.out, "oci") }

func (o options) tarballPath(p v1.Platform) string {
	return filepath.Join(o.out, fmt.Sprintf("orphans-exporter-%s-%s.tar", o.version, p.Architecture))
}

// build compiles the exporter for every platform, assembles the index and
// writes the layout and the tarballs, replacing those of an earlier build.
func build(o options) (result, error) {
	license, err := os.ReadFile(o.license)
	if err != nil {
		return result{}, err
	}
	base, err := layer(baseFiles(license), o.created)
	if err != nil {
		return result{}, err
	}
	work, err := os.MkdirTemp("", "orphans-image-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(work)

	var images []v1.Image
	for _, p := range o.platforms {
		exporter, err := exporterBinary(o, p, work)
		if err != nil {
			return result{}, err
		}
		img, err := platformImage(o, p, base, exporter)
		if err != nil {
			return result{}, fmt.Errorf("%s: %w", p, err)
		}
		images = append(images, img)
	}
	return write(o, index(o, images), images)
}

// ldflags are the Makefile's version flags, dated with the commit, with an
// empty build ID so that nothing of the build machine reaches the binary.
func (o options) ldflags() string {
	const pkg = "github.com/prometheus/common/version"
	return strings.Join([]string{"-s", "-w", "-buildid=",
		"-X", pkg + ".Version=" + strings.TrimPrefix(o.version, "v"),
		"-X", pkg + ".Revision=" + o.revision,
		"-X", pkg + ".Branch=" + o.branch,
		"-X", pkg + ".BuildUser=orphans",
		"-X", pkg + ".BuildDate=" + o.created.Format("20060102-15:04:05"),
	}, " ")
}

// prebuiltName is the file a -binaries directory holds for p.
func prebuiltName(p v1.Platform) string {
	return "orphans-exporter-" + p.OS + "-" + p.Architecture
}

// exporterBinary is the exporter for p: the prebuilt one from -binaries, or
// one compiled here. Either must be a static build of this commit's exporter.
func exporterBinary(o options, p v1.Platform, work string) ([]byte, error) {
	var (
		b   []byte
		err error
	)
	if o.binaries == "" {
		b, err = compile(o, p, work)
	} else {
		path := filepath.Join(o.binaries, prebuiltName(p))
		fmt.Fprintf(os.Stderr, "image: using %s for %s\n", path, p)
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	if err := checkStatic(b, p); err != nil {
		return nil, err
	}
	if err := checkBuild(b, p, o.revision); err != nil {
		return nil, err
	}
	if o.saveBinaries != "" {
		if err := os.MkdirAll(o.saveBinaries, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(o.saveBinaries, prebuiltName(p)), b, 0o755); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// compile builds a static exporter for p, with the microarchitecture level
// pinned to each architecture's baseline whatever the environment says.
func compile(o options, p v1.Platform, work string) ([]byte, error) {
	out := filepath.Join(work, p.OS+"_"+p.Architecture, "orphans-exporter")
	cmd := exec.Command(o.goCmd, "build", "-trimpath", "-buildvcs=false", "-ldflags", o.ldflags(), "-o", out, "./exporter")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture, "GOAMD64=v1", "GOARM64=v8.0")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = os.Stderr, &stderr
	fmt.Fprintf(os.Stderr, "image: building orphans-exporter %s for %s\n", o.version, p)
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build for %s: %w\n%s", p, err, stderr.Bytes())
	}
	return os.ReadFile(out)
}

var elfMachines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// checkStatic refuses a binary for another machine or one that needs a
// dynamic loader: the image has no libc.
func checkStatic(b []byte, p v1.Platform) error {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	defer f.Close()
	if want, ok := elfMachines[p.Architecture]; !ok || f.Machine != want {
		return fmt.Errorf("%s: binary for %s", p, f.Machine)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s: dynamically linked binary", p)
		}
	}
	return nil
}

// checkBuild refuses a binary that is not the exporter built as compile
// builds it for p, or that does not carry revision: a prebuilt binary of
// another commit would ship under this commit's labels. -trimpath keeps the
// -X values out of the build information, so the revision is looked for
// among the binary's bytes.
func checkBuild(b []byte, p v1.Platform, revision string) error {
	info, err := buildinfo.Read(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if info.Path != exporterPath {
		return fmt.Errorf("%s: binary of %s, want %s", p, info.Path, exporterPath)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	for k, want := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": p.OS, "GOARCH": p.Architecture} {
		if settings[k] != want {
			return fmt.Errorf("%s: built with %s=%q, want %q", p, k, settings[k], want)
		}
	}
	if !bytes.Contains(b, []byte(revision)) {
		return fmt.Errorf("%s: the binary is not stamped with revision %s", p, revision)
	}
	return nil
}

func write(o options, idx v1.ImageIndex, images []v1.Image) (result, error) {
	res := result{}
	var err error
	if res.index, err = idx.Digest(); err != nil {
		return result{}, err
	}
	stale, _ := filepath.Glob(filepath.Join(o.out, "orphans-exporter-*.tar"))
	for _, path := range append(stale, o.layoutDir()) {
		if err := os.RemoveAll(path); err != nil {
			return result{}, err
		}
	}
	l, err := layout.Write(o.layoutDir(), empty.Index)
	if err != nil {
		return result{}, err
	}
	if err := l.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": o.version,
		"io.containerd.image.name":          o.reference(),
	})); err != nil {
		return result{}, fmt.Errorf("OCI layout: %w", err)
	}
	tag, err := name.NewTag(o.reference(), name.StrictValidation)
	if err != nil {
		return result{}, err
	}
	for i, img := range images {
		p := builtPlatform{platform: o.platforms[i], tarball: o.tarballPath(o.platforms[i])}
		if p.manifest, err = img.Digest(); err != nil {
			return result{}, err
		}
		if err := tarball.WriteToFile(p.tarball, tag, img); err != nil {
			return result{}, fmt.Errorf("%s: %w", p.tarball, err)
		}
		res.platforms = append(res.platforms, p)
	}
	return res, nil
}
