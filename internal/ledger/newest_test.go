package ledger

import (
	"context"
	"reflect"
	"testing"

	"github.com/orphansweep/orphans/internal/sweep"
	"github.com/orphansweep/orphans/internal/testenv"
)

// TestLookupNewestRowWins pins down which row speaks for a token when it has
// many, inserted out of order and interleaved with other tokens' rows: the
// newest by the created column gives the status and type (a row without a
// created time is older than any with one), and any live row makes the
// token live.
func TestLookupNewestRowWins(t *testing.T) {
	l, dsn := newLedger(t, testenv.LedgerSchema, nil)
	const (
		tA = "0b6f1c3e-aaaa-4a4a-8a8a-00000000000a"
		tB = "0b6f1c3e-bbbb-4a4a-8a8a-00000000000b"
		tC = "0b6f1c3e-cccc-4a4a-8a8a-00000000000c"
		tD = "0b6f1c3e-dddd-4a4a-8a8a-00000000000d"
	)
	// created_at is NOT NULL in the reference schema; this ledger allows it.
	err := testenv.Exec(context.Background(), dsn, `ALTER TABLE resources ALTER COLUMN created_at DROP NOT NULL;
INSERT INTO resources (token, status, resource_type, created_at) VALUES
 ('`+tA+`', 'deleted', 'redis',    '2026-03-01'),
 ('`+tB+`', 'active',  'postgres', '2026-01-01'),
 ('`+tA+`', 'failed',  'postgres', '2026-01-01'),
 ('`+tC+`', 'expired', 'redis',    NULL),
 ('`+tA+`', 'reaped',  'redis',    NULL),
 ('`+tB+`', 'deleted', 'redis',    '2026-05-01'),
 ('`+tD+`', 'deleted', 'postgres', '2026-01-01'),
 ('`+tA+`', 'expired', 'postgres', '2026-02-01'),
 ('`+tD+`', 'paused',  'redis',    '2026-06-01')`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Lookup(context.Background(), []string{tA, tB, tC, tD})
	if err != nil {
		t.Fatal(err)
	}
	want := sweep.Facts{
		tA: {Live: false, LastStatus: "deleted", ResourceType: "redis"},
		tB: {Live: true, LastStatus: "deleted", ResourceType: "redis"},
		tC: {Live: false, LastStatus: "expired", ResourceType: "redis"},
		tD: {Live: true, LastStatus: "paused", ResourceType: "redis"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Lookup:\n got %v\nwant %v", got, want)
	}
}
