package exporter

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/sweep"
)

// Under --namespace.selector a ghost is confirmed by a GET. A ledger whose
// live tokens have no namespace at all (read without its filter, say) is
// refused as soon as the ghosts confirmed are more than the guard allows:
// after a number of GETs the guard bounds, not one per row, and holding no
// more rows than the guard allows.
func TestGhostConfirmationStopsAtTheGuard(t *testing.T) {
	e, cluster, gl := ghostExporter(t, bothOn, "--namespace.selector=tier=tenant", "--sweep.max-candidate-fraction=0.1")
	const rows = 5000
	gl.set(liveRows("absent-%05d", rows), nil)
	e.ghosts.SweepOnce(context.Background())

	var body api.Error
	if code := serve(t, e, "/ghosts", &body); code != http.StatusServiceUnavailable || !strings.Contains(body.Error, StageGuard) ||
		!strings.Contains(body.Error, "stopped confirming") {
		t.Fatalf("/ghosts: %d %+v", code, body)
	}
	// 10% of 5 000 live tokens may be ghosts: the 501st confirmed is one too many.
	allowed := rows / 10
	if n := int(cluster.gets.Load()); n == 0 || n > allowed+1 {
		t.Fatalf("%d GETs confirmed %d rows, want at most %d", n, rows, allowed+1)
	}
	if held := e.ghosts.Latest().RowsHeld; held == 0 || held > allowed+1 {
		t.Fatalf("the ghost sweep held %d rows at once, want at most %d", held, allowed+1)
	}
	if current, _, up := ghostGauges(t, e); up != 0 || current[api.KindRedis] != 0 {
		t.Fatalf("gauges after a refused ghost sweep: current %v up %v", current, up)
	}
}

// More rows without a cached namespace than the guard always allows: the
// first read only counts, the second confirms each row as it comes and
// holds only the ghosts. The verdict is the one a single read would give.
func TestGhostConfirmationOnASecondRead(t *testing.T) {
	e, cluster, gl := ghostExporter(t, bothOn, "--namespace.selector=tier=tenant")
	sc := &selectedCluster{fakeCluster: cluster}
	e.ghosts.ns, e.ghosts.getter = sc, sc
	var ledgerRows []sweep.LiveRow
	for i := range 30 { // their namespaces exist, unselected
		tok := fmt.Sprintf("unselected-%02d", i)
		sc.unselected = append(sc.unselected, sweep.Namespace{Name: "instant-customer-" + tok, CreatedAt: seamNow})
		ledgerRows = append(ledgerRows, liveRow(tok, "redis", 2*time.Hour))
	}
	ledgerRows = append(ledgerRows, liveRows("ghost-%d", 5)...)
	ledgerRows = append(ledgerRows, liveRow("UPPER", "postgres", 3*time.Hour), liveRow(tokL, "redis", 2*time.Hour))
	gl.set(ledgerRows, nil)

	e.ghosts.SweepOnce(context.Background())
	var doc api.Ghosts
	if code := serve(t, e, "/ghosts", &doc); code != http.StatusOK {
		t.Fatalf("/ghosts: %d %+v", code, e.ghosts.Latest().Err)
	}
	if got := strings.Join(ghostTokens(doc), " "); got != "UPPER ghost-0 ghost-1 ghost-2 ghost-3 ghost-4" {
		t.Fatalf("ghosts %s", got)
	}
	if n := gl.scans.Load(); n != 2 {
		t.Fatalf("%d reads of the ledger, want 2", n)
	}
	// One GET per row without a cached namespace, but none for UPPER.
	if n := cluster.gets.Load(); n != 35 {
		t.Fatalf("%d GETs, want 35", n)
	}
	always := sweep.GhostsAlwaysAllowed(e.cfg.Ghosts.Policy)
	if held := e.ghosts.Latest().RowsHeld; held > always {
		t.Fatalf("the ghost sweep held %d rows at once, more than the %d the guard always allows", held, always)
	}
	if live := e.ghosts.Latest().LiveTokens; live != 37 {
		t.Fatalf("live tokens %d, want 37", live)
	}

	// As few rows as the guard always allows: one read, each row confirmed.
	gl.set(append(ledgerRows[:2:2], liveRow("ghost-9", "redis", 2*time.Hour)), nil)
	gl.scans.Store(0)
	e.ghosts.SweepOnce(context.Background())
	if code := serve(t, e, "/ghosts", &doc); code != http.StatusOK || strings.Join(ghostTokens(doc), " ") != "ghost-9" {
		t.Fatalf("/ghosts: %d %+v", code, doc)
	}
	if n := gl.scans.Load(); n != 1 {
		t.Fatalf("%d reads of the ledger for 3 rows, want 1", n)
	}
}

func ghostTokens(doc api.Ghosts) []string {
	var out []string
	for _, g := range doc.Ghosts {
		out = append(out, g.Token)
	}
	return out
}
