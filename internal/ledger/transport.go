package ledger

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orphansweep/orphans/internal/sweep"
)

// CheckTransport refuses a DSN that could send the ledger's rows or the
// role's password over the network without a verified server certificate:
// every host it names (multi-host lists, hostaddr, PG* environment variables,
// and the plain-text fallbacks of sslmode=prefer or allow) must be loopback or
// a unix socket, or be reached with sslmode=verify-full or verify-ca.
func CheckTransport(dsn string) error {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("ledger DSN: %w", err)
	}
	hosts := []*pgconn.FallbackConfig{{Host: cfg.Host, Port: cfg.Port, TLSConfig: cfg.TLSConfig}}
	hosts = append(hosts, cfg.Fallbacks...)
	// pgx connects to host and passes hostaddr on as a run-time parameter;
	// libpq would connect to hostaddr. Either way it must qualify.
	if addr := cfg.RuntimeParams["hostaddr"]; addr != "" {
		hosts = append(hosts, &pgconn.FallbackConfig{Host: addr, TLSConfig: cfg.TLSConfig})
	}
	for _, h := range hosts {
		if local(h.Host) {
			continue
		}
		// pgconn leaves TLSConfig nil for a plain connection, and skips
		// verification for require (and for verify-ca, which then verifies
		// the chain itself).
		verified := h.TLSConfig != nil && (!h.TLSConfig.InsecureSkipVerify || h.TLSConfig.VerifyPeerCertificate != nil)
		if !verified {
			return fmt.Errorf("ledger host %s is not loopback and the DSN does not verify its certificate: use sslmode=verify-full (or verify-ca), or --ledger.allow-insecure-transport", h.Host)
		}
	}
	return nil
}

func local(host string) bool {
	if strings.HasPrefix(host, "/") || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ErrReplicaBehind is returned by FreshLookup when the ledger is a standby
// that cannot vouch for being current: a verdict read there could miss a row
// that makes the token live again.
var ErrReplicaBehind = errors.New("ledger replica lags behind")

// Freshness is how current a standby must be for a fresh check.
type Freshness struct {
	// MaxReplicaLag: replay must have caught up with what was received, or
	// the last replayed transaction be younger than this.
	MaxReplicaLag time.Duration
	// MaxReceiverSilence: the WAL receiver must be streaming and have heard
	// from the primary within this. A receiver that stopped has replayed all
	// it received, so replay alone would call it current while it falls
	// behind the primary for ever.
	MaxReceiverSilence time.Duration
}

// FreshLookup is Lookup for a fresh verdict: on a standby it first checks
// that the standby is current (see Freshness), and the check and the lookup
// run in one read-only transaction on one connection, so a load-balanced
// read-only Service cannot answer them from two standbys.
func (l *Ledger) FreshLookup(ctx context.Context, tokens []string, f Freshness) (sweep.Facts, error) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.QueryTimeout)
	defer cancel()
	tx, err := l.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return nil, fmt.Errorf("ledger: begin: %w", err)
	}
	// Read-only: nothing to undo, and a failed rollback closes the connection.
	defer func() { _ = tx.Rollback(ctx) }()
	if err := current(ctx, tx, f); err != nil {
		return nil, err
	}
	facts, err := l.lookup(ctx, tx, tokens)
	if err != nil {
		return nil, err
	}
	return facts, nil
}

// current checks, inside tx, that the server can give a fresh verdict: a
// primary at once; a standby when its WAL receiver is streaming and heard
// from the primary within f.MaxReceiverSilence, and replay has caught up
// with what it received or the last replayed transaction is younger than
// f.MaxReplicaLag.
func current(ctx context.Context, tx pgx.Tx, f Freshness) error {
	var (
		standby, caughtUp bool
		receiver          *string
		lag, silence      *float64
	)
	// pg_stat_wal_receiver shows its details only to roles with
	// pg_read_all_stats (pg_monitor has it); to others status is NULL.
	err := tx.QueryRow(ctx, `SELECT pg_is_in_recovery(),
  coalesce(pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(), false),
  extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8,
  (SELECT status FROM pg_stat_wal_receiver),
  extract(epoch FROM clock_timestamp() - (SELECT last_msg_receipt_time FROM pg_stat_wal_receiver))::float8`).
		Scan(&standby, &caughtUp, &lag, &receiver, &silence)
	if err != nil {
		return fmt.Errorf("ledger recovery state: %w", err)
	}
	if !standby {
		return nil
	}
	switch {
	case receiver == nil:
		return fmt.Errorf("%w: no streaming WAL receiver (or the ledger role cannot see it: grant it pg_monitor)", ErrReplicaBehind)
	case *receiver != "streaming":
		return fmt.Errorf("%w: WAL receiver %s, not streaming", ErrReplicaBehind, *receiver)
	case silence == nil || *silence > f.MaxReceiverSilence.Seconds():
		return fmt.Errorf("%w: nothing heard from the primary for more than --ledger.max-receiver-silence (%s)", ErrReplicaBehind, f.MaxReceiverSilence)
	case caughtUp:
		return nil
	case lag == nil:
		return fmt.Errorf("%w: no transaction replayed yet", ErrReplicaBehind)
	case *lag >= f.MaxReplicaLag.Seconds():
		return fmt.Errorf("%w: last replayed transaction %.1fs old, more than --ledger.max-replica-lag (%s)", ErrReplicaBehind, *lag, f.MaxReplicaLag)
	}
	return nil
}
