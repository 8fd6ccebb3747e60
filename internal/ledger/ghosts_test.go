//go:build integration

package ledger

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orphansweep/orphans/internal/sweep"
	"github.com/orphansweep/orphans/internal/testenv"
)

var ghostBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func openGhosts(t *testing.T, schema string, mod func(*GhostConfig)) (*Ghosts, string) {
	t.Helper()
	ctx := context.Background()
	dsn, err := pg.CreateDatabase(ctx, fmt.Sprintf("ghosts_%d", dbSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := testenv.Exec(ctx, dsn, schema); err != nil {
		t.Fatal(err)
	}
	cfg := GhostConfig{
		Config: Config{
			DSN: dsn, Table: "resources",
			TokenColumn: "token", StatusColumn: "status", TypeColumn: "resource_type", CreatedColumn: "created_at",
			QueryTimeout: 5 * time.Second, ApplicationName: "orphans-test-ghosts",
		},
		LiveStatuses: []string{"pending", "active", "paused", "suspended"},
	}
	if mod != nil {
		mod(&cfg)
	}
	g, err := OpenGhosts(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g, dsn
}

func scan(t *testing.T, g *Ghosts, cutoff time.Time, known ...string) (int, []string) {
	t.Helper()
	var out []string
	n, err := g.Scan(context.Background(), cutoff, known, func(r sweep.LiveRow) error {
		out = append(out, fmt.Sprintf("%s %s %s %s", r.Token, r.Status, r.ResourceType, r.CreatedAt.UTC().Format(time.RFC3339)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return n, out
}

func TestGhostScanUUIDColumn(t *testing.T) {
	g, dsn := openGhosts(t, testenv.LedgerSchema, nil)
	const (
		uOld      = "0b6f1c3e-aaaa-4a4a-8a8a-000000000001"
		uTwoLive  = "0b6f1c3e-aaaa-4a4a-8a8a-000000000002"
		uYoung    = "0b6f1c3e-aaaa-4a4a-8a8a-000000000003"
		uTerminal = "0b6f1c3e-aaaa-4a4a-8a8a-000000000004"
		uNoHyphen = "0b6f1c3e-aaaa-4a4a-8a8a-000000000005"
		uUpper    = "0b6f1c3e-aaaa-4a4a-8a8a-00000000000b"
		uOdd      = "0b6f1c3e-aaaa-4a4a-8a8a-000000000007"
		uCanon    = "0b6f1c3e-aaaa-4a4a-8a8a-000000000008"
	)
	err := testenv.InsertRows(context.Background(), dsn, []testenv.Row{
		{Token: uOld, Status: "active", ResourceType: "redis", CreatedAt: ghostBase},
		// the oldest live row speaks for the token; the older terminal one does not count
		{Token: uTwoLive, Status: "deleted", ResourceType: "mysql", CreatedAt: ghostBase.Add(-5 * time.Hour)},
		{Token: uTwoLive, Status: "paused", ResourceType: "postgres", CreatedAt: ghostBase.Add(-3 * time.Hour)},
		{Token: uTwoLive, Status: "active", ResourceType: "redis", CreatedAt: ghostBase.Add(-2 * time.Hour)},
		{Token: uYoung, Status: "active", ResourceType: "redis", CreatedAt: ghostBase.Add(2 * time.Hour)},
		{Token: uTerminal, Status: "deleted", ResourceType: "redis", CreatedAt: ghostBase},
		{Token: uTerminal, Status: "Active", ResourceType: "redis", CreatedAt: ghostBase}, // not a live status
		{Token: uNoHyphen, Status: "active", ResourceType: "redis", CreatedAt: ghostBase},
		{Token: uUpper, Status: "active", ResourceType: "redis", CreatedAt: ghostBase},
		{Token: uOdd, Status: "active", ResourceType: "redis", CreatedAt: ghostBase},
		{Token: uCanon, Status: "suspended", ResourceType: "redis", CreatedAt: ghostBase},
	})
	if err != nil {
		t.Fatal(err)
	}
	cutoff := ghostBase.Add(time.Hour)
	n, got := scan(t, g, cutoff,
		uCanon,
		strings.ReplaceAll(uNoHyphen, "-", ""),
		strings.ToUpper(uUpper),
		"0b6f-1c3e-aaaa-4a4a-8a8a-0000-0000-0007", // a hyphen after any group of four
		"not-a-uuid", "", "pool-1",
	)
	if n != 6 {
		t.Errorf("streamed %d tokens, want the 6 with a live row past the cutoff", n)
	}
	want := []string{
		uOld + " active redis 2026-01-01T00:00:00Z",
		uTwoLive + " paused postgres 2025-12-31T21:00:00Z",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Scan:\n got %v\nwant %v", got, want)
	}

	g2, _ := openGhosts(t, "SELECT 1", func(c *GhostConfig) { c.DSN = dsn; c.Types = []string{"postgres"} })
	if n, got := scan(t, g2, cutoff); n != 1 || len(got) != 1 || !strings.HasPrefix(got[0], uTwoLive+" paused postgres") {
		t.Fatalf("--ghosts.types=postgres: %d %v", n, got)
	}
}

func TestGhostScanTextColumnAndFilter(t *testing.T) {
	schema := `CREATE SCHEMA platform;
CREATE TABLE platform."Tenant Resources" (tok text, state text, kind text, made timestamp, "Cluster" text, region int);
INSERT INTO platform."Tenant Resources" VALUES
 ('0b6f1c3e-bbbb-4a4a-8a8a-000000000001', 'active', 'redis', '2026-01-01', 'eu-1', 1),
 ('0B6F1C3E-BBBB-4A4A-8A8A-000000000002', 'active', 'redis', '2026-01-01', 'eu-1', 1),
 ('alpha', 'active', NULL, '2026-01-01', 'eu-1', 2),
 ('beta', 'active', 'redis', '2026-01-01', 'us-1', 3),
 ('gamma', 'pending', 'redis', '2026-01-01', NULL, 1);`
	names := func(c *GhostConfig) {
		c.Schema, c.Table, c.TokenColumn, c.StatusColumn, c.TypeColumn, c.CreatedColumn = "platform", "Tenant Resources", "tok", "state", "kind", "made"
	}
	g, dsn := openGhosts(t, schema, names)
	cutoff := ghostBase.Add(time.Hour)
	// Text compares exactly: another spelling of a uuid is another token.
	n, got := scan(t, g, cutoff, "0b6f1c3ebbbb4a4a8a8a000000000001", "0b6f1c3e-bbbb-4a4a-8a8a-000000000002", "alpha")
	want := []string{
		"0B6F1C3E-BBBB-4A4A-8A8A-000000000002 active redis 2026-01-01T00:00:00Z",
		"0b6f1c3e-bbbb-4a4a-8a8a-000000000001 active redis 2026-01-01T00:00:00Z",
		"beta active redis 2026-01-01T00:00:00Z",
		"gamma pending redis 2026-01-01T00:00:00Z",
	}
	if n != 5 || !reflect.DeepEqual(got, want) {
		t.Fatalf("Scan: %d\n got %v\nwant %v", n, got, want)
	}

	for _, tc := range []struct {
		column, value string
		want          int
	}{
		{"Cluster", "eu-1", 3},
		{"Cluster", "us-1", 1},
		{"region", "1", 3}, // bound as text, read by the server as the column's type
	} {
		gf, _ := openGhosts(t, "SELECT 1", func(c *GhostConfig) {
			names(c)
			c.DSN, c.FilterColumn, c.FilterValue = dsn, tc.column, tc.value
		})
		if n, got := scan(t, gf, cutoff); n != tc.want || len(got) != tc.want {
			t.Errorf("filter %s = %s: %d tokens, %v", tc.column, tc.value, n, got)
		}
	}
}

func TestGhostSession(t *testing.T) {
	g, dsn := openGhosts(t, testenv.LedgerSchema, func(c *GhostConfig) { c.QueryTimeout = 700 * time.Millisecond })
	ctx := context.Background()
	settings := map[string]string{}
	for _, name := range []string{"enable_seqscan", "default_transaction_read_only", "statement_timeout", "TimeZone", "application_name"} {
		var v string
		if err := g.pool.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v); err != nil {
			t.Fatal(err)
		}
		settings[name] = v
	}
	want := map[string]string{
		"enable_seqscan": "on", "default_transaction_read_only": "on", "statement_timeout": "700ms",
		"TimeZone": "UTC", "application_name": "orphans-test-ghosts",
	}
	if !reflect.DeepEqual(settings, want) {
		t.Fatalf("session settings %v, want %v", settings, want)
	}
	if g.pool.Config().MaxConns != 1 {
		t.Fatalf("max conns %d, want 1", g.pool.Config().MaxConns)
	}

	// A table locked by someone else: the scan gives up at its deadline.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "LOCK TABLE resources IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := g.Scan(ctx, ghostBase, nil, func(sweep.LiveRow) error { return nil }); err == nil {
		t.Fatal("a scan of a locked table succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the scan took %s to give up", d)
	}
}

// A visit that gives up stops the statement at once and its error comes back
// as it is; the next scan reads the whole ledger again.
func TestGhostScanStopsWhenVisitFails(t *testing.T) {
	schema := `CREATE TABLE resources (token uuid, status text, resource_type text, created_at timestamptz);
INSERT INTO resources SELECT gen_random_uuid(), 'active', 'redis', '2026-01-01' FROM generate_series(1, 200000);`
	g, _ := openGhosts(t, schema, nil)
	stop := errors.New("enough")
	visited := 0
	_, err := g.Scan(context.Background(), ghostBase.Add(time.Hour), nil, func(sweep.LiveRow) error {
		visited++
		if visited == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || visited != 10 {
		t.Fatalf("Scan: %v after %d rows, want the visit's error after 10", err, visited)
	}
	if n, got := scan(t, g, ghostBase.Add(time.Hour)); n != 200000 || len(got) != 200000 {
		t.Fatalf("the next scan: %d tokens, %d rows", n, len(got))
	}
}
