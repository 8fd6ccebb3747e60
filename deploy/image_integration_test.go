//go:build integration

package deploy_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"debug/buildinfo"
	"debug/elf"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/orphansweep/orphans/internal/testenv"
)

// The image `make image` builds is tagged with the release version of the
// version the test asks for, as hack/dist.sh would name it.
const (
	imageVersion    = "v" + testenv.TestVersion
	imageUser       = "65532:65532"
	imageEntrypoint = "/orphans-exporter"
	nonrootID       = 65532
)

// imageArchs are the platforms of the index, each with its ELF machine.
var imageArchs = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// builtImage is what one `make image` left in its output directory.
type builtImage struct {
	dir    string
	report string // what make printed: the digests
	log    string // what it said on stderr
	index  v1.ImageIndex
	images map[string]v1.Image // by architecture
}

// buildImage runs `make image` into dir and opens the OCI layout it wrote;
// extra are more make variables.
func buildImage(dir string, extra ...string) (builtImage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	args := append([]string{"-s", "image", "VERSION=" + testenv.TestVersion, "IMAGE_DIR=" + dir}, extra...)
	out, log, err := run(ctx, repoRoot(), nil, nil, "make", args...)
	if err != nil {
		return builtImage{}, fmt.Errorf("make image: %w", err)
	}
	b := builtImage{dir: dir, report: string(out), log: string(log), images: map[string]v1.Image{}}
	l, err := layout.ImageIndexFromPath(filepath.Join(dir, "oci"))
	if err != nil {
		return builtImage{}, err
	}
	top, err := l.IndexManifest()
	if err != nil {
		return builtImage{}, err
	}
	if len(top.Manifests) != 1 {
		return builtImage{}, fmt.Errorf("the layout's index.json lists %d manifests, want the one index", len(top.Manifests))
	}
	d := top.Manifests[0]
	if d.MediaType != types.OCIImageIndex || d.Annotations["org.opencontainers.image.ref.name"] != imageVersion ||
		d.Annotations["io.containerd.image.name"] != imageRepository+":"+imageVersion {
		return builtImage{}, fmt.Errorf("the layout's index.json lists %+v, want an OCI index tagged %s", d, imageVersion)
	}
	if b.index, err = l.ImageIndex(d.Digest); err != nil {
		return builtImage{}, err
	}
	im, err := b.index.IndexManifest()
	if err != nil {
		return builtImage{}, err
	}
	for _, m := range im.Manifests {
		if m.Platform == nil || m.Platform.OS != "linux" || m.MediaType != types.OCIManifestSchema1 {
			return builtImage{}, fmt.Errorf("index entry %+v, want an OCI manifest for linux", m)
		}
		if b.images[m.Platform.Architecture], err = b.index.Image(m.Digest); err != nil {
			return builtImage{}, err
		}
	}
	if got, want := slices.Sorted(maps.Keys(b.images)), slices.Sorted(maps.Keys(imageArchs)); !slices.Equal(got, want) {
		return builtImage{}, fmt.Errorf("index platforms %v, want linux/%v", got, want)
	}
	return b, nil
}

// sharedImageDir holds the one build every test but the reproducibility
// test reads; TestMain removes it.
var sharedImageDir string

// sharedImage is that build: building both architectures takes minutes.
var sharedImage = sync.OnceValues(func() (builtImage, error) {
	dir, err := os.MkdirTemp("", "orphans-image-test-")
	if err != nil {
		return builtImage{}, err
	}
	sharedImageDir = dir
	return buildImage(dir)
})

