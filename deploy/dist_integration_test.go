//go:build integration

package deploy_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/orphansweep/orphans/internal/release"
)

// validateKrewManifest runs krew's own validator. The index expects the file
// to be named after the plugin; the install half of the validator downloads
// every uri, so it is skipped here and done offline with --archive below.
func validateKrewManifest(t *testing.T, manifest []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), release.PluginName+".yaml")
	if err := os.WriteFile(path, manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, _, err := run(ctx, "", nil, nil, tool(t, "validate-krew-manifest"), "-manifest", path, "-skip-install"); err != nil {
		t.Fatal(err)
	}
}

// krew's validator accepts the committed .krew.yaml.
func TestKrewManifestValidates(t *testing.T) {
	committed, _ := readKrewManifest(t, filepath.Join(repoRoot(), ".krew.yaml"))
	validateKrewManifest(t, committed)
}

// `make release` twice from one commit: the same bytes; one SHA256SUMS over
// the plugin's archives, its krew manifest, the image, the chart and an SBOM
// per binary. krew accepts the manifest and installs the plugin from it,
// after which `kubectl orphans` runs.
func TestRelease(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	version := imageVersion
	base := t.TempDir()
	releases := [2]string{filepath.Join(base, "first"), filepath.Join(base, "second")}
	for _, dir := range releases {
		_, stderr, err := run(ctx, repoRoot(), nil, nil, "make", "--no-print-directory", "release", "VERSION="+version, "RELEASE_DIR="+dir)
		if err != nil {
			t.Fatalf("make release: %v\n%s", err, stderr)
		}
	}
	dist := releases[0]
	first, second := releaseFiles(t, releases[0]), releaseFiles(t, releases[1])
	if !slices.Equal(slices.Sorted(maps.Keys(first)), slices.Sorted(maps.Keys(second))) {
		t.Fatalf("two releases of one commit hold different files:\n%v\n%v", slices.Sorted(maps.Keys(first)), slices.Sorted(maps.Keys(second)))
	}
	for name, b := range first {
		if !bytes.Equal(b, second[name]) {
			t.Errorf("%s differs between two releases of one commit", name)
		}
	}

	t.Run("SHA256SUMS", func(t *testing.T) { checkSHA256SUMS(t, first) })

	chart := "orphans-exporter-" + strings.TrimPrefix(version, "v") + ".tgz"
	want := []string{release.PluginName + ".yaml", chart, "image/oci/index.json", "image/oci/oci-layout"}
	for arch := range imageArchs {
		want = append(want, fmt.Sprintf("image/orphans-exporter-%s-%s.tar", version, arch),
			fmt.Sprintf("sbom/orphans-exporter_%s_linux_%s.cdx.json", version, arch))
	}
	for _, p := range release.Platforms {
		want = append(want, p.ArchiveName(version), p.ArchiveName(version)+".sha256",
			fmt.Sprintf("sbom/kubectl-orphans_%s_%s_%s.cdx.json", version, p.OS, p.Arch))
	}
	for _, name := range want {
		if _, ok := first[name]; !ok {
			t.Errorf("the release has no %s", name)
		}
	}

	t.Run("SBOMs", func(t *testing.T) {
		for name, b := range first {
			if strings.HasPrefix(name, "sbom/") {
				checkSBOM(t, name, b, version)
			}
		}
	})

	t.Run("chart", func(t *testing.T) {
		path := filepath.Join(dist, chart)
		if _, _, err := run(ctx, "", nil, nil, tool(t, "helm"), "lint", "--strict", path); err != nil {
			t.Fatal(err)
		}
		out, _, err := run(ctx, "", nil, nil, tool(t, "helm"), "template", "orphans-exporter", path, "--namespace", "orphans-system")
		if err != nil {
			t.Fatal(err)
		}
		deployment := find(t, objects(t, out), "Deployment", "orphans-exporter")
		containers, _, _ := unstructured.NestedSlice(deployment.Object, "spec", "template", "spec", "containers")
		image, _, _ := unstructured.NestedString(containers[0].(map[string]any), "image")
		if wantImage := imageRepository + ":" + version; image != wantImage {
			t.Errorf("the packaged chart runs %s, want the release's image %s", image, wantImage)
		}
		tags := imageTags(t, first[fmt.Sprintf("image/orphans-exporter-%s-amd64.tar", version)])
		if !slices.Contains(tags, image) {
			t.Errorf("the release's image tarball is tagged %v; the chart runs %s", tags, image)
		}
	})

	manifestPath := filepath.Join(dist, release.PluginName+".yaml")
	manifest, m := readKrewManifest(t, manifestPath)
	sums := checkKrewManifest(t, m)
	if m.Spec.Version != version {
		t.Errorf("krew manifest version %s, want %s", m.Spec.Version, version)
	}
	license, err := os.ReadFile(filepath.Join(repoRoot(), "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range release.Platforms {
		t.Run("archive "+p.String(), func(t *testing.T) {
			name := p.ArchiveName(version)
			b := first[name]
			sum := release.SHA256(b)
			if sums[p] != sum {
				t.Errorf("manifest sha256 %s, archive %s", sums[p], sum)
			}
			if sidecar := first[name+".sha256"]; string(sidecar) != sum+"  "+name+"\n" {
				t.Errorf("%s.sha256 = %q, want %q", name, sidecar, sum+"  "+name+"\n")
			}
			files := archiveFiles(t, p, b)
			if len(files) != 2 || !bytes.Equal(files["LICENSE"], license) {
				t.Errorf("archive holds %d files, LICENSE intact: %v", len(files), bytes.Equal(files["LICENSE"], license))
			}
			if err := checkExecutable(files[p.Binary()], p); err != nil {
				t.Errorf("%s: %v", p.Binary(), err)
			}
		})
	}

	validateKrewManifest(t, manifest)

	// krew, offline: --manifest skips the index, --archive the download, and
	// KREW_OS/KREW_ARCH pick the platform, as validate-krew-manifest does.
	pathDir := t.TempDir()
	for name, target := range map[string]string{"kubectl": kubectl(t), "kubectl-krew": tool(t, "kubectl-krew")} {
		if err := os.Symlink(target, filepath.Join(pathDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	krew := func(t *testing.T, p release.Platform) (root string, env []string) {
		root = t.TempDir()
		env = []string{
			"KREW_ROOT=" + root, "KREW_OS=" + p.OS, "KREW_ARCH=" + p.Arch, "KREW_NO_UPGRADE_CHECK=1",
			"HOME=" + t.TempDir(), "KUBECONFIG=" + filepath.Join(t.TempDir(), "none"),
			// Only krew's bin, kubectl and krew: no other kubectl-orphans can answer.
			"PATH=" + filepath.Join(root, "bin") + string(os.PathListSeparator) + pathDir + string(os.PathListSeparator) + "/usr/bin:/bin",
		}
		_, _, err := run(ctx, "", env, nil, filepath.Join(pathDir, "kubectl"), "krew", "install",
			"--manifest="+manifestPath, "--archive="+filepath.Join(dist, p.ArchiveName(version)))
		if err != nil {
			t.Fatal(err)
		}
		installed := filepath.Join(root, "store", release.PluginName, version)
		for _, f := range []string{"LICENSE", p.Binary()} {
			if _, err := os.Stat(filepath.Join(installed, f)); err != nil {
				t.Errorf("after install: %v", err)
			}
		}
		return root, env
	}
	for _, p := range release.Platforms {
		t.Run("krew install "+p.String(), func(t *testing.T) { krew(t, p) })
	}

	t.Run("kubectl orphans version", func(t *testing.T) {
		native := release.Platform{OS: runtime.GOOS, Arch: runtime.GOARCH}
		if native.OS == "windows" || sums[native] == "" {
			t.Skipf("no release archive runs on %s", native)
		}
		_, env := krew(t, native)
		stdout, stderr, err := run(ctx, "", env, nil, filepath.Join(pathDir, "kubectl"), "orphans", "version")
		if err != nil {
			t.Fatal(err)
		}
		outText := string(stdout) + string(stderr)
		if !strings.Contains(outText, strings.TrimPrefix(version, "v")) {
			t.Fatalf("`kubectl orphans version` printed %q, want the release version %s", outText, version)
		}
	})
}

func archiveFiles(t *testing.T, p release.Platform, b []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	if p.OS == "windows" {
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			files[f.Name], _ = io.ReadAll(rc)
			rc.Close()
		}
		return files
	}
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == p.Binary() && h.Mode&0o111 == 0 {
			t.Errorf("%s is not executable (mode %o)", h.Name, h.Mode)
		}
		files[h.Name], _ = io.ReadAll(tr)
	}
}

// checkExecutable reads the binary's headers: the right format and machine
// for the platform, so a mislabelled cross-compile cannot pass.
func checkExecutable(b []byte, p release.Platform) error {
	r := bytes.NewReader(b)
	switch p.OS {
	case "linux":
		f, err := elf.NewFile(r)
		if err != nil {
			return err
		}
		want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[p.Arch]
		if f.Machine != want {
			return fmt.Errorf("ELF machine %v, want %v", f.Machine, want)
		}
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				return fmt.Errorf("dynamically linked")
			}
		}
	case "darwin":
		f, err := macho.NewFile(r)
		if err != nil {
			return err
		}
		want := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[p.Arch]
		if f.Cpu != want {
			return fmt.Errorf("Mach-O cpu %v, want %v", f.Cpu, want)
		}
	case "windows":
		f, err := pe.NewFile(r)
		if err != nil {
			return err
		}
		want := map[string]uint16{"amd64": pe.IMAGE_FILE_MACHINE_AMD64, "arm64": pe.IMAGE_FILE_MACHINE_ARM64}[p.Arch]
		if f.Machine != want {
			return fmt.Errorf("PE machine %#x for %s, want %#x", f.Machine, p.Arch, want)
		}
	default:
		return fmt.Errorf("unknown os %s", p.OS)
	}
	return nil
}

