package deploy_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/orphansweep/orphans/internal/release"
)

const releaseBase = "https://github.com/orphansweep/orphans/releases/download/"

// krewManifest is the part of a krew Plugin the tests read.
type krewManifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Caveats          string `json:"caveats"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
			Files  []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"files"`
		} `json:"platforms"`
	} `json:"spec"`
}

func readKrewManifest(t *testing.T, path string) ([]byte, krewManifest) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m krewManifest
	if err := utilyaml.UnmarshalStrict(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b, m
}

// checkKrewManifest holds a manifest to what the krew index expects beyond
// validate-krew-manifest: a v-prefixed version, a few-word description, one
// selector per platform, caveats only about shell completion.
func checkKrewManifest(t *testing.T, m krewManifest) map[release.Platform]string {
	t.Helper()
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != release.PluginName {
		t.Errorf("%s %s %s", m.APIVersion, m.Kind, m.Metadata.Name)
	}
	if !strings.HasPrefix(m.Spec.Version, "v") {
		t.Errorf("version %q is not v-prefixed", m.Spec.Version)
	}
	if n := len(strings.Fields(m.Spec.ShortDescription)); n < 2 || n > 8 || len(m.Spec.ShortDescription) > 60 {
		t.Errorf("shortDescription %q: want a few words", m.Spec.ShortDescription)
	}
	// krew's index wants prose: what it is and what it needs, no usage block.
	for _, line := range strings.Split(m.Spec.Description, "\n") {
		if l := strings.TrimSpace(line); strings.HasSuffix(l, ":") || strings.HasPrefix(l, "kubectl ") || strings.HasPrefix(line, "  ") {
			t.Errorf("description line %q: want prose only, no usage block", line)
		}
	}
	if len(strings.Fields(m.Spec.Description)) < 20 {
		t.Errorf("description %q: want a paragraph", m.Spec.Description)
	}
	if c := strings.ToLower(m.Spec.Caveats); !strings.Contains(c, "completion") || strings.Count(c, "\n\n") > 0 {
		t.Errorf("caveats should be the completion step only:\n%s", m.Spec.Caveats)
	}
	sums := map[release.Platform]string{}
	for _, p := range m.Spec.Platforms {
		if len(p.Selector.MatchLabels) != 2 {
			t.Errorf("selector %v: want exactly os and arch", p.Selector.MatchLabels)
		}
		pl := release.Platform{OS: p.Selector.MatchLabels["os"], Arch: p.Selector.MatchLabels["arch"]}
		if _, dup := sums[pl]; dup {
			t.Errorf("two platforms select %s", pl)
		}
		sums[pl] = p.SHA256
		if want := releaseBase + m.Spec.Version + "/" + pl.ArchiveName(m.Spec.Version); p.URI != want {
			t.Errorf("%s uri %q, want %q", pl, p.URI, want)
		}
		if p.Bin != pl.Binary() {
			t.Errorf("%s bin %q, want %q", pl, p.Bin, pl.Binary())
		}
		files := map[string]bool{}
		for _, f := range p.Files {
			files[f.From] = true
		}
		if !files["LICENSE"] || !files[pl.Binary()] {
			t.Errorf("%s files %v: want the binary and LICENSE", pl, p.Files)
		}
	}
	if len(sums) != len(release.Platforms) {
		t.Errorf("platforms %v, want %v", sums, release.Platforms)
	}
	return sums
}

// The committed .krew.yaml is the template rendered with its own version and
// checksums: editing the template without re-running `make dist` fails here
// (TestKrewManifestValidates runs krew's validator on it).
func TestKrewManifestInSync(t *testing.T) {
	committed, m := readKrewManifest(t, filepath.Join(repoRoot(), ".krew.yaml"))
	sums := checkKrewManifest(t, m)
	data, err := release.NewKrewData(m.Spec.Version, releaseBase+m.Spec.Version, sums)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := os.ReadFile(filepath.Join(repoRoot(), "hack", "krew.yaml.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := release.RenderKrew(string(tmpl), data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rendered, committed) {
		t.Fatal(".krew.yaml differs from hack/krew.yaml.tmpl rendered with its version and checksums: run `make dist`")
	}
}
