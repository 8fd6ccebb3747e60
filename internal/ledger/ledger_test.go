//go:build integration

package ledger

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/sweep"
	"github.com/orphansweep/orphans/internal/testenv"
)

var pg *testenv.Postgres

func TestMain(m *testing.M) {
	ctx := context.Background()
	var err error
	pg, err = testenv.StartPostgres(ctx, testenv.PostgresOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start postgres:", err)
		os.Exit(1)
	}
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

var dbSeq atomic.Int32

func newLedger(t *testing.T, schema string, mod func(*Config)) (*Ledger, string) {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("ledger_%d", dbSeq.Add(1))
	dsn, err := pg.CreateDatabase(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := testenv.Exec(ctx, dsn, schema); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		DSN: dsn, Table: "resources",
		TokenColumn: "token", StatusColumn: "status", TypeColumn: "resource_type", CreatedColumn: "created_at",
		QueryTimeout: 5 * time.Second, MaxConns: 2, ApplicationName: "orphans-test",
	}
	if mod != nil {
		mod(&cfg)
	}
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l, dsn
}

const (
	uLive    = "0b6f1c3e-1111-4a4a-8a8a-000000000001"
	uDeleted = "0b6f1c3e-2222-4a4a-8a8a-000000000002"
	uExpired = "0b6f1c3e-3333-4a4a-8a8a-000000000003"
	uMixed   = "0b6f1c3e-4444-4a4a-8a8a-000000000004"
	uNoRow   = "0b6f1c3e-5555-4a4a-8a8a-000000000005"
)

func seed(t *testing.T, dsn string) {
	t.Helper()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := []testenv.Row{
		{Token: uLive, Status: "active", ResourceType: "postgres", CreatedAt: base},
		{Token: uDeleted, Status: "failed", ResourceType: "redis", CreatedAt: base},
		{Token: uDeleted, Status: "deleted", ResourceType: "redis", CreatedAt: base.Add(time.Hour)},
		{Token: uExpired, Status: "expired", ResourceType: "postgres", CreatedAt: base},
		// newest row terminal, older row still live
		{Token: uMixed, Status: "paused", ResourceType: "redis", CreatedAt: base},
		{Token: uMixed, Status: "deleted", ResourceType: "redis", CreatedAt: base.Add(time.Hour)},
	}
	if err := testenv.InsertRows(context.Background(), dsn, rows); err != nil {
		t.Fatal(err)
	}
}

func TestLookupUUIDColumn(t *testing.T) {
	l, dsn := newLedger(t, testenv.LedgerSchema, nil)
	seed(t, dsn)
	tokens := []string{uLive, uDeleted, uExpired, uMixed, uNoRow,
		"not-a-uuid", "", "pool-1",
		strings.ReplaceAll(uExpired, "-", ""), // the same uuid, spelled without hyphens
	}
	got, err := l.Lookup(context.Background(), tokens)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		uLive:                                 {"2026-01-01T00:00:00Z active postgres"},
		uDeleted:                              {"2026-01-01T00:00:00Z failed redis", "2026-01-01T01:00:00Z deleted redis"},
		uExpired:                              {"2026-01-01T00:00:00Z expired postgres"},
		uMixed:                                {"2026-01-01T00:00:00Z paused redis", "2026-01-01T01:00:00Z deleted redis"},
		strings.ReplaceAll(uExpired, "-", ""): {"2026-01-01T00:00:00Z expired postgres"},
	}
	if got := brief(got); !reflect.DeepEqual(got, want) {
		t.Fatalf("Lookup:\n got %v\nwant %v", got, want)
	}
}

func TestLookupTextColumnAndCustomNames(t *testing.T) {
	schema := `CREATE SCHEMA platform;
CREATE TABLE platform."Tenant Resources" (tok text, state text, kind text, made timestamptz);
CREATE INDEX ON platform."Tenant Resources" (tok);
INSERT INTO platform."Tenant Resources" VALUES
 ('alpha', 'active', 'redis', '2026-01-02'),
 ('beta', 'deleted', 'redis', '2026-01-01'),
 ('beta', 'reaped', NULL, '2026-01-02'),
 ('gamma', NULL, 'redis', '2026-01-02'),
 ('delta', 'Running', 'redis', NULL);`
	l, _ := newLedger(t, schema, func(c *Config) {
		c.Schema, c.Table, c.TokenColumn, c.StatusColumn, c.TypeColumn, c.CreatedColumn = "platform", "Tenant Resources", "tok", "state", "kind", "made"
	})
	got, err := l.Lookup(context.Background(), []string{"alpha", "beta", "gamma", "delta", "epsilon", "x\x00y"})
	if err != nil {
		t.Fatal(err)
	}
	// Rows come as stored: NULLs stay NULL, statuses keep their case.
	want := map[string][]string{
		"alpha": {"2026-01-02T00:00:00Z active redis"},
		"beta":  {"2026-01-01T00:00:00Z deleted redis", "2026-01-02T00:00:00Z reaped <null>"},
		"gamma": {"2026-01-02T00:00:00Z <null> redis"},
		"delta": {"<null> Running redis"},
	}
	if got := brief(got); !reflect.DeepEqual(got, want) {
		t.Fatalf("Lookup:\n got %v\nwant %v", got, want)
	}
}

func TestLookupErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("missing table", func(t *testing.T) {
		l, _ := newLedger(t, "SELECT 1", nil)
		_, err := l.Lookup(ctx, []string{uLive})
		if err == nil || !strings.Contains(err.Error(), `no column "token"`) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unsupported token type", func(t *testing.T) {
		l, _ := newLedger(t, "CREATE TABLE resources (token int, status text, resource_type text, created_at timestamptz)", nil)
		_, err := l.Lookup(ctx, []string{"1"})
		if err == nil || !strings.Contains(err.Error(), "has type int4") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("missing status column", func(t *testing.T) {
		l, _ := newLedger(t, "CREATE TABLE resources (token uuid, resource_type text, created_at timestamptz)", nil)
		_, err := l.Lookup(ctx, []string{uLive})
		if err == nil || !strings.Contains(err.Error(), "status") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("only invalid tokens: no query, no error", func(t *testing.T) {
		l, _ := newLedger(t, testenv.LedgerSchema, nil)
		got, err := l.Lookup(ctx, []string{"nope", "pool-2"})
		if err != nil || len(got) != 0 {
			t.Fatalf("got %v, %v", got, err)
		}
	})
	t.Run("hung query hits the deadline", func(t *testing.T) {
		l, dsn := newLedger(t, testenv.LedgerSchema, func(c *Config) { c.QueryTimeout = time.Second })
		seed(t, dsn)
		if _, err := l.Lookup(ctx, []string{uLive}); err != nil {
			t.Fatal(err)
		}
		// Another session holds an exclusive lock: the lookup must give up, not hang.
		lockCtx, release := context.WithCancel(ctx)
		defer release()
		locked := make(chan error, 1)
		go func() {
			locked <- testenv.Exec(lockCtx, dsn, "BEGIN; LOCK TABLE resources IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(30); COMMIT")
		}()
		time.Sleep(300 * time.Millisecond)
		start := time.Now()
		_, err := l.Lookup(ctx, []string{uLive})
		if err == nil {
			t.Fatal("lookup on a locked table succeeded")
		}
		if waited := time.Since(start); waited > 5*time.Second {
			t.Fatalf("lookup waited %v", waited)
		}
		release()
		<-locked
	})
	t.Run("bad DSN", func(t *testing.T) {
		_, err := Open(Config{DSN: "postgres://u:s3cret@[::1", Table: "t", TokenColumn: "a", StatusColumn: "b", TypeColumn: "c", CreatedColumn: "d", QueryTimeout: time.Second})
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("bad table names", func(t *testing.T) {
		for _, tbl := range []string{"", "a.b.c", ".x", "x.", "public.resources"} {
			_, err := Open(Config{DSN: pg.DSN("postgres"), Table: tbl, TokenColumn: "a", StatusColumn: "b", TypeColumn: "c", CreatedColumn: "d", QueryTimeout: time.Second})
			if err == nil {
				t.Errorf("table %q accepted", tbl)
			}
		}
	})
}

func TestSessionIsReadOnly(t *testing.T) {
	l, _ := newLedger(t, testenv.LedgerSchema, nil)
	_, err := l.pool.Exec(context.Background(), "INSERT INTO resources (token, status, resource_type) VALUES (gen_random_uuid(), 'active', 'redis')")
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("write on the exporter's session: %v", err)
	}
}

func TestDatabaseGoesAwayAndComesBack(t *testing.T) {
	ctx := context.Background()
	l, dsn := newLedger(t, testenv.LedgerSchema, nil)
	seed(t, dsn)
	if _, err := l.Lookup(ctx, []string{uDeleted}); err != nil {
		t.Fatal(err)
	}
	if err := pg.Halt(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Lookup(ctx, []string{uDeleted}); err == nil {
		t.Fatal("lookup with the database down succeeded")
	}
	if err := pg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := l.Lookup(ctx, []string{uDeleted})
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if len(got[uDeleted]) != 2 {
		t.Fatalf("after restart: %v", got)
	}
}

// FuzzParseUUID checks parseUUID against the server: whatever PostgreSQL
// accepts as a uuid, parseUUID must accept with the same value, and the reverse.
func FuzzParseUUID(f *testing.F) {
	for _, s := range []string{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc999c0b4ef8bb6d6bb9bd380a11", "{a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11}", "x", ""} {
		f.Add(s)
	}
	l, _ := newLedgerForFuzz(f)
	f.Fuzz(func(t *testing.T, s string) {
		if strings.IndexByte(s, 0) >= 0 || len(s) > 64 {
			return
		}
		got, ok := parseUUID(s)
		var server string
		err := l.pool.QueryRow(context.Background(), "SELECT $1::text::uuid::text", s).Scan(&server)
		if ok != (err == nil) {
			t.Fatalf("parseUUID(%q) ok=%v, server err=%v", s, ok, err)
		}
		if ok && got != server {
			t.Fatalf("parseUUID(%q) = %q, server %q", s, got, server)
		}
	})
}

func newLedgerForFuzz(f *testing.F) (*Ledger, string) {
	cfg := Config{DSN: pg.DSN("postgres"), Table: "resources", TokenColumn: "token", StatusColumn: "status", TypeColumn: "resource_type", CreatedColumn: "created_at", QueryTimeout: 5 * time.Second}
	l, err := Open(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(l.Close)
	return l, ""
}

// brief spells each token's rows as "created status type" in canonical
// order, <null> for NULL.
func brief(facts sweep.Facts) map[string][]string {
	out := map[string][]string{}
	for tok, rows := range facts {
		var lines []string
		for _, r := range rows {
			f := func(v string, null bool) string {
				if null {
					return "<null>"
				}
				return v
			}
			created := f(r.CreatedAt.UTC().Format(time.RFC3339), r.CreatedAtNull)
			lines = append(lines, created+" "+f(r.Status, r.StatusNull)+" "+f(r.ResourceType, r.TypeNull))
		}
		sort.Strings(lines)
		out[tok] = lines
	}
	return out
}
