package deploy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// imageRepository is where `make image` tags the exporter and where a
// release pushes it.
const imageRepository = "ghcr.io/orphansweep/orphans-exporter"

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), path))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// baseImage is the reference deploy/base pulls, repository:tag.
func baseImage(t *testing.T) string {
	t.Helper()
	var k struct {
		Images []struct {
			Name, NewName, NewTag, Digest string
		}
	}
	readYAML(t, "deploy/base/kustomization.yaml", &k)
	if len(k.Images) != 1 {
		t.Fatalf("deploy/base sets %d images, want the exporter's", len(k.Images))
	}
	img := k.Images[0]
	if img.Name != "orphans-exporter" || img.NewName != imageRepository {
		t.Errorf("deploy/base maps image %q to %q, want orphans-exporter to %s", img.Name, img.NewName, imageRepository)
	}
	if !regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(img.NewTag) || img.Digest != "" {
		t.Errorf("deploy/base tags the image %q (digest %q), want a release's vX.Y.Z", img.NewTag, img.Digest)
	}

	var dep struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct{ Image string }
				}
			}
		}
	}
	readYAML(t, "deploy/base/deployment.yaml", &dep)
	if c := dep.Spec.Template.Spec.Containers; len(c) != 1 || c[0].Image != img.Name {
		t.Errorf("deploy/base's Deployment runs %+v, want the one image the kustomization maps, %q", c, img.Name)
	}
	return img.NewName + ":" + img.NewTag
}

// deploy/base, the chart's defaults and the README's install section name
// one image: the repository `make image` tags, at the release's tag. The
// integration tier (TestImage*) builds that image, reads it and runs it.
func TestImageReferences(t *testing.T) {
	base := baseImage(t)

	var chart struct{ AppVersion string }
	readYAML(t, "deploy/chart/orphans-exporter/Chart.yaml", &chart)
	var values struct {
		Image struct{ Repository, Tag, Digest string }
	}
	readYAML(t, "deploy/chart/orphans-exporter/values.yaml", &values)
	// The chart's template falls back to appVersion when image.tag is empty.
	tag := values.Image.Tag
	if tag == "" {
		tag = chart.AppVersion
	}
	if got := values.Image.Repository + ":" + tag; got != base || values.Image.Digest != "" {
		t.Errorf("the chart's default image is %s (digest %q), deploy/base's %s", got, values.Image.Digest, base)
	}

	readme, err := os.ReadFile(filepath.Join(repoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	install := string(readme)
	if i := strings.Index(install, "\n## Install\n"); i >= 0 {
		install = install[i:]
		if j := strings.Index(install[1:], "\n## "); j >= 0 {
			install = install[:j+1]
		}
	} else {
		t.Fatal("README.md has no Install section")
	}
	if refs := regexp.MustCompile(regexp.QuoteMeta(imageRepository)+`:[^\s`+"`"+`]+`).FindAllString(install, -1); len(refs) == 0 {
		t.Errorf("README's Install section names no %s image", imageRepository)
	} else {
		for _, r := range refs {
			// vX.Y.Z stands for any release, in the table of what one publishes.
			if r != base && r != imageRepository+":vX.Y.Z" {
				t.Errorf("README's Install section names %s, deploy/base pulls %s", r, base)
			}
		}
	}
	if !strings.Contains(install, "`make image`") {
		t.Error("README's Install section does not say `make image` builds the image")
	}
}

// The Dockerfile is gone: `make image` is the one way the image is built.
func TestNoDockerfile(t *testing.T) {
	if _, err := os.Stat(filepath.Join(repoRoot(), "Dockerfile")); !os.IsNotExist(err) {
		t.Errorf("Dockerfile: %v; `make image` builds the image, a Dockerfile would build another", err)
	}
}
