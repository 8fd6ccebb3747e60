// Command release packages the kubectl-orphans binaries hack/dist.sh built:
// one archive per platform with LICENSE, a .sha256 per archive, and the krew
// manifest rendered from its template with those checksums (written to
// -manifest and, as the release asset, to <out>/orphans.yaml).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/orphansweep/orphans/internal/release"
)

func main() {
	var (
		version  = flag.String("version", "", "v-prefixed semantic version of the release")
		buildDir = flag.String("build-dir", "", "directory holding <os>_<arch>/<binary> for every platform")
		license  = flag.String("license", "LICENSE", "license file shipped in every archive")
		out      = flag.String("out", "dist", "directory for the archives and checksums")
		baseURL  = flag.String("base-url", "", "URL of the directory the archives are downloaded from")
		tmpl     = flag.String("template", "hack/krew.yaml.tmpl", "krew manifest template")
		manifest = flag.String("manifest", ".krew.yaml", "where to write the rendered krew manifest")
		mtime    = flag.Int64("mtime", 0, "unix time every archive entry is dated (the commit's, for reproducible archives)")
		list     = flag.Bool("list-platforms", false, "print the release platforms as os/arch, one a line, and exit")
	)
	flag.Parse()
	if *list {
		for _, p := range release.Platforms {
			fmt.Println(p)
		}
		return
	}
	if err := run(*version, *buildDir, *license, *out, *baseURL, *tmpl, *manifest, time.Unix(*mtime, 0)); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run(version, buildDir, license, out, baseURL, tmplPath, manifest string, mtime time.Time) error {
	if version == "" || buildDir == "" || baseURL == "" {
		return fmt.Errorf("-version, -build-dir and -base-url are required")
	}
	lic, err := os.ReadFile(license)
	if err != nil {
		return err
	}
	tmpl, err := os.ReadFile(tmplPath)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	sums := map[release.Platform]string{}
	for _, p := range release.Platforms {
		bin, err := os.ReadFile(filepath.Join(buildDir, p.OS+"_"+p.Arch, p.Binary()))
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		f, err := os.CreateTemp(out, ".archive-")
		if err != nil {
			return err
		}
		werr := release.WriteArchive(f, p, []release.File{
			{Name: p.Binary(), Mode: 0o755, Data: bin},
			{Name: "LICENSE", Mode: 0o644, Data: lic},
		}, mtime)
		// CreateTemp makes the file private; a release asset is for everyone.
		if werr == nil {
			werr = f.Chmod(0o644)
		}
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		name := p.ArchiveName(version)
		if werr == nil {
			werr = os.Rename(f.Name(), filepath.Join(out, name))
		}
		if werr != nil {
			_ = os.Remove(f.Name())
			return fmt.Errorf("%s: %w", name, werr)
		}
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			return err
		}
		sums[p] = release.SHA256(b)
		// The format sha256sum -c reads.
		if err := os.WriteFile(filepath.Join(out, name+".sha256"), []byte(sums[p]+"  "+name+"\n"), 0o644); err != nil {
			return err
		}
		fmt.Printf("%s  %s\n", sums[p], name)
	}
	data, err := release.NewKrewData(version, baseURL, sums)
	if err != nil {
		return err
	}
	rendered, err := release.RenderKrew(string(tmpl), data)
	if err != nil {
		return err
	}
	// The release asset is named after the plugin, as the krew index and
	// `kubectl krew install --manifest-url` expect; the repository keeps the
	// same manifest as .krew.yaml.
	asset := filepath.Join(out, release.PluginName+".yaml")
	for _, path := range []string{manifest, asset} {
		if err := os.WriteFile(path, rendered, 0o644); err != nil {
			return err
		}
		fmt.Println("krew manifest:", path)
	}
	return nil
}
