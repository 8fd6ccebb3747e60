package plugin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/api"
)

func ghostsServer(t *testing.T, status int, body any) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ghosts" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func ghostDoc() api.Ghosts {
	now := time.Now().UTC()
	g := func(tok, typ string) api.Ghost {
		kind := api.KindCustomer
		if typ == "redis" {
			kind = api.KindRedis
		}
		return api.Ghost{Token: tok, TokenMasked: tok[:8] + "*** (len=36)", Namespace: "instant-customer-" + tok, Kind: kind, ResourceType: typ,
			Status: "active", RowCreatedAt: now.Add(-50 * time.Hour), FirstSeenAt: now.Add(-time.Hour), ConsecutiveSweeps: 3}
	}
	return api.Ghosts{GeneratedAt: now, Enabled: true, Sweep: api.GhostSweep{OK: true}, Ghosts: []api.Ghost{g(tokA, "redis"), g(tokB, "postgres")}}
}

func TestGhostsTableMasksTokens(t *testing.T) {
	s := ghostsServer(t, 200, ghostDoc())
	out, errOut, err := run(t, "ghosts", "--exporter-url", s.URL, "-o", "wide")
	if err != nil {
		t.Fatal(err, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "NAMESPACE TOKEN KIND TYPE ROW-AGE SEEN STATUS FIRST-SEEN" {
		t.Fatalf("table:\n%s", out)
	}
	if strings.Contains(out, tokA) || strings.Contains(out, tokB) {
		t.Fatalf("table shows a whole token:\n%s", out)
	}
	if !strings.Contains(lines[1], "redis_namespace") || !strings.Contains(lines[1], "2d") || !strings.Contains(lines[2], "customer_namespace") {
		t.Fatalf("rows:\n%s", out)
	}
	out, _, err = run(t, "ghosts", "--exporter-url", s.URL, "--kind", api.KindRedis, "-o", "name")
	if err != nil || strings.TrimSpace(out) != "namespace/instant-customer-"+tokA {
		t.Fatalf("-o name --kind redis_namespace: %q %v", out, err)
	}
	out, _, err = run(t, "ghosts", "--exporter-url", s.URL, "-o", "json")
	var doc api.Ghosts
	if err != nil || json.Unmarshal([]byte(out), &doc) != nil || doc.Ghosts[0].Token != tokA {
		t.Fatalf("-o json: %q %v", out, err)
	}
}

func TestGhostsNeverLooksCleanWhenItIsNot(t *testing.T) {
	failed := ghostsServer(t, http.StatusServiceUnavailable, api.Error{Error: "latest ghost sweep failed: ledger: connection refused"})
	out, _, err := run(t, "ghosts", "--exporter-url", failed.URL)
	if err == nil || out != "" || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("failed ghost sweep: out %q err %v", out, err)
	}
	off := ghostsServer(t, 200, api.Ghosts{Enabled: false, Ghosts: []api.Ghost{}})
	out, errOut, err := run(t, "ghosts", "--exporter-url", off.URL)
	if err != nil || out != "" || !strings.Contains(errOut, "off") || strings.Contains(errOut, "No ghosts") {
		t.Fatalf("ghosts off: out %q stderr %q err %v", out, errOut, err)
	}
	none := ghostDoc()
	none.Ghosts = []api.Ghost{}
	empty := ghostsServer(t, 200, none)
	if _, errOut, err := run(t, "ghosts", "--exporter-url", empty.URL); err != nil || !strings.Contains(errOut, "No ghosts") {
		t.Fatalf("no ghosts: stderr %q err %v", errOut, err)
	}
	if _, _, err := run(t, "ghosts", "--exporter-url", empty.URL, "-o", "table"); err == nil {
		t.Fatal("an unknown output format was accepted")
	}
}
