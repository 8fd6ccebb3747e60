//go:build integration

package exporter

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/testenv"
)

// Ghost sweeps against PostgreSQL and the API server. Each test has its own
// ledger database and its own namespace prefix, so the fleet's tests never
// see its namespaces and it never sees the fleet's rows.

var ghostDBs atomic.Int32

// ghostLedger creates a ledger database of its own, runs extra on it, and
// returns its DSN.
func ghostLedger(t *testing.T, rows []testenv.Row, extra ...string) string {
	t.Helper()
	ctx := context.Background()
	dsn, err := pg.CreateLedger(ctx, fmt.Sprintf("ghosts_%d", ghostDBs.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := testenv.InsertRows(ctx, dsn, rows); err != nil {
		t.Fatal(err)
	}
	for _, sql := range extra {
		if err := testenv.Exec(ctx, dsn, sql); err != nil {
			t.Fatal(err)
		}
	}
	return dsn
}

// oldLive is one active row of the given type per token, two hours old.
func oldLive(typ string, tokens ...string) []testenv.Row {
	rows := make([]testenv.Row, len(tokens))
	for i, tok := range tokens {
		rows[i] = testenv.Row{Token: tok, Status: "active", ResourceType: typ, CreatedAt: time.Now().Add(-2 * time.Hour)}
	}
	return rows
}

// startGhosts runs an exporter on dsn with namespace prefix gp, ghost sweeps
// an hour apart (tests run them), and waits for its first ghost sweep.
func startGhosts(t *testing.T, user, dsn, gp string, args ...string) *running {
	t.Helper()
	env := map[string]string{EnvEnabled: "true", EnvLedgerDSN: dsn}
	args = append([]string{"--namespace.prefix=" + gp, "--ghosts.interval=1h", "--ghosts.grace=1h", "--sweep.max-candidate-fraction=1"}, args...)
	r := start(t, testConfig(t, exporterUser(t, user), env, args...))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := testenv.WaitFor(ctx, func() (bool, error) { return r.ghosts.Latest().Completed, nil }); err != nil {
		t.Fatalf("no ghost sweep: %v", err)
	}
	return r
}

func (r *running) ghostSweep() { r.ghosts.SweepOnce(context.Background()) }

func (r *running) ghostDoc(t *testing.T) api.Ghosts {
	t.Helper()
	var doc api.Ghosts
	if code := r.getJSON(t, "/ghosts", &doc); code != http.StatusOK || !doc.Sweep.OK {
		t.Fatalf("/ghosts: %d %+v", code, doc)
	}
	return doc
}

// waitCached waits until the exporter's namespace cache holds name.
func (r *running) waitCached(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := testenv.WaitFor(ctx, func() (bool, error) {
		for _, n := range r.namespaces.List() {
			if n.Name == name {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("%s not in the cache: %v", name, err)
	}
}

func TestGhosts(t *testing.T) {
	ctx := context.Background()
	const gp = "ghost-a-"
	const (
		gOld        = "6a050000-0000-4000-8000-000000000001"
		gYoung      = "6a050000-0000-4000-8000-000000000002"
		gTerminal   = "6a050000-0000-4000-8000-000000000003"
		gWithNS     = "6a050000-0000-4000-8000-000000000004"
		gTerminates = "6a050000-0000-4000-8000-000000000005"
		gOldest     = "6a050000-0000-4000-8000-000000000006"
		gNoHyphen   = "6a050000-0000-4000-8000-000000000007"
		gOddHyphen  = "6a050000-0000-4000-8000-000000000008"
	)
	now := time.Now()
	old := now.Add(-2 * time.Hour)
	dsn := ghostLedger(t, []testenv.Row{
		{Token: gOld, Status: "active", ResourceType: "redis", CreatedAt: old},
		{Token: gYoung, Status: "active", ResourceType: "redis", CreatedAt: now.Add(-time.Minute)},
		{Token: gTerminal, Status: "deleted", ResourceType: "redis", CreatedAt: old},
		{Token: gWithNS, Status: "active", ResourceType: "postgres", CreatedAt: old},
		{Token: gTerminates, Status: "active", ResourceType: "redis", CreatedAt: old},
		// the oldest live row speaks for the token, not the older terminal one
		{Token: gOldest, Status: "deleted", ResourceType: "mysql", CreatedAt: now.Add(-5 * time.Hour)},
		{Token: gOldest, Status: "paused", ResourceType: "postgres", CreatedAt: now.Add(-3 * time.Hour)},
		{Token: gOldest, Status: "active", ResourceType: "redis", CreatedAt: old},
		{Token: gNoHyphen, Status: "suspended", ResourceType: "redis", CreatedAt: old},
		{Token: gOddHyphen, Status: "pending", ResourceType: "redis", CreatedAt: old},
	})
	for _, name := range []string{
		gp + gWithNS, gp + gTerminates,
		gp + strings.ReplaceAll(gNoHyphen, "-", ""),
		gp + "6a05-0000-0000-4000-8000-0000-0000-0008", // PostgreSQL reads this as gOddHyphen
	} {
		if _, err := createNamespace(ctx, name, nil); err != nil {
			t.Fatal(err)
		}
	}
	// No controller-manager runs: the namespace stays Terminating, and still exists.
	if err := admin.CoreV1().Namespaces().Delete(ctx, gp+gTerminates, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	r := startGhosts(t, "exporter-ghosts", dsn, gp)
	r.waitCached(t, gp+gTerminates)
	r.ghostSweep()
	doc := r.ghostDoc(t)
	if got := strings.Join(ghostTokens(doc), " "); got != gOld+" "+gOldest {
		t.Fatalf("ghosts %s, want %s and %s", got, gOld, gOldest)
	}
	g := doc.Ghosts[1]
	if g.Namespace != gp+gOldest || g.Status != "paused" || g.ResourceType != "postgres" ||
		!g.RowCreatedAt.Equal(now.Add(-3*time.Hour).Truncate(time.Microsecond)) || g.TokenMasked != "6a050000*** (len=36)" {
		t.Fatalf("ghost from the oldest live row: %+v", g)
	}
	if g := doc.Ghosts[0]; g.ConsecutiveSweeps < 2 || g.FirstSeenAt.IsZero() || g.ResourceType != "redis" {
		t.Fatalf("ghost seen by two sweeps: %+v", g)
	}
	streak := doc.Ghosts[0].ConsecutiveSweeps
	if v := r.metric(t, "instant_orphan_db_sweep_ghosts_current", "kind", api.KindRedis); v != 1 {
		t.Errorf("ghosts_current{redis} = %v", v)
	}
	if v := r.metric(t, "instant_orphan_db_sweep_ghosts_current", "kind", api.KindCustomer); v != 1 {
		t.Errorf("ghosts_current{customer} = %v", v)
	}
	if v := r.metric(t, "instant_orphan_db_sweep_oldest_ghost_age_seconds", "kind", api.KindCustomer); v < 3*3600 || v > 3*3600+120 {
		t.Errorf("oldest_ghost_age_seconds{customer} = %v, want about 3h", v)
	}
	if v := r.metric(t, "instant_orphan_db_sweep_ghosts_up"); v != 1 {
		t.Errorf("ghosts_up = %v", v)
	}

	// The namespace appears: the next ghost sweep drops the ghost.
	if _, err := createNamespace(ctx, gp+gOld, nil); err != nil {
		t.Fatal(err)
	}
	r.waitCached(t, gp+gOld)
	r.ghostSweep()
	doc = r.ghostDoc(t)
	if len(doc.Ghosts) != 1 || doc.Ghosts[0].Token != gOldest || doc.Ghosts[0].ConsecutiveSweeps != streak+1 {
		t.Fatalf("after %s appeared: %+v", gp+gOld, doc.Ghosts)
	}
	if v := r.metric(t, "instant_orphan_db_sweep_ghosts_current", "kind", api.KindRedis); v != 0 {
		t.Errorf("ghosts_current{redis} = %v after its namespace appeared", v)
	}

	logs := r.logs.String()
	for _, ev := range []string{`"msg":"ghost.detected"`, `"msg":"ghost.resolved"`, `"msg":"ghosts.completed"`} {
		if !strings.Contains(logs, ev) {
			t.Errorf("no %s line", ev)
		}
	}
	for _, tok := range []string{gOld, gOldest} {
		if strings.Contains(logs, tok) {
			t.Errorf("token %s in the logs", tok)
		}
	}
	// Nothing acts on a ghost: the ghosts' session only ever read.
	statements := 0
	for _, l := range strings.Split(pg.Log(), "\n") {
		if !strings.Contains(l, "app=orphans-exporter-ghosts") || !strings.Contains(l, "statement:") && !strings.Contains(l, "LOG:  execute") {
			continue
		}
		statements++
		if !strings.Contains(l, "SELECT DISTINCT ON") {
			t.Errorf("the ghosts' session ran: %s", l)
		}
	}
	if statements == 0 {
		t.Errorf("no statement of the ghosts' session in the server log")
	}
}

func TestGhostsFilteredLedger(t *testing.T) {
	const gp = "ghost-b-"
	const (
		bHere      = "6a050000-0000-4000-8000-0000000000b1"
		bThere     = "6a050000-0000-4000-8000-0000000000b2"
		bOtherType = "6a050000-0000-4000-8000-0000000000b3"
		bNoCluster = "6a050000-0000-4000-8000-0000000000b4"
	)
	dsn := ghostLedger(t, append(oldLive("redis", bHere, bThere, bNoCluster), oldLive("postgres", bOtherType)...),
		`ALTER TABLE resources ADD COLUMN "Cluster" text`,
		fmt.Sprintf(`UPDATE resources SET "Cluster" = CASE token WHEN '%s' THEN 'us-1' ELSE 'eu-1' END WHERE token <> '%s'`, bThere, bNoCluster),
	)
	r := startGhosts(t, "exporter-ghosts-filter", dsn, gp,
		"--ghosts.filter-column=Cluster", "--ghosts.filter-value=eu-1", "--ghosts.types=redis")
	r.ghostSweep()
	if got := ghostTokens(r.ghostDoc(t)); len(got) != 1 || got[0] != bHere {
		t.Fatalf("ghosts %v, want only %s (this cluster's, of type redis)", got, bHere)
	}
}

func TestGhostsSelectorConfirmsByGet(t *testing.T) {
	ctx := context.Background()
	const gp = "ghost-e-"
	const (
		eUnlabelled = "6a050000-0000-4000-8000-0000000000e1"
		eNone       = "6a050000-0000-4000-8000-0000000000e2"
		eSelected   = "6a050000-0000-4000-8000-0000000000e3"
	)
	dsn := ghostLedger(t, oldLive("redis", eUnlabelled, eNone, eSelected))
	if _, err := createNamespace(ctx, gp+eUnlabelled, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := createNamespace(ctx, gp+eSelected, map[string]string{"tier": "tenant"}); err != nil {
		t.Fatal(err)
	}
	r := startGhosts(t, "exporter-ghosts-selector", dsn, gp, "--namespace.selector=tier=tenant")
	r.waitCached(t, gp+eSelected)
	r.ghostSweep()
	if got := ghostTokens(r.ghostDoc(t)); len(got) != 1 || got[0] != eNone {
		t.Fatalf("ghosts %v, want only %s: the unlabelled namespace exists", got, eNone)
	}
}

func TestGhostsLedgerOutage(t *testing.T) {
	const gp = "ghost-c-"
	const cGhost = "6a050000-0000-4000-8000-0000000000c1"
	dsn := ghostLedger(t, oldLive("redis", cGhost))
	r := startGhosts(t, "exporter-ghosts-outage", dsn, gp)
	if got := ghostTokens(r.ghostDoc(t)); len(got) != 1 {
		t.Fatalf("before the outage: %v", got)
	}
	var before api.Candidates
	if code := r.getJSON(t, "/candidates", &before); code != http.StatusOK {
		t.Fatalf("/candidates before the outage: %d", code)
	}

	restart := haltLedger(t)
	r.ghostSweep()
	var e api.Error
	if code := r.getJSON(t, "/ghosts", &e); code != http.StatusServiceUnavailable || !strings.Contains(e.Error, StageLedger) {
		t.Fatalf("/ghosts with the ledger down: %d %+v", code, e)
	}
	for _, k := range api.Kinds {
		if v := r.metric(t, "instant_orphan_db_sweep_ghosts_current", "kind", k); v != 0 {
			t.Errorf("ghosts_current{%s} = %v with the ledger down", k, v)
		}
	}
	if v := r.metric(t, "instant_orphan_db_sweep_ghosts_up"); v != 0 {
		t.Errorf("ghosts_up = %v with the ledger down", v)
	}
	// The orphan sweep is untouched.
	var after api.Candidates
	if code := r.getJSON(t, "/candidates", &after); code != http.StatusOK || !after.Sweep.OK || !after.GeneratedAt.Equal(before.GeneratedAt) {
		t.Fatalf("/candidates after a failed ghost sweep: %d %+v", code, after.Sweep)
	}
	if v := r.metric(t, "instant_orphan_db_sweep_up"); v != 1 {
		t.Errorf("sweep up = %v after a failed ghost sweep", v)
	}

	restart()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := testenv.WaitFor(ctx, func() (bool, error) { r.ghostSweep(); return r.ghosts.Latest().OK, nil }); err != nil {
		t.Fatalf("no successful ghost sweep after the ledger came back: %v (%s)", err, r.ghosts.Latest().Err)
	}
	if doc := r.ghostDoc(t); len(doc.Ghosts) != 1 || doc.Ghosts[0].ConsecutiveSweeps != 1 {
		t.Fatalf("after recovery the streak starts again: %+v", doc.Ghosts)
	}
}

func TestGhostsGuardOnEmptyCache(t *testing.T) {
	const gp = "ghost-d-"
	var tokens []string
	for i := range 25 {
		tokens = append(tokens, fmt.Sprintf("6a050000-0000-4000-8000-0000000d%04d", i))
	}
	dsn := ghostLedger(t, oldLive("redis", tokens...))
	// No namespace has the prefix: to the exporter the cluster is empty. The
	// guard is the default one, and stops the read at its minimum of 20.
	r := startGhosts(t, "exporter-ghosts-guard", dsn, gp, "--sweep.max-candidate-fraction=0.5")
	r.ghostSweep()
	var e api.Error
	if code := r.getJSON(t, "/ghosts", &e); code != http.StatusServiceUnavailable || !strings.Contains(e.Error, StageGuard) ||
		!strings.Contains(e.Error, "20 live tokens past grace without a namespace against 0 namespaces") || !strings.Contains(e.Error, "stopped reading") {
		t.Fatalf("/ghosts with every live token without a namespace: %d %+v", code, e)
	}
	if v := r.metric(t, "instant_orphan_db_sweep_ghosts_current", "kind", api.KindRedis); v != 0 {
		t.Fatalf("ghosts_current{redis} = %v", v)
	}
}

// Under --namespace.selector, a ledger of 5 000 live tokens none of which
// has a namespace: the ghost sweep is refused after as many confirming GETs
// as the guard allows ghosts plus one (2% of 5 000), counted by the API
// server, not one per row; and it held no more rows than that.
func TestGhostsSelectorStopsConfirmingAtTheGuard(t *testing.T) {
	const gp = "ghost-f-"
	const user = "exporter-ghosts-confirm"
	const rows, allowed = 5000, 100
	tokens := make([]string, rows)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("6a050000-0000-4000-8000-0000000f%04d", i)
	}
	dsn := ghostLedger(t, oldLive("redis", tokens...))
	r := startGhosts(t, user, dsn, gp, "--namespace.selector=tier=tenant", "--sweep.max-candidate-fraction=0.02",
		"--ghosts.confirm-qps=200")
	snap := r.ghosts.Latest()
	if snap.OK || !strings.Contains(snap.Err, StageGuard) || !strings.Contains(snap.Err, "stopped confirming") {
		t.Fatalf("ghost sweep over %d live tokens without a namespace: ok %v, %s", rows, snap.OK, snap.Err)
	}
	gets, err := cp.AuditEvents(func(e testenv.AuditEvent) bool {
		return e.User.Username == user && e.IsRequest() && e.Verb == "get" && e.ObjectRef != nil &&
			e.ObjectRef.Resource == "namespaces" && strings.HasPrefix(e.ObjectRef.Name, gp)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(gets) == 0 || len(gets) > allowed+1 {
		t.Fatalf("the ghost sweep made %d confirming GETs, want at most %d", len(gets), allowed+1)
	}
	if snap.RowsHeld == 0 || snap.RowsHeld > allowed+1 {
		t.Fatalf("the ghost sweep held %d rows at once, want at most %d", snap.RowsHeld, allowed+1)
	}
	var e api.Error
	if code := r.getJSON(t, "/ghosts", &e); code != http.StatusServiceUnavailable {
		t.Fatalf("/ghosts: %d %+v", code, e)
	}
}
