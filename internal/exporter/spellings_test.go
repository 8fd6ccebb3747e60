//go:build integration

package exporter

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/testenv"
)

// Three namespaces name one uuid in the spellings PostgreSQL reads as the
// same value — canonical, 32 hex digits, and other hyphenation — so the
// real ledger gives each the same rows. Each is a candidate; only the
// canonical one may be reclaimed, in the sweeps and in a fresh check.
func TestOneUUIDThreeSpellings(t *testing.T) {
	ctx := context.Background()
	const sp = "spell-customer-"
	canonical := "5eed0a11-0000-4000-8000-0000000000aa"
	spellings := []string{canonical, "5eed0a11000040008000" + "0000000000aa", "5eed-0a11-0000-4000-8000-0000-0000-00aa"}
	for _, tok := range spellings {
		if _, err := createNamespace(ctx, sp+tok, nil); err != nil {
			t.Fatal(err)
		}
		defer keep(t, sp+tok)
	}
	if err := testenv.InsertRows(ctx, ledgerDSN, []testenv.Row{{Token: canonical, Status: "deleted", ResourceType: "redis", CreatedAt: time.Now().Add(-48 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(fleetGrace)
	r := start(t, testConfig(t, exporterUser(t, "exporter-spellings"), destructiveEnv(), "--namespace.prefix="+sp, "--sweep.confirmations=1"))
	r.sweep()
	var doc api.Candidates
	if code := r.getJSON(t, "/candidates", &doc); code != http.StatusOK || len(doc.Candidates) != len(spellings) {
		t.Fatalf("/candidates: %d %+v", code, doc.Candidates)
	}
	for _, c := range doc.Candidates {
		if c.Reason != api.ReasonTerminal || c.ResourceType != "redis" {
			t.Errorf("%s: the ledger did not give the uuid's rows: %+v", c.Token, c)
		}
		wantReclaimable := c.Token == canonical
		if c.Reclaimable != wantReclaimable || !wantReclaimable && c.NotReclaimableReason != api.NotReclaimableNoncanonicalToken {
			t.Errorf("%s: reclaimable %v (%s)", c.Token, c.Reclaimable, c.NotReclaimableReason)
		}
		var fresh api.Candidate
		if code := r.getJSON(t, "/candidates/"+c.Namespace, &fresh); code != http.StatusOK || fresh.Reclaimable != wantReclaimable {
			t.Errorf("fresh check of %s: %d reclaimable %v (%s)", c.Token, code, fresh.Reclaimable, fresh.NotReclaimableReason)
		}
	}
}
