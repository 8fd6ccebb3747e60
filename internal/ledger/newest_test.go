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

func TestFreshLookupOnPrimary(t *testing.T) {
	l, dsn := newLedger(t, testenv.LedgerSchema, nil)
	seed(t, dsn)
	got, err := l.FreshLookup(context.Background(), []string{uDeleted, uNoRow}, Freshness{MaxReplicaLag: time.Second, MaxReceiverSilence: time.Second})
	if err != nil {
		t.Fatalf("a primary is always current: %v", err)
	}
	if len(got[uDeleted]) != 2 || len(got[uNoRow]) != 0 {
		t.Fatalf("fresh lookup: %v", brief(got))
	}
}

// infinity and -infinity in the terminated-at column are read as such, not
// as a time, so that they never date the evidence.
func TestTerminatedAtInfinity(t *testing.T) {
	l, dsn := newLedger(t, testenv.LedgerSchema, func(c *Config) { c.TerminatedAtColumn = "updated_at" })
	const tok = "0b6f1c3e-cccc-4a4a-8a8a-00000000000c"
	err := testenv.Exec(context.Background(), dsn, `ALTER TABLE resources ADD COLUMN updated_at timestamptz;
INSERT INTO resources (token, status, resource_type, created_at, updated_at) VALUES
 ('`+tok+`', 'failed',  'redis', '2026-01-01', '-infinity'),
 ('`+tok+`', 'deleted', 'redis', '2026-02-01', 'infinity'),
 ('`+tok+`', 'reaped',  'redis', '2026-03-01', '2026-03-02')`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Lookup(context.Background(), []string{tok})
	if err != nil {
		t.Fatal(err)
	}
	infinite := map[string]bool{}
	for _, r := range got[tok] {
		infinite[r.Extra] = r.TerminatedAtInfinite
	}
	if len(got[tok]) != 3 || !infinite["infinity"] || !infinite["-infinity"] || infinite["2026-03-02 00:00:00+00"] {
		t.Fatalf("rows %+v", got[tok])
	}
}