// releaseFiles reads every file under dir, by slash-separated relative path.
func releaseFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)], err = os.ReadFile(path)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// checkSHA256SUMS holds SHA256SUMS to every other file of the release: each
// listed once, in sha256sum's format, with its sum.
func checkSHA256SUMS(t *testing.T, files map[string][]byte) {
	t.Helper()
	sums, ok := files["SHA256SUMS"]
	if !ok {
		t.Fatal("no SHA256SUMS")
	}
	listed := map[string]bool{}
	for line := range strings.Lines(string(sums)) {
		sum, name, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q is not sha256sum's format", line)
		}
		b, exists := files[name]
		switch {
		case !exists:
			t.Errorf("SHA256SUMS lists %s, which the release does not hold", name)
		case listed[name]:
			t.Errorf("SHA256SUMS lists %s twice", name)
		case release.SHA256(b) != sum:
			t.Errorf("SHA256SUMS says %s for %s, which is %s", sum, name, release.SHA256(b))
		}
		listed[name] = true
	}
	for name := range files {
		if name != "SHA256SUMS" && !listed[name] {
			t.Errorf("SHA256SUMS leaves out %s", name)
		}
	}
}

// sbomSerial is the pattern CycloneDX's schema gives serialNumber.
var sbomSerial = regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