func builtImageOnce(t *testing.T) builtImage {
	t.Helper()
	b, err := sharedImage()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (b builtImage) tarball(arch string) string {
	return filepath.Join(b.dir, "orphans-exporter-"+imageVersion+"-"+arch+".tar")
}

// commit is what the image must say about the checkout it was built from.
type commit struct {
	revision string
	time     time.Time
}

func headCommit(t *testing.T) commit {
	t.Helper()
	git := func(args ...string) string {
		out, _, err := run(context.Background(), repoRoot(), nil, nil, "git", args...)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	secs, err := strconv.ParseInt(git("log", "-1", "--format=%ct"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return commit{revision: git("rev-parse", "HEAD"), time: time.Unix(secs, 0).UTC()}
}

// Two builds of one commit are the same index, the same manifests and the
// same tarballs, byte for byte; make reports the digests it wrote.
func TestImageReproducible(t *testing.T) {
	first := builtImageOnce(t)
	second, err := buildImage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("make image:\n%s", first.report)
	testImageReproducible(t, first, second)
}

// The exporters of a build, given back through IMAGE_BINARIES, make the same
// image: a release may build the binaries once and reuse them.
func TestImageFromPrebuiltBinaries(t *testing.T) {
	built := builtImageOnce(t)
	bins := t.TempDir()
	for arch, img := range built.images {
		exporter := rootFS(t, img)[strings.TrimPrefix(imageEntrypoint, "/")].data
		if len(exporter) == 0 {
			t.Fatalf("linux/%s: no %s in the image", arch, imageEntrypoint)
		}
		if err := os.WriteFile(filepath.Join(bins, "orphans-exporter-linux-"+arch), exporter, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	again, err := buildImage(t.TempDir(), "IMAGE_BINARIES="+bins)
	if err != nil {
		t.Fatal(err)
	}
	for arch := range imageArchs {
		if used := filepath.Join(bins, "orphans-exporter-linux-"+arch); !strings.Contains(again.log, "using "+used+" for linux/"+arch) {
			t.Errorf("make image did not say it used %s:\n%s", used, again.log)
		}
	}
	if a, b := digest(t, built.index), digest(t, again.index); a != b {
		t.Errorf("index %s from compiled exporters, %s from the same exporters prebuilt", a, b)
	}
}

// TestImageContents reads what the image holds and says about itself.
func TestImageContents(t *testing.T) {
	built := builtImageOnce(t)
	head := headCommit(t)
	t.Run("labels", func(t *testing.T) { testImageLabels(t, built, head) })
	for arch := range imageArchs {
		t.Run("config/"+arch, func(t *testing.T) { testImageConfig(t, built.images[arch], arch, head) })
		t.Run("files/"+arch, func(t *testing.T) { testImageFiles(t, built.images[arch], arch, head) })
		t.Run("docker-load/"+arch, func(t *testing.T) { testImageTarball(t, built, arch) })
	}
	t.Run("deploy/base runs it", func(t *testing.T) { testImageIsDeployed(t, built) })
}

// The amd64 image's entrypoint runs as 65532 in its own root file system
// against the test bed.
func TestImageRuns(t *testing.T) {
	testImageRuns(t, builtImageOnce(t).images["amd64"])
}

func digest(t *testing.T, d interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// Two builds of one commit are the same index, the same manifests and the
// same tarballs, byte for byte; make reports the digests it wrote.
func testImageReproducible(t *testing.T, a, b builtImage) {
	ia, ib := digest(t, a.index), digest(t, b.index)
	if ia != ib {
		t.Errorf("index digests %s and %s", ia, ib)
	}
	if !strings.Contains(a.report, ia.String()+"  "+imageRepository+":"+imageVersion) {
		t.Errorf("make image reported\n%s\nwithout the index %s", a.report, ia)
	}
	for arch := range imageArchs {
		ma, mb := digest(t, a.images[arch]), digest(t, b.images[arch])
		if ma != mb {
			t.Errorf("linux/%s manifest digests %s and %s", arch, ma, mb)
		}
		if !strings.Contains(a.report, ma.String()+"  linux/"+arch) {
			t.Errorf("make image reported\n%s\nwithout linux/%s's %s", a.report, arch, ma)
		}
		if sa, sb := fileSHA256(t, a.tarball(arch)), fileSHA256(t, b.tarball(arch)); sa != sb {
			t.Errorf("%s: sha256 %s and %s", filepath.Base(a.tarball(arch)), sa, sb)
		}
		t.Logf("linux/%s manifest %s", arch, ma)
	}
	t.Logf("index %s", ia)
}

func wantLabels(head commit) map[string]string {
	const p = "org.opencontainers.image."
	return map[string]string{
		p + "source":      "https://github.com/orphansweep/orphans",
		p + "revision":    head.revision,
		p + "version":     imageVersion,
		p + "licenses":    "Apache-2.0",
		p + "title":       "orphans-exporter",
		p + "description": "Prometheus exporter of orphaned tenant namespaces: the ledger says the customer's resource is gone, the cluster says its namespace is still running. Audit-only.",
		p + "created":     head.time.Format(time.RFC3339),
	}
}

// The index and every manifest carry the labels as annotations too, where
// registries read them.
func testImageLabels(t *testing.T, b builtImage, head commit) {
	im, err := b.index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(im.Annotations, wantLabels(head)) {
		t.Errorf("index annotations %v, want %v", im.Annotations, wantLabels(head))
	}
	for arch, img := range b.images {
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(m.Annotations, wantLabels(head)) {
			t.Errorf("linux/%s manifest annotations %v, want %v", arch, m.Annotations, wantLabels(head))
		}
	}
}

func testImageConfig(t *testing.T, img v1.Image, arch string, head commit) {
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if cf.OS != "linux" || cf.Architecture != arch {
		t.Errorf("config for %s/%s", cf.OS, cf.Architecture)
	}
	if !cf.Created.Time.Equal(head.time) {
		t.Errorf("created %s, want the commit's time %s", cf.Created.Time, head.time)
	}
	for _, h := range cf.History {
		if !h.Created.Time.Equal(head.time) {
			t.Errorf("history %q created %s, want %s", h.CreatedBy, h.Created.Time, head.time)
		}
	}
	if c.User != imageUser {
		t.Errorf("user %q, want %s", c.User, imageUser)
	}
	if !slices.Equal(c.Entrypoint, []string{imageEntrypoint}) || len(c.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q, want [%s] alone", c.Entrypoint, c.Cmd, imageEntrypoint)
	}
	if ports := slices.Sorted(maps.Keys(c.ExposedPorts)); !slices.Equal(ports, []string{"9866/tcp", "9867/tcp"}) {
		t.Errorf("exposed ports %v, want the metrics listener 9866/tcp and the API listener 9867/tcp", ports)
	}
	if !slices.Contains(c.Env, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt") || !slices.ContainsFunc(c.Env, func(e string) bool { return strings.HasPrefix(e, "PATH=/") }) {
		t.Errorf("env %q, want PATH and SSL_CERT_FILE naming the image's CA bundle", c.Env)
	}
	if !maps.Equal(c.Labels, wantLabels(head)) {
		t.Errorf("labels %v, want %v", c.Labels, wantLabels(head))
	}
}

// rootEntry is one file of an image's flattened root file system.
type rootEntry struct {
	hdr  *tar.Header
	data []byte
}

// rootFS reads an image's flattened file system; go-containerregistry checks
// every layer against its digest on the way.
func rootFS(t *testing.T, img v1.Image) map[string]rootEntry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	files := map[string]rootEntry{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = rootEntry{h, data}
	}
}

// The image holds the static exporter for its architecture, the users, the
// CA bundle and LICENSE, and nothing else; root owns everything but
// nonroot's home, and every file is dated with the commit.
func testImageFiles(t *testing.T, img v1.Image, arch string, head commit) {
	files := rootFS(t, img)
	want := []string{"LICENSE", "etc", "etc/group", "etc/passwd", "etc/ssl", "etc/ssl/certs", "etc/ssl/certs/ca-certificates.crt",
		"home", "home/nonroot", "orphans-exporter", "tmp"}
	if got := slices.Sorted(maps.Keys(files)); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	for p, f := range files {
		owner := 0
		if p == "home/nonroot" {
			owner = nonrootID
		}
		if f.hdr.Uid != owner || f.hdr.Gid != owner {
			t.Errorf("%s owned by %d:%d, want %d:%d", p, f.hdr.Uid, f.hdr.Gid, owner, owner)
		}
		if !f.hdr.ModTime.Equal(head.time) {
			t.Errorf("%s dated %s, want the commit's time %s", p, f.hdr.ModTime, head.time)
		}
	}
	if m := files["orphans-exporter"].hdr.FileInfo().Mode(); m != 0o755 {
		t.Errorf("orphans-exporter mode %v, want -rwxr-xr-x", m)
	}
	if m := files["tmp"].hdr.FileInfo().Mode(); m != fs.ModeDir|fs.ModeSticky|0o777 {
		t.Errorf("tmp mode %v, want drwxrwxrwt", m)
	}
	license, err := os.ReadFile(filepath.Join(repoRoot(), "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(files["LICENSE"].data, license) {
		t.Error("LICENSE differs from the repository's")
	}
	checkNonrootUser(t, string(files["etc/passwd"].data), string(files["etc/group"].data))
	checkCABundle(t, files["etc/ssl/certs/ca-certificates.crt"].data)
	checkStaticExporter(t, files["orphans-exporter"].data, arch, head)
}

func checkNonrootUser(t *testing.T, passwd, group string) {
	t.Helper()
	if !slices.Contains(strings.Split(passwd, "\n"), "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin") {
		t.Errorf("/etc/passwd has no nonroot 65532:65532 entry:\n%s", passwd)
	}
	if !slices.Contains(strings.Split(group, "\n"), "nonroot:x:65532:") {
		t.Errorf("/etc/group has no nonroot 65532 entry:\n%s", group)
	}
}

func checkCABundle(t *testing.T, b []byte) {
	t.Helper()
	n := 0
	for rest := b; len(bytes.TrimSpace(rest)) > 0; n++ {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil || blk.Type != "CERTIFICATE" {
			t.Fatalf("CA bundle: entry %d is not a PEM certificate", n)
		}
		if c, err := x509.ParseCertificate(blk.Bytes); err != nil || !c.IsCA {
			t.Fatalf("CA bundle: certificate %d: %v (CA %v)", n, err, err == nil && c.IsCA)
		}
	}
	if n < 100 {
		t.Errorf("CA bundle holds %d certificates, want a public trust store's", n)
	}
}

// checkStaticExporter reads the binary's ELF headers and its Go build
// information: a static, stripped exporter for arch, built as the Makefile
// builds it, stamped with the version and the commit. (The amd64 run checks
// that build_info reports the version.)
func checkStaticExporter(t *testing.T, b []byte, arch string, head commit) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != imageArchs[arch] || f.Class != elf.ELFCLASS64 {
		t.Errorf("ELF %s %s, want %s", f.Class, f.Machine, imageArchs[arch])
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("program header %s: the binary is dynamically linked", p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs %v", libs)
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary keeps its symbol table: not built with -s")
	}
	info, err := buildinfo.Read(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if info.Path != "github.com/orphansweep/orphans/exporter" {
		t.Errorf("binary of %s, want the exporter", info.Path)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	for k, v := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": "linux", "GOARCH": arch} {
		if settings[k] != v {
			t.Errorf("built with %s=%q, want %q", k, settings[k], v)
		}
	}
	// -trimpath keeps -ldflags out of the build information: the -X values
	// are looked for among the binary's strings.
	for what, v := range map[string]string{
		"version":    testenv.TestVersion,
		"revision":   head.revision,
		"build date": head.time.Format("20060102-15:04:05"),
	} {
		if !bytes.Contains(b, []byte(v)) {
			t.Errorf("the binary does not carry its %s %q", what, v)
		}
	}
}

// Each docker-load tarball holds its platform's image, tagged with the
// release: the same config and layers as the layout's.
func testImageTarball(t *testing.T, b builtImage, arch string) {
	tag, err := name.NewTag(imageRepository+":"+imageVersion, name.StrictValidation)
	if err != nil {
		t.Fatal(err)
	}
	opener := func() (io.ReadCloser, error) { return os.Open(b.tarball(arch)) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || !slices.Equal(m[0].RepoTags, []string{tag.String()}) {
		t.Fatalf("%s: manifest.json %+v, want one image tagged %s", filepath.Base(b.tarball(arch)), m, tag)
	}
	img, err := tarball.Image(opener, &tag)
	if err != nil {
		t.Fatal(err)
	}
	want := b.images[arch]
	if got, w := configName(t, img), configName(t, want); got != w {
		t.Errorf("tarball config %s, layout config %s", got, w)
	}
	if got, w := layerDigests(t, img), layerDigests(t, want); !slices.Equal(got, w) {
		t.Errorf("tarball layers %v, layout layers %v", got, w)
	}
}

func configName(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func layerDigests(t *testing.T, img v1.Image) []string {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		out = append(out, digest(t, l).String())
	}
	return out
}

// deploy/base pulls this image's repository, runs it as the image's user and
// names the ports it exposes.
func testImageIsDeployed(t *testing.T, b builtImage) {
	cf, err := b.images["amd64"].ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	d := renderedDeployment(t, "deploy/base")
	c := d.Spec.Template.Spec.Containers[0]
	if repo, _, _ := strings.Cut(c.Image, ":"); repo != imageRepository {
		t.Errorf("deploy/base runs %s, want %s, the repository make image tags", c.Image, imageRepository)
	}
	if len(c.Command) != 0 {
		t.Errorf("deploy/base replaces the image's entrypoint with %v", c.Command)
	}
	uid, gid, _ := strings.Cut(cf.Config.User, ":")
	psc := d.Spec.Template.Spec.SecurityContext
	if psc == nil || psc.RunAsUser == nil || strconv.FormatInt(*psc.RunAsUser, 10) != uid ||
		psc.RunAsGroup == nil || strconv.FormatInt(*psc.RunAsGroup, 10) != gid {
		t.Errorf("image user %s, Deployment pod securityContext %+v: runAsUser and runAsGroup must agree", cf.Config.User, psc)
	}
	var ports []string
	for _, p := range c.Ports {
		proto := strings.ToLower(string(p.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		ports = append(ports, fmt.Sprintf("%d/%s", p.ContainerPort, proto))
	}
	if exposed := slices.Sorted(maps.Keys(cf.Config.ExposedPorts)); !slices.Equal(slices.Sorted(slices.Values(ports)), exposed) {
		t.Errorf("Deployment container ports %v, image exposes %v", ports, exposed)
	}
}
