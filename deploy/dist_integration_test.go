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
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

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

// `make dist` builds every archive, krew accepts the manifest it renders, and
// krew installs the plugin from it, after which `kubectl orphans` runs.
func TestDistAndKrewInstall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	out := t.TempDir()
	dist := filepath.Join(out, "dist")
	manifestPath := filepath.Join(out, ".krew.yaml")
	env := append(os.Environ(), "DIST_DIR="+dist, "KREW_MANIFEST="+manifestPath)
	stdout, _, err := run(ctx, repoRoot(), env, nil, "make", "--no-print-directory", "dist")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", stdout)

	manifest, m := readKrewManifest(t, manifestPath)
	if asset, err := os.ReadFile(filepath.Join(dist, release.PluginName+".yaml")); err != nil || !bytes.Equal(asset, manifest) {
		t.Errorf("dist/%s.yaml (the release asset) differs from the rendered manifest (%v)", release.PluginName, err)
	}
	sums := checkKrewManifest(t, m)
	version := m.Spec.Version
	license, err := os.ReadFile(filepath.Join(repoRoot(), "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range release.Platforms {
		t.Run("archive "+p.String(), func(t *testing.T) {
			name := p.ArchiveName(version)
			b, err := os.ReadFile(filepath.Join(dist, name))
			if err != nil {
				t.Fatal(err)
			}
			sum := release.SHA256(b)
			if sums[p] != sum {
				t.Errorf("manifest sha256 %s, archive %s", sums[p], sum)
			}
			sidecar, err := os.ReadFile(filepath.Join(dist, name+".sha256"))
			if err != nil || string(sidecar) != sum+"  "+name+"\n" {
				t.Errorf("%s.sha256 = %q (%v), want %q", name, sidecar, err, sum+"  "+name+"\n")
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
