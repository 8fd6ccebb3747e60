// Package release packages kubectl-orphans for a release: one archive per
// platform holding the binary and LICENSE, the archive's sha256, and the krew
// manifest that points at the archives with those checksums.
//
// Archives are byte-for-byte reproducible from the same binaries: entries are
// sorted, owned by 0:0 and dated with the given time (the commit's), and
// gzip carries no name or time of its own.
package release

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"text/template"
	"time"
)

// PluginName is the plugin's name in krew and the suffix of its binary.
const PluginName = "orphans"

// Platform is one os/arch the plugin is released for.
type Platform struct{ OS, Arch string }

// Platforms are the release targets: linux, darwin and windows, each on
// amd64 and arm64.
var Platforms = []Platform{
	{"linux", "amd64"},
	{"linux", "arm64"},
	{"darwin", "amd64"},
	{"darwin", "arm64"},
	{"windows", "amd64"},
	{"windows", "arm64"},
}

func (p Platform) String() string { return p.OS + "/" + p.Arch }

// Binary is the executable's file name on this platform.
func (p Platform) Binary() string {
	if p.OS == "windows" {
		return "kubectl-" + PluginName + ".exe"
	}
	return "kubectl-" + PluginName
}

// ArchiveName is the release asset's file name.
func (p Platform) ArchiveName(version string) string {
	ext := ".tar.gz"
	if p.OS == "windows" {
		ext = ".zip"
	}
	return fmt.Sprintf("kubectl-%s_%s_%s_%s%s", PluginName, version, p.OS, p.Arch, ext)
}

// File is one archive entry.
type File struct {
	Name string
	Mode int64
	Data []byte
}

// WriteArchive writes files as a tar.gz, or a zip for windows, with every
// entry dated mtime.
func WriteArchive(w io.Writer, p Platform, files []File, mtime time.Time) error {
	files = append([]File(nil), files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	mtime = mtime.UTC().Truncate(time.Second)
	if p.OS == "windows" {
		zw := zip.NewWriter(w)
		for _, f := range files {
			h := &zip.FileHeader{Name: f.Name, Method: zip.Deflate, Modified: mtime}
			h.SetMode(fs.FileMode(f.Mode))
			fw, err := zw.CreateHeader(h)
			if err != nil {
				return err
			}
			if _, err := fw.Write(f.Data); err != nil {
				return err
			}
		}
		return zw.Close()
	}
	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	for _, f := range files {
		h := &tar.Header{
			Typeflag: tar.TypeReg, Name: f.Name, Mode: f.Mode, Size: int64(len(f.Data)),
			ModTime: mtime, Uid: 0, Gid: 0, Uname: "root", Gname: "root",
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// SHA256 is the lower-case hex digest krew expects.
func SHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// KrewPlatform is one platforms[] entry of the manifest.
type KrewPlatform struct {
	OS, Arch, URI, SHA256, Bin string
}

// KrewData fills the manifest template.
type KrewData struct {
	// Version is the v-prefixed semantic version krew requires.
	Version   string
	Platforms []KrewPlatform
}

// NewKrewData lists every platform's archive under baseURL (the release's
// download directory) with its checksum.
func NewKrewData(version, baseURL string, sums map[Platform]string) (KrewData, error) {
	d := KrewData{Version: version}
	for _, p := range Platforms {
		sum, ok := sums[p]
		if !ok {
			return KrewData{}, fmt.Errorf("no checksum for %s", p)
		}
		d.Platforms = append(d.Platforms, KrewPlatform{
			OS: p.OS, Arch: p.Arch, SHA256: sum, Bin: p.Binary(),
			URI: strings.TrimSuffix(baseURL, "/") + "/" + p.ArchiveName(version),
		})
	}
	return d, nil
}

// RenderKrew renders the manifest template.
func RenderKrew(tmpl string, d KrewData) ([]byte, error) {
	t, err := template.New("krew").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
