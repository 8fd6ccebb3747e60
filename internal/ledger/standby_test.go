//go:build integration

package ledger

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/testenv"
)

// A fresh lookup on a real streaming standby: current while its WAL
// receiver streams; refused when the receiver has heard nothing from the
// primary for longer than allowed, when the ledger role cannot see the
// receiver, and when the primary is gone — even though the standby has
// then replayed everything it received.
func TestFreshLookupOnStandby(t *testing.T) {
	ctx := context.Background()
	primary, err := testenv.StartPostgres(ctx, testenv.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Stop()
	dsn, err := primary.CreateLedger(ctx, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	standby, err := primary.StartStandby(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Stop()
	seed(t, dsn) // after the base backup: these rows arrive by streaming

	open := func(user string) *Ledger {
		u, _ := url.Parse(standby.DSN("ledger"))
		u.User = url.User(user)
		l, err := Open(Config{DSN: u.String(), Table: "resources", TokenColumn: "token", StatusColumn: "status",
			TypeColumn: "resource_type", CreatedColumn: "created_at", QueryTimeout: 5 * time.Second, MaxConns: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		return l
	}
	l := open(primary.User)
	current := Freshness{MaxReplicaLag: 10 * time.Second, MaxReceiverSilence: time.Minute}
	eventually := func(what string, ok func() error) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		var last error
		if err := testenv.WaitFor(wctx, func() (bool, error) { last = ok(); return last == nil, nil }); err != nil {
			t.Fatalf("%s: %v (last: %v)", what, err, last)
		}
	}
	eventually("the standby streams and has the rows", func() error {
		got, err := l.FreshLookup(ctx, []string{uDeleted}, current)
		if err == nil && len(got[uDeleted]) != 2 {
			return errors.New("rows not replicated yet")
		}
		return err
	})

	if _, err := l.FreshLookup(ctx, []string{uDeleted}, Freshness{MaxReplicaLag: 10 * time.Second, MaxReceiverSilence: time.Microsecond}); !errors.Is(err, ErrReplicaBehind) ||
		!strings.Contains(err.Error(), "--ledger.max-receiver-silence") {
		t.Fatalf("a receiver silent for longer than allowed: %v, want ErrReplicaBehind", err)
	}

	// A role without pg_monitor cannot see the receiver: fail closed, and say why.
	if err := testenv.Exec(ctx, dsn, `CREATE ROLE reader LOGIN; GRANT SELECT ON resources TO reader`); err != nil {
		t.Fatal(err)
	}
	reader := open("reader")
	eventually("the role reaches the standby", func() error {
		_, err := reader.FreshLookup(ctx, []string{uDeleted}, current)
		if err == nil || !strings.Contains(err.Error(), "pg_monitor") {
			return errors.New("not refused with the hint yet: " + errString(err))
		}
		return nil
	})
	if err := testenv.Exec(ctx, dsn, `GRANT pg_monitor TO reader`); err != nil {
		t.Fatal(err)
	}
	eventually("a role with pg_monitor", func() error { _, err := reader.FreshLookup(ctx, []string{uDeleted}, current); return err })

	// The primary goes away: the receiver stops with everything replayed.
	if err := primary.Halt(); err != nil {
		t.Fatal(err)
	}
	eventually("the receiver's stop is noticed", func() error {
		_, err := l.FreshLookup(ctx, []string{uDeleted}, current)
		if !errors.Is(err, ErrReplicaBehind) {
			return errors.New("still answered: " + errString(err))
		}
		return nil
	})
	var caughtUp bool
	if err := l.pool.QueryRow(ctx, "SELECT pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()").Scan(&caughtUp); err != nil || !caughtUp {
		t.Fatalf("the standby should have replayed all it received (%v, %v): the replay rule alone would call it current", caughtUp, err)
	}
	// The sweeps' plain lookup still reads it; only fresh verdicts need it current.
	if _, err := l.Lookup(ctx, []string{uDeleted}); err != nil {
		t.Fatal(err)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
