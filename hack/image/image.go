package main

import (
	"archive/tar"
	"bytes"
	"encoding/pem"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

const (
	defaultRepository = "ghcr.io/orphansweep/orphans-exporter"
	sourceURL         = "https://github.com/orphansweep/orphans"
	// The user of distroless's nonroot images, numeric so Kubernetes can
	// check runAsNonRoot without reading the image's /etc/passwd.
	nonrootID    = 65532
	binaryPath   = "/orphans-exporter"
	exporterPath = "github.com/orphansweep/orphans/exporter"
	caBundlePath = "/etc/ssl/certs/ca-certificates.crt"
)

// The exporter's two listeners: metrics and probes, and the token-bearing API.
var exposedPorts = []string{"9866/tcp", "9867/tcp"}

type options struct {
	version, revision, branch string
	created                   time.Time
	repository, license, out  string
	goCmd, binaries           string
	saveBinaries              string
	platforms                 []v1.Platform
}

func (o options) reference() string { return o.repository + ":" + o.version }

var semver = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+`)

// releaseVersion is the v-prefixed semantic version hack/dist.sh gives the
// plugin's release, so that the image and the archives of one build agree: a
// bare commit (no tag yet) becomes v0.0.0-g<commit>.
func releaseVersion(v string) string {
	v = strings.TrimPrefix(v, "v")
	if semver.MatchString(v) {
		return "v" + v
	}
	return "v0.0.0-g" + v
}

// labels are the image's OCI labels, also set as annotations of the index
// and of each manifest, where registries read them.
func (o options) labels() map[string]string {
	const p = "org.opencontainers.image."
	return map[string]string{
		p + "source":      sourceURL,
		p + "revision":    o.revision,
		p + "version":     o.version,
		p + "licenses":    "Apache-2.0",
		p + "title":       "orphans-exporter",
		p + "description": "Prometheus exporter of orphaned tenant namespaces: the ledger says the customer's resource is gone, the cluster says its namespace is still running. Audit-only.",
		p + "created":     o.created.Format(time.RFC3339),
	}
}

// file is one entry of a layer.
type file struct {
	path     string // absolute, as in the image
	mode     int64
	uid, gid int
	dir      bool
	data     []byte
}

// layer archives files in the order given, every one dated mtime, so the
// same files make the same digest.
func layer(files []file, mtime time.Time) (v1.Layer, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		h := &tar.Header{
			Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.path, "/"), Mode: f.mode,
			Uid: f.uid, Gid: f.gid, Size: int64(len(f.data)), ModTime: mtime,
		}
		if f.dir {
			h.Typeflag, h.Name, h.Size = tar.TypeDir, h.Name+"/", 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("%s: %w", f.path, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("%s: %w", f.path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b.Bytes())), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}

// passwd and group hold root, nobody and nonroot, as distroless's do.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"
)

// baseFiles are the files every platform shares: the users, the CA bundle,
// LICENSE, a home for nonroot and /tmp.
func baseFiles(license []byte) []file {
	dir := func(path string, mode int64) file { return file{path: path, mode: mode, dir: true} }
	return []file{
		file{path: "/LICENSE", mode: 0o644, data: license},
		dir("/etc", 0o755),
		file{path: "/etc/group", mode: 0o644, data: []byte(group)},
		file{path: "/etc/passwd", mode: 0o644, data: []byte(passwd)},
		dir("/etc/ssl", 0o755),
		dir("/etc/ssl/certs", 0o755),
		file{path: caBundlePath, mode: 0o644, data: caBundle()},
		dir("/home", 0o755),
		file{path: "/home/nonroot", mode: 0o700, uid: nonrootID, gid: nonrootID, dir: true},
		dir("/tmp", 0o1777),
	}
}

// caBundle is the NSS trust store pinned by the golang.org/x/crypto/x509roots/fallback
// module in go.sum, as PEM: the same bytes on every machine. A PEM file
// cannot carry a root's distrust-after date, so roots that have one are left
// out rather than trusted without it.
func caBundle() []byte {
	var b bytes.Buffer
	for r := range bundle.Roots() {
		if r.Constraint == nil {
			_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate})
		}
	}
	return b.Bytes()
}

// platformImage is the image of one platform: the shared base layer, the
// exporter's layer, and its configuration.
func platformImage(o options, p v1.Platform, base v1.Layer, exporter []byte) (v1.Image, error) {
	bin, err := layer([]file{{path: binaryPath, mode: 0o755, data: exporter}}, o.created)
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: p.Architecture,
		OS:           p.OS,
		Created:      v1.Time{Time: o.created},
		Config:       o.config(),
		RootFS:       v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: o.created}
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: created, CreatedBy: "hack/image: users, CA certificates, LICENSE"}},
		mutate.Addendum{Layer: bin, History: v1.History{Created: created, CreatedBy: "hack/image: " + binaryPath}})
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, o.labels()).(v1.Image), nil
}

func (o options) config() v1.Config {
	ports := map[string]struct{}{}
	for _, p := range exposedPorts {
		ports[p] = struct{}{}
	}
	return v1.Config{
		User:         fmt.Sprintf("%d:%d", nonrootID, nonrootID),
		Entrypoint:   []string{binaryPath},
		ExposedPorts: ports,
		Env: []string{
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"SSL_CERT_FILE=" + caBundlePath,
		},
		WorkingDir: "/",
		Labels:     o.labels(),
	}
}

// index gathers the platforms' images under one index.
func index(o options, images []v1.Image) v1.ImageIndex {
	var adds []mutate.IndexAddendum
	for i, img := range images {
		p := o.platforms[i]
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	idx = mutate.Annotations(idx, o.labels()).(v1.ImageIndex)
	return mutate.AppendManifests(idx, adds...)
}
