package release

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"
	"time"
)

func archive(t *testing.T, p Platform, mtime time.Time) []byte {
	t.Helper()
	var b bytes.Buffer
	// Out of order on purpose: entries are sorted.
	err := WriteArchive(&b, p, []File{
		{Name: p.Binary(), Mode: 0o755, Data: []byte("binary for " + p.String())},
		{Name: "LICENSE", Mode: 0o644, Data: []byte("license text")},
	}, mtime)
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type entry struct {
	name string
	mode int64
	data string
	mod  time.Time
}

func readArchive(t *testing.T, p Platform, b []byte) []entry {
	t.Helper()
	var out []entry
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
			data, _ := io.ReadAll(rc)
			rc.Close()
			out = append(out, entry{f.Name, int64(f.Mode().Perm()), string(data), f.Modified.UTC()})
		}
		return out
	}
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if gz.Name != "" || !gz.ModTime.IsZero() {
		t.Errorf("gzip header carries name %q time %v", gz.Name, gz.ModTime)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Typeflag != tar.TypeReg {
			t.Errorf("%s: uid %d gid %d type %c", h.Name, h.Uid, h.Gid, h.Typeflag)
		}
		data, _ := io.ReadAll(tr)
		out = append(out, entry{h.Name, h.Mode, string(data), h.ModTime.UTC()})
	}
}

func TestWriteArchive(t *testing.T) {
	mtime := time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)
	for _, p := range Platforms {
		t.Run(p.String(), func(t *testing.T) {
			b := archive(t, p, mtime)
			if !bytes.Equal(b, archive(t, p, mtime)) {
				t.Fatal("two archives of the same files differ")
			}
			got := readArchive(t, p, b)
			want := []entry{
				{"LICENSE", 0o644, "license text", mtime},
				{p.Binary(), 0o755, "binary for " + p.String(), mtime},
			}
			if len(got) != len(want) {
				t.Fatalf("entries %v, want %v", got, want)
			}
			for i := range want {
				if got[i].name != want[i].name || got[i].mode != want[i].mode || got[i].data != want[i].data || !got[i].mod.Equal(want[i].mod) {
					t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
				}
			}
			isZip := strings.HasSuffix(p.ArchiveName("v1.2.3"), ".zip")
			if isZip != (p.OS == "windows") || !strings.HasPrefix(p.ArchiveName("v1.2.3"), "kubectl-orphans_v1.2.3_"+p.OS+"_"+p.Arch+".") {
				t.Errorf("archive name %q", p.ArchiveName("v1.2.3"))
			}
		})
	}
	if a, b := archive(t, Platforms[0], mtime), archive(t, Platforms[0], mtime.Add(time.Hour)); bytes.Equal(a, b) {
		t.Error("the entry time does not reach the archive")
	}
}

func TestKrewManifest(t *testing.T) {
	sums := map[Platform]string{}
	for i, p := range Platforms {
		sums[p] = strings.Repeat(string(rune('a'+i)), 64)
	}
	d, err := NewKrewData("v1.2.3", "https://example.test/download/v1.2.3/", sums)
	if err != nil {
		t.Fatal(err)
	}
	out, err := RenderKrew("{{.Version}}\n{{range .Platforms}}{{.OS}} {{.Arch}} {{.Bin}} {{.SHA256}} {{.URI}}\n{{end}}", d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "windows amd64 kubectl-orphans.exe eeee") ||
		!strings.Contains(string(out), "https://example.test/download/v1.2.3/kubectl-orphans_v1.2.3_linux_arm64.tar.gz\n") {
		t.Fatalf("rendered:\n%s", out)
	}

	delete(sums, Platforms[4])
	if _, err := NewKrewData("v1.2.3", "https://example.test", sums); err == nil {
		t.Error("a manifest without the windows archive's checksum was made")
	}
	if _, err := RenderKrew("{{.Nope}}", d); err == nil {
		t.Error("a template naming a missing field rendered")
	}
}
