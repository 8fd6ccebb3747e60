//go:build integration

package ledger

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/testenv"
)

// TestLookupReadsEveryRow pins down what a lookup returns for tokens with
// many rows, inserted out of order and interleaved with other tokens' rows:
// every row, NULL created times included, with the terminated-at column as
// text and as a time when configured.
func TestLookupReadsEveryRow(t *testing.T) {
	l, dsn := newLedger(t, testenv.LedgerSchema, func(c *Config) { c.TerminatedAtColumn = "updated_at" })
	const (
		tA = "0b6f1c3e-aaaa-4a4a-8a8a-00000000000a"
		tB = "0b6f1c3e-bbbb-4a4a-8a8a-00000000000b"
	)
	err := testenv.Exec(context.Background(), dsn, `ALTER TABLE resources ALTER COLUMN created_at DROP NOT NULL;
ALTER TABLE resources ADD COLUMN updated_at timestamptz;
INSERT INTO resources (token, status, resource_type, created_at, updated_at) VALUES
 ('`+tA+`', 'deleted', 'redis',    '2026-03-01', '2026-03-02 10:11:12.345678+02'),
 ('`+tB+`', 'active',  'postgres', '2026-01-01', NULL),
 ('`+tA+`', 'failed',  'postgres', '2026-01-01', NULL),
 ('`+tA+`', 'reaped',  'redis',    NULL, NULL)`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Lookup(context.Background(), []string{tA, tB})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		tA: {"2026-01-01T00:00:00Z failed postgres", "2026-03-01T00:00:00Z deleted redis", "<null> reaped redis"},
		tB: {"2026-01-01T00:00:00Z active postgres"},
	}
	if got := brief(got); !reflect.DeepEqual(got, want) {
		t.Fatalf("Lookup:\n got %v\nwant %v", got, want)
	}
	for _, r := range got[tA] {
		if r.Status != "deleted" {
			if !r.ExtraNull {
				t.Fatalf("NULL terminated-at read as %q", r.Extra)
			}
			continue
		}
		// The text is the server's, in UTC whatever the server's time zone.
		if r.ExtraNull || r.Extra != "2026-03-02 08:11:12.345678+00" || !r.TerminatedAt.Equal(time.Date(2026, 3, 2, 8, 11, 12, 345678000, time.UTC)) {
			t.Fatalf("terminated-at %q %v", r.Extra, r.TerminatedAt)
		}
	}
}

func TestFreshOnPrimary(t *testing.T) {
	l, _ := newLedger(t, testenv.LedgerSchema, nil)
	if err := l.Fresh(context.Background(), time.Second); err != nil {
		t.Fatalf("a primary is always fresh: %v", err)
	}
}