type sbomComponent struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	PURL    string `json:"purl"`
}

// checkSBOM reads one CycloneDX SBOM: the binary it describes, at the
// release's version, and the modules the binary links.
func checkSBOM(t *testing.T, name string, b []byte, version string) {
	t.Helper()
	var bom struct {
		BOMFormat    string `json:"bomFormat"`
		SpecVersion  string `json:"specVersion"`
		SerialNumber string `json:"serialNumber"`
		Metadata     struct {
			Timestamp string `json:"timestamp"`
			Component struct {
				Name    string `json:"name"`
				Version string `json:"version"`
			} `json:"component"`
		} `json:"metadata"`
		Components []sbomComponent `json:"components"`
	}
	if err := json.Unmarshal(b, &bom); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if bom.BOMFormat != "CycloneDX" || bom.SpecVersion == "" || !sbomSerial.MatchString(bom.SerialNumber) {
		t.Errorf("%s: format %q spec %q serial %q", name, bom.BOMFormat, bom.SpecVersion, bom.SerialNumber)
	}
	if bom.Metadata.Timestamp != "" {
		t.Errorf("%s: dated %s, so two releases of one commit differ", name, bom.Metadata.Timestamp)
	}
	if bom.Metadata.Component.Version != version {
		t.Errorf("%s describes version %q, want %s", name, bom.Metadata.Component.Version, version)
	}
	// Each binary links the project's Kubernetes client; the exporter also
	// the Prometheus client and pgx.
	want := []string{"k8s.io/client-go"}
	if strings.HasPrefix(path.Base(name), "orphans-exporter_") {
		want = append(want, "github.com/prometheus/client_golang", "github.com/jackc/pgx/v5")
	}
	for _, module := range want {
		if !slices.ContainsFunc(bom.Components, func(c sbomComponent) bool {
			return c.Name == module && c.Version != "" && strings.HasPrefix(c.PURL, "pkg:golang/")
		}) {
			t.Errorf("%s lists no %s component", name, module)
		}
	}
}

// imageTags are the tags of a docker-load tarball, from its manifest.json.
func imageTags(t *testing.T, b []byte) []string {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no manifest.json in the image tarball: %v", err)
		}
		if h.Name != "manifest.json" {
			continue
		}
		var manifest []struct {
			RepoTags []string `json:"RepoTags"`
		}
		if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
			t.Fatal(err)
		}
		var tags []string
		for _, m := range manifest {
			tags = append(tags, m.RepoTags...)
		}
		return tags
	}
}
