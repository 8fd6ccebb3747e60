package ledger

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
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

// ErrReplicaBehind is returned by Fresh when the ledger is a standby that
// has not caught up: a verdict read there could miss a row that makes the
// token live again.
var ErrReplicaBehind = errors.New("ledger replica lags behind")

// Fresh checks that the ledger can give a fresh verdict: on a primary at
// once; on a standby (pg_is_in_recovery) only when replay has caught up with
// what it received or the last replayed transaction is younger than maxLag.
func (l *Ledger) Fresh(ctx context.Context, maxLag time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.QueryTimeout)
	defer cancel()
	var (
		standby, caughtUp bool
		lag               *float64
	)
	err := l.pool.QueryRow(ctx, `SELECT pg_is_in_recovery(),
  coalesce(pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(), false),
  extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8`).Scan(&standby, &caughtUp, &lag)
	if err != nil {
		return fmt.Errorf("ledger recovery state: %w", err)
	}
	if !standby || caughtUp {
		return nil
	}
	if lag != nil && *lag < maxLag.Seconds() {
		return nil
	}
	if lag == nil {
		return fmt.Errorf("%w: no transaction replayed yet", ErrReplicaBehind)
	}
	return fmt.Errorf("%w: last replayed transaction %.1fs old, more than --ledger.max-replica-lag (%s)", ErrReplicaBehind, *lag, maxLag)
}
