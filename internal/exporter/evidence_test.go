//go:build integration

package exporter

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/testenv"
)

// evidenceLedger is a ledger whose columns may be NULL (the reference
// schema's are NOT NULL) and which has an updated_at column for
// --ledger.terminated-at-column.
func evidenceLedger(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	dsn, err := pg.CreateDatabase(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := testenv.Exec(ctx, dsn, `CREATE TABLE resources (
  id bigserial PRIMARY KEY, token uuid NOT NULL, status text, resource_type text,
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz);
CREATE INDEX ON resources (token);`); err != nil {
		t.Fatal(err)
	}
	return dsn
}

func createPastGrace(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := createNamespace(context.Background(), n, nil); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(fleetGrace)
	t.Cleanup(func() {
		for _, n := range names {
			keep(t, n)
		}
	})
}

func candidateOf(t *testing.T, r *running, name string) api.Candidate {
	t.Helper()
	var doc api.Candidates
	if code := r.getJSON(t, "/candidates", &doc); code != http.StatusOK {
		t.Fatalf("/candidates: %d", code)
	}
	for _, c := range doc.Candidates {
		if c.Namespace == name {
			return c
		}
	}
	t.Fatalf("%s is not a candidate", name)
	return api.Candidate{}
}

func TestStatusClassesOnARealTable(t *testing.T) {
	ctx := context.Background()
	const p = "classes-customer-"
	tok := func(i int) string { return fmt.Sprintf("c1a55000-0000-4000-8000-%012d", i) }
	dsn := evidenceLedger(t, "classes")
	if err := testenv.Exec(ctx, dsn, `INSERT INTO resources (token, status, resource_type, created_at) VALUES
 ($1, 'deleted', 'redis', now() - interval '3 days'), ($1, 'provisioning', 'redis', now() - interval '2 days'),
 ($2, 'Deleted', 'redis', now() - interval '2 days'),
 ($3, '', 'redis', now() - interval '2 days'),
 ($4, NULL, 'redis', now() - interval '2 days'),
 ($5, 'deleted', 'postgres', now() - interval '3 days'), ($5, 'deleted', 'redis', now() - interval '2 days'),
 ($6, 'deleted', 'redis', now() - interval '3 days'), ($6, 'reaped', 'redis', now() - interval '2 days'),
 ($7, 'restoring', 'redis', now() - interval '2 days'), ($7, 'active', 'redis', now() - interval '1 day'),
 ($8, 'deleted', NULL, now() - interval '2 days')`,
		tok(1), tok(2), tok(3), tok(4), tok(5), tok(6), tok(7), tok(8)); err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := 1; i <= 8; i++ {
		names = append(names, p+tok(i))
	}
	createPastGrace(t, names...)
	r := start(t, testConfig(t, exporterUser(t, "exporter-classes"),
		map[string]string{EnvEnabled: "true", EnvDestructive: "true", EnvLedgerDSN: dsn},
		"--namespace.prefix="+p, "--sweep.confirmations=1", "--sweep.max-candidate-fraction=1"))
	r.sweep()
	for i, want := range []struct{ reason, status, notReclaimable string }{
		{api.ReasonUnknownStatus, "provisioning", api.NotReclaimableUnknownStatus},
		{api.ReasonUnknownStatus, "Deleted", api.NotReclaimableUnknownStatus},
		{api.ReasonUnknownStatus, "", api.NotReclaimableUnknownStatus},
		{api.ReasonUnknownStatus, "", api.NotReclaimableUnknownStatus},
		{api.ReasonTerminal, "deleted", api.NotReclaimableMixedTypes},
		{api.ReasonTerminal, "reaped", ""},
	} {
		c := candidateOf(t, r, names[i])
		if c.Reason != want.reason || c.LastStatus != want.status || c.NotReclaimableReason != want.notReclaimable || c.Reclaimable != (want.notReclaimable == "") {
			t.Errorf("token %d: %+v, want %+v", i+1, c, want)
		}
		if c.Kind != api.KindRedis || c.ResourceType != "redis" {
			t.Errorf("token %d: kind %s type %s, want the newest row's", i+1, c.Kind, c.ResourceType)
		}
	}
	if c := candidateOf(t, r, names[3]); !c.LastStatusNull {
		t.Errorf("NULL status not flagged: %+v", c)
	}
	if c := candidateOf(t, r, names[7]); c.NotReclaimableReason != api.NotReclaimableNoProvenType {
		t.Errorf("NULL type: %+v", c)
	}
	// token 7 has a live row, whatever its other rows say
	var nc api.NotCandidate
	if code := r.getJSON(t, "/candidates/"+names[6], &nc); code != http.StatusNotFound || nc.Why != api.WhyLive {
		t.Errorf("live token: %d %+v", code, nc)
	}
	if v := r.metric(t, "instant_orphan_db_sweep_candidates_by_reason", "reason", api.ReasonUnknownStatus); v != 4 {
		t.Errorf("candidates_by_reason{unknown_status} = %v, want 4", v)
	}
	r.sweep()
	for _, st := range []string{`"status":"provisioning"`, `"status":"Deleted"`, `"status":"<NULL>"`, `"status":""`} {
		n := 0
		for _, line := range strings.Split(r.logs.String(), "\n") {
			if strings.Contains(line, "ledger.unknown_status") && strings.Contains(line, st) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("unknown status %s logged %d times over two sweeps, want once", st, n)
		}
	}
}

func TestEvidenceStreakAndAgeOnARealTable(t *testing.T) {
	ctx := context.Background()
	const p = "age-customer-"
	const tok = "a9e00000-0000-4000-8000-000000000001"
	name := p + tok
	dsn := evidenceLedger(t, "evidence_age")
	createPastGrace(t, name)
	env := map[string]string{EnvEnabled: "true", EnvDestructive: "true", EnvLedgerDSN: dsn}
	args := []string{"--namespace.prefix=" + p, "--sweep.confirmations=2", "--reclaim.min-evidence-age=5s", "--sweep.max-candidate-fraction=1"}
	r := start(t, testConfig(t, exporterUser(t, "exporter-age"), env, args...))
	r.sweep()
	r.sweep()
	if c := candidateOf(t, r, name); c.Reason != api.ReasonNoRow || c.ConsecutiveSweeps < 2 {
		t.Fatalf("no row: %+v", c)
	}
	// A terminal row appears: new evidence, the streak starts again.
	if err := testenv.Exec(ctx, dsn, `INSERT INTO resources (token, status, resource_type, created_at, updated_at)
VALUES ($1, 'deleted', 'redis', now() - interval '1 day', now() - interval '1 hour')`, tok); err != nil {
		t.Fatal(err)
	}
	r.sweep()
	c := candidateOf(t, r, name)
	if c.ConsecutiveSweeps != 1 || c.NotReclaimableReason != api.NotReclaimableUnconfirmed {
		t.Fatalf("first sweep of the terminal row: %+v", c)
	}
	r.sweep()
	c = candidateOf(t, r, name)
	if c.ConsecutiveSweeps != 2 || c.NotReclaimableReason != api.NotReclaimableEvidenceTooRecent {
		t.Fatalf("confirmed, but young evidence: %+v", c)
	}
	time.Sleep(time.Until(c.EvidenceSince.Add(5 * time.Second)))
	r.sweep()
	if c := candidateOf(t, r, name); !c.Reclaimable {
		t.Fatalf("after the minimum age: %+v", c)
	}

	// A restarted exporter has no memory of the age: it is earned again.
	r2 := start(t, testConfig(t, exporterUser(t, "exporter-age-2"), env, args...))
	r2.sweep()
	if c := candidateOf(t, r2, name); c.Reclaimable || c.NotReclaimableReason != api.NotReclaimableEvidenceTooRecent || time.Since(c.EvidenceSince) > 5*time.Second {
		t.Fatalf("after a restart: %+v", c)
	}
	// The digest is the same in every process that reads the same state.
	if a, b := candidateOf(t, r, name).EvidenceDigest, candidateOf(t, r2, name).EvidenceDigest; a != b {
		t.Fatalf("two processes disagree on the digest: %s %s", a, b)
	}

	// With a terminated-at column the age is the ledger's and survives restarts.
	r3 := start(t, testConfig(t, exporterUser(t, "exporter-age-3"), env, append(args, "--ledger.terminated-at-column=updated_at", "--sweep.confirmations=1")...))
	// The row says it ended an hour ago; the namespace is younger, so it dates the evidence.
	r3.sweep() // on the contents read after the first
	if c := candidateOf(t, r3, name); !c.Reclaimable || !c.EvidenceSince.Equal(c.NamespaceCreatedAt) || c.ConsecutiveSweeps != 2 {
		t.Fatalf("terminated-at column: %+v", c)
	}
	// A terminated-at value in the future never dates the evidence.
	if err := testenv.Exec(ctx, dsn, `UPDATE resources SET updated_at = now() + interval '1 hour' WHERE token = $1`, tok); err != nil {
		t.Fatal(err)
	}
	r3.sweep()
	if c := candidateOf(t, r3, name); c.Reclaimable || c.NotReclaimableReason != api.NotReclaimableEvidenceTooRecent {
		t.Fatalf("terminated-at in the future: %+v", c)
	}
}

func TestConcurrentFreshChecksLeaveSweepsUp(t *testing.T) {
	const p = "busy-customer-"
	const tok = "b0500000-0000-4000-8000-000000000001"
	if err := testenv.InsertRows(context.Background(), ledgerDSN, []testenv.Row{{Token: tok, Status: "deleted", ResourceType: "redis", CreatedAt: time.Now().Add(-time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	createPastGrace(t, p+tok)
	r := start(t, testConfig(t, exporterUser(t, "exporter-busy"), destructiveEnv(), "--namespace.prefix="+p, "--sweep.interval=2s", "--sweep.confirmations=1"))
	before := r.metric(t, "instant_orphan_db_sweep_duration_seconds")
	codes := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(6 * time.Second)
	for range 50 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				code, _ := r.get(t, "/candidates/"+p+tok)
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if codes[http.StatusOK] == 0 || codes[http.StatusTooManyRequests] == 0 || len(codes) != 2 {
		t.Fatalf("answers to 50 concurrent checkers: %v, want only 200 and 429\n%s", codes, r.logs.String())
	}
	if after := r.metric(t, "instant_orphan_db_sweep_duration_seconds"); after < before+2 {
		t.Fatalf("sweeps ran %v times in 6s under load, want at least 2", after-before)
	}
	if r.metric(t, "instant_orphan_db_sweep_up") != 1 || r.metric(t, "instant_orphan_db_sweep_errors_total", "stage", StageLedger) != 0 {
		t.Fatalf("sweeps failed under fresh-check load:\n%s", r.logs.String())
	}
}
