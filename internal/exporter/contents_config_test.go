package exporter

import (
	"strings"
	"testing"
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
