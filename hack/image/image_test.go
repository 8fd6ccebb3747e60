package main

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The image and hack/dist.sh's archives of one build carry the same version.
func TestReleaseVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3":                  "v1.2.3",
		"1.2.3":                   "v1.2.3",
		"v1.2.3-rc.1-4-g0e98ac4":  "v1.2.3-rc.1-4-g0e98ac4",
		"0e98ac4":                 "v0.0.0-g0e98ac4",
		"0e98ac4-dirty":           "v0.0.0-g0e98ac4-dirty",
		"v0.0.0-g0e98ac4-dirty":   "v0.0.0-g0e98ac4-dirty",
		"1.2-not-a-semver-prefix": "v0.0.0-g1.2-not-a-semver-prefix",
	} {
		if got := releaseVersion(in); got != want {
			t.Errorf("releaseVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

func testOptions(created time.Time) options {
	return options{
		version: "v1.2.3", revision: "0123456789abcdef0123456789abcdef01234567", branch: "main",
		created: created, repository: defaultRepository,
		platforms: []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}},
	}
}

func testIndex(t *testing.T, o options) v1.Hash {
	t.Helper()
	base, err := layer(baseFiles([]byte("license text\n")), o.created)
	if err != nil {
		t.Fatal(err)
	}
	var images []v1.Image
	for _, p := range o.platforms {
		img, err := platformImage(o, p, base, []byte("exporter for "+p.Architecture))
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, img)
	}
	d, err := index(o, images).Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The same inputs make the same index; the commit's time is part of it.
func TestIndexReproducible(t *testing.T) {
	at := time.Date(2026, 12, 3, 18, 1, 37, 0, time.UTC)
	first, second := testIndex(t, testOptions(at)), testIndex(t, testOptions(at))
	if first != second {
		t.Fatalf("two assemblies of the same inputs: %s and %s", first, second)
	}
	if later := testIndex(t, testOptions(at.Add(time.Second))); later == first {
		t.Fatalf("a later commit time left the digest at %s", first)
	}
}

// The bundle is the pinned NSS roots as PEM: every block a CA certificate.
func TestCABundle(t *testing.T) {
	rest := caBundle()
	n := 0
	for len(rest) > 0 {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil || b.Type != "CERTIFICATE" {
			t.Fatalf("after %d certificates: not a PEM certificate: %.60q", n, rest)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatalf("certificate %d: %v", n, err)
		}
		if !c.IsCA {
			t.Errorf("certificate %d (%s) is not a CA", n, c.Subject)
		}
		n++
	}
	// NSS holds about 150 roots for TLS.
	if n < 100 {
		t.Fatalf("%d certificates, want the NSS trust store's", n)
	}
}

func TestLdflags(t *testing.T) {
	got := testOptions(time.Date(2026, 12, 3, 18, 1, 37, 0, time.UTC)).ldflags()
	for _, want := range []string{
		"-s -w -buildid= ",
		"-X github.com/prometheus/common/version.Version=1.2.3 ",
		"-X github.com/prometheus/common/version.Revision=0123456789abcdef0123456789abcdef01234567 ",
		"-X github.com/prometheus/common/version.Branch=main ",
		"-X github.com/prometheus/common/version.BuildUser=orphans ",
		"-X github.com/prometheus/common/version.BuildDate=20261203-18:01:37",
	} {
		if !strings.Contains(got+" ", want) {
			t.Errorf("ldflags %q lack %q", got, want)
		}
	}
}

// The builder refuses a binary the image could not run: this machine's own
// /bin/true needs a dynamic loader, and is for one machine only.
func TestCheckStaticRefusesDynamic(t *testing.T) {
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	here, other := runtime.GOARCH, "arm64"
	if here == "arm64" {
		other = "amd64"
	}
	if err := checkStatic(b, v1.Platform{OS: "linux", Architecture: here}); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("checkStatic(/bin/true) = %v, want dynamically linked", err)
	}
	if err := checkStatic(b, v1.Platform{OS: "linux", Architecture: other}); err == nil || !strings.Contains(err.Error(), "binary for EM_") {
		t.Errorf("checkStatic(/bin/true) for %s = %v, want a binary for another machine", other, err)
	}
}

// With -binaries the builder reads DIR/orphans-exporter-<os>-<arch> and holds
// it to the same checks as a binary it compiled.
func TestPrebuiltBinaries(t *testing.T) {
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if got, want := prebuiltName(v1.Platform{OS: "linux", Architecture: "arm64"}), "orphans-exporter-linux-arm64"; got != want {
		t.Errorf("prebuiltName(linux/arm64) = %q, want %q", got, want)
	}
	o := testOptions(time.Date(2026, 12, 3, 18, 1, 37, 0, time.UTC))
	o.binaries = t.TempDir()
	if _, err := exporterBinary(o, p, t.TempDir()); err == nil || !strings.Contains(err.Error(), prebuiltName(p)) {
		t.Errorf("exporterBinary without %s = %v, want an error naming it", prebuiltName(p), err)
	}
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(o.binaries, prebuiltName(p)), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := exporterBinary(o, p, t.TempDir()); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("exporterBinary with /bin/true as %s = %v, want dynamically linked", prebuiltName(p), err)
	}
}

// A Go binary that is not the exporter is refused, whatever its build: this
// test's own binary is the hack/image package's.
func TestCheckBuildRefusesAnotherProgram(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	err = checkBuild(b, v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}, "0123456789abcdef0123456789abcdef01234567")
	if err == nil || !strings.Contains(err.Error(), "want "+exporterPath) {
		t.Errorf("checkBuild(%s) = %v, want a refusal of another program", exe, err)
	}
}
