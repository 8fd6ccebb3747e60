//go:build integration

package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/testenv"
)

// TestGhostsThroughKubectl: a live ledger row whose namespace does not exist
// is listed by `kubectl orphans ghosts` in every format, masked in tables; a
// live row with its namespace is not.
func TestGhostsThroughKubectl(t *testing.T) {
	s := newScope(t)
	_, present := s.tenant()
	ghost := uuid.NewString()
	old := time.Now().Add(-2 * time.Hour)
	s.rows(
		testenv.Row{Token: present, Status: "active", ResourceType: "redis", CreatedAt: old},
		testenv.Row{Token: ghost, Status: "active", ResourceType: "redis", CreatedAt: old},
	)
	e := s.startExporter(exporterOptions{enabled: true, args: []string{"--ghosts.interval=2s", "--ghosts.grace=1h"}})
	ctx := time.Now().Add(time.Minute)
	var doc api.Ghosts
	for {
		code, body, err := e.get("/ghosts")
		if err == nil && code == http.StatusOK && json.Unmarshal(body, &doc) == nil && len(doc.Ghosts) > 0 {
			break
		}
		if time.Now().After(ctx) {
			t.Fatalf("no ghost listed: %d %s %v", code, body, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(doc.Ghosts) != 1 || doc.Ghosts[0].Token != ghost || doc.Ghosts[0].Namespace != prefix+ghost {
		t.Fatalf("/ghosts: %+v", doc)
	}

	r := orphans(t, operator, nil, "ghosts", "--exporter-url="+e.URL, "-o", "wide")
	if r.code != 0 || len(lines(r.stdout)) != 2 || !strings.Contains(r.stdout, "redis_namespace") || !strings.Contains(r.stdout, "active") {
		t.Fatalf("kubectl orphans ghosts -o wide:\n%s", r)
	}
	mustNotContain(t, "the ghosts table", []string{r.stdout, r.stderr}, ghost, present)
	if r := orphans(t, operator, nil, "ghosts", "--exporter-url="+e.URL, "-o", "name"); r.code != 0 || strings.TrimSpace(r.stdout) != "namespace/"+prefix+ghost {
		t.Fatalf("-o name:\n%s", r)
	}
	r = orphans(t, operator, nil, "ghosts", "--exporter-url="+e.URL, "-o", "json")
	var got api.Ghosts
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &got) != nil || len(got.Ghosts) != 1 || got.Ghosts[0].Token != ghost {
		t.Fatalf("-o json:\n%s", r)
	}
}
