//go:build integration

package ledger

import (
	"context"
	"testing"

	"github.com/orphansweep/orphans/internal/testenv"
)

// A role that can create a table in a schema earlier on its search_path
// (its own, "$user", comes before public by default) cannot shadow the
// ledger: the table is named with --ledger.schema and the session's
// search_path is pinned.
func TestSchemaPinned(t *testing.T) {
	ctx := context.Background()
	l, dsn := newLedger(t, testenv.LedgerSchema, nil)
	seed(t, dsn)
	// A shadow table in the session user's own schema, where an unqualified
	// name would be found first, saying every token is deleted redis.
	err := testenv.Exec(ctx, dsn, `CREATE SCHEMA `+pg.User+`;
CREATE TABLE `+pg.User+`.resources (LIKE public.resources INCLUDING ALL);
INSERT INTO `+pg.User+`.resources (token, status, resource_type) VALUES ('`+uLive+`', 'deleted', 'redis')`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Lookup(ctx, []string{uLive})
	if err != nil {
		t.Fatal(err)
	}
	if b := brief(got)[uLive]; len(b) != 1 || b[0] != "2026-01-01T00:00:00Z active postgres" {
		t.Fatalf("read the shadow table: %v", b)
	}
	var path string
	if err := l.pool.QueryRow(ctx, "SHOW search_path").Scan(&path); err != nil || path != `pg_catalog, "public"` {
		t.Fatalf("search_path %q (%v)", path, err)
	}

	// The schema is the one named: another schema's table is read when asked.
	other, _ := newLedger(t, "CREATE SCHEMA ledger; SET search_path = ledger; "+testenv.LedgerSchema, func(c *Config) { c.Schema = "ledger" })
	if _, err := other.Lookup(ctx, []string{uLive}); err != nil {
		t.Fatalf("a table in schema ledger: %v", err)
	}
	if err := other.pool.QueryRow(ctx, "SHOW search_path").Scan(&path); err != nil || path != `pg_catalog, "ledger"` {
		t.Fatalf("search_path %q (%v)", path, err)
	}
}
