package exporter

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/orphansweep/orphans/internal/kube"
	"github.com/orphansweep/orphans/internal/testenv"
)

// The exporter refuses to start when --contents.extra-resources names
// Secrets, in any spelling, with one line naming the flag.
func TestContentsNeverReadSecrets(t *testing.T) {
	for _, spelling := range []string{
		"v1/secrets", "/v1/secrets", "secrets", "core/v1/secrets", "Secrets", "v1/secrets ", "v1/Secret",
		"secrets.v1.", "apps/v1/deployments,v1/secrets", "postgresql.cnpg.io/v1/clusters, SECRETS",
	} {
		o, err := parse(t, "--contents.extra-resources="+spelling)
		if err != nil {
			t.Fatal(err)
		}
		_, err = o.Validate(envOf())
		if err == nil || !strings.Contains(err.Error(), "invalid --contents.extra-resources") ||
			!strings.Contains(err.Error(), "Secrets are never read") || strings.Contains(err.Error(), "\n") {
			t.Errorf("--contents.extra-resources=%q: err = %v, want one line refusing Secrets", spelling, err)
		}
	}
	o, err := parse(t, "--contents.extra-resources=postgresql.cnpg.io/v1/clusters,v1/endpoints")
	if err != nil {
		t.Fatal(err)
	}
	c, err := o.Validate(envOf())
	if err != nil || len(c.Contents.Extra) != 2 {
		t.Fatalf("two extra resources: %+v, %v", c.Contents.Extra, err)
	}
}

// The exporter's role grants list on exactly what the contents reader
// lists: a kind read without its rule would fail every candidate's read,
// a rule without a read would be a permission nobody needs.
func TestExporterRulesListWhatContentsRead(t *testing.T) {
	read := map[string]bool{"/pods": true, "/persistentvolumeclaims": true}
	for _, gvr := range kube.ChangeResources {
		read[gvr.Group+"/"+gvr.Resource] = true
	}
	granted := map[string]bool{}
	for _, r := range testenv.ExporterRules() {
		if !slices.Equal(r.Verbs, []string{"list"}) {
			continue
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				granted[g+"/"+res] = true
			}
		}
	}
	if !maps.Equal(read, granted) {
		t.Fatalf("the contents reader lists %v, the exporter's role grants list on %v", slices.Sorted(maps.Keys(read)), slices.Sorted(maps.Keys(granted)))
	}
}
