// Package ledger reads the platform's system of record: for a set of tokens,
// every row as stored (status, type, created and terminated-at values), for
// the sweep to judge. One statement per sweep, bound to the token column's
// own type so the token index is used, on a read-only session with a
// deadline on every query.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orphansweep/orphans/internal/sweep"
)

// Config says where the ledger is and how it is shaped.
type Config struct {
	// DSN is a libpq connection string or URL.
	DSN string
	// Schema holds Table ("public" when empty). The session's search_path is
	// pinned to pg_catalog and Schema, and the table is always named with
	// its schema, so no other schema can shadow it or its operators.
	Schema string
	// Table is the table's name alone.
	Table string
	// Column names.
	TokenColumn, StatusColumn, TypeColumn, CreatedColumn string
	// TerminatedAtColumn, when set, is read with every row (as text for the
	// evidence digest, and as a time).
	TerminatedAtColumn string
	// QueryTimeout bounds every query, on the client and on the server.
	QueryTimeout time.Duration
	// MaxConns caps the pool.
	MaxConns int32
	// ApplicationName is shown in pg_stat_activity.
	ApplicationName string
}

// Ledger answers token lookups. It is safe for concurrent use.
type Ledger struct {
	cfg   Config
	pool  *pgxpool.Pool
	query string

	mu        sync.Mutex
	tokenType string // resolved on first use, from the catalog
}

// Open validates the configuration and prepares a pool. It does not connect:
// the first Lookup does, so an exporter with the sweep disabled never touches
// the database.
func Open(cfg Config) (*Ledger, error) {
	if cfg.MaxConns < 1 {
		cfg.MaxConns = 2
	}
	pcfg, table, err := sessionConfig(cfg)
	if err != nil {
		return nil, err
	}
	// A sweep asks about a few thousand tokens of a table of millions. Costed
	// for disk reads, that fraction makes the planner scan the whole table,
	// so the query slows as the ledger grows and not as the fleet does. The
	// session only ever runs this lookup: with the token column indexed,
	// this makes it the index.
	pcfg.ConnConfig.RuntimeParams["enable_seqscan"] = "off"
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		return nil, fmt.Errorf("ledger pool: %w", err)
	}
	id := func(c string) string { return pgx.Identifier{c}.Sanitize() }
	tok, st, ty, cr := id(cfg.TokenColumn), id(cfg.StatusColumn), id(cfg.TypeColumn), id(cfg.CreatedColumn)
	extra, extraTime := "NULL::text", "NULL::timestamptz"
	if cfg.TerminatedAtColumn != "" {
		extra, extraTime = id(cfg.TerminatedAtColumn)+"::text", id(cfg.TerminatedAtColumn)+"::timestamptz"
	}
	// Every row as stored: the sweep classifies statuses, proves types and
	// digests the rows, so nothing is folded or coalesced here.
	q := fmt.Sprintf(`SELECT %s, %s::timestamptz, %s::text, %s::text, %s, %s
FROM %s
WHERE %s = ANY($1)`, tok, cr, st, ty, extra, extraTime, table.Sanitize(), tok)
	return &Ledger{cfg: cfg, pool: pool, query: q}, nil
}

// sessionConfig checks the table and column names and returns the pool
// configuration of a read-only session with cfg's deadlines, and the table.
func sessionConfig(cfg Config) (*pgxpool.Config, pgx.Identifier, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, nil, fmt.Errorf("ledger DSN: %w", err)
	}
	table, err := qualifiedTable(cfg)
	if err != nil {
		return nil, nil, err
	}
	for name, col := range map[string]string{"token": cfg.TokenColumn, "status": cfg.StatusColumn, "type": cfg.TypeColumn, "created": cfg.CreatedColumn} {
		if col == "" {
			return nil, nil, fmt.Errorf("ledger %s column: empty name", name)
		}
	}
	if cfg.QueryTimeout <= 0 {
		return nil, nil, errors.New("ledger query timeout must be positive")
	}
	pcfg.MaxConns = cfg.MaxConns
	pcfg.MinConns = 0
	pcfg.MaxConnIdleTime = 5 * time.Minute
	pcfg.HealthCheckPeriod = 30 * time.Second
	if pcfg.ConnConfig.ConnectTimeout == 0 || pcfg.ConnConfig.ConnectTimeout > cfg.QueryTimeout {
		pcfg.ConnConfig.ConnectTimeout = cfg.QueryTimeout
	}
	rp := pcfg.ConnConfig.RuntimeParams
	// The exporter only reads; the session says so, so no statement it sends
	// could ever write, whatever the role may do.
	rp["default_transaction_read_only"] = "on"
	rp["statement_timeout"] = fmt.Sprint(cfg.QueryTimeout.Milliseconds())
	rp["lock_timeout"] = fmt.Sprint(cfg.QueryTimeout.Milliseconds())
	rp["idle_in_transaction_session_timeout"] = fmt.Sprint((2 * cfg.QueryTimeout).Milliseconds())
	// Times read as text go into the evidence digest: their spelling must
	// not depend on the server's or the role's defaults.
	rp["TimeZone"] = "UTC"
	rp["search_path"] = "pg_catalog, " + table[:1].Sanitize()
	rp["DateStyle"] = "ISO, YMD"
	rp["IntervalStyle"] = "iso_8601"
	if cfg.ApplicationName != "" {
		rp["application_name"] = cfg.ApplicationName
	}
	return pcfg, table, nil
}

// Close releases the pool.
func (l *Ledger) Close() { l.pool.Close() }

// Query returns the statement a sweep runs, for EXPLAIN and documentation.
func (l *Ledger) Query() string { return l.query }

// Lookup returns the rows of each token that has any. Tokens
// that cannot be values of the token column's type (not a uuid, for a uuid
// column) have no row by definition and are left out of the query, never
// failing it. An error means nothing may be concluded from this lookup.
func (l *Ledger) Lookup(ctx context.Context, tokens []string) (sweep.Facts, error) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.QueryTimeout)
	defer cancel()
	return l.lookup(ctx, l.pool, tokens)
}

// querier runs statements: the pool, or one transaction on one connection.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (l *Ledger) lookup(ctx context.Context, q querier, tokens []string) (sweep.Facts, error) {
	facts := make(sweep.Facts)
	if len(tokens) == 0 {
		return facts, nil
	}
	typ, err := l.columnType(ctx, q)
	if err != nil {
		return nil, err
	}
	b, err := bindTokens(typ, tokens)
	if err != nil {
		return nil, err
	}
	if b.values == 0 {
		return facts, nil
	}
	rows, err := q.Query(ctx, l.query, b.arg)
	if err != nil {
		return nil, fmt.Errorf("ledger query: %w", err)
	}
	perValue := make([][]sweep.Row, b.values)
	var (
		uuid               [16]byte
		text               string
		token              any = &text
		created, termTime  pgtype.Timestamptz
		status, rtype, ext pgtype.Text
	)
	if b.uuids != nil {
		token = &uuid
	}
	_, err = pgx.ForEachRow(rows, []any{token, &created, &status, &rtype, &ext, &termTime}, func() error {
		i, ok := b.index(uuid, text)
		if !ok {
			return errors.New("a row for a token that was not asked about")
		}
		perValue[i] = append(perValue[i], sweep.Row{
			CreatedAt: created.Time, CreatedAtNull: !created.Valid || created.InfinityModifier != pgtype.Finite,
			Status: status.String, StatusNull: !status.Valid,
			ResourceType: rtype.String, TypeNull: !rtype.Valid,
			Extra: ext.String, ExtraNull: !ext.Valid,
			TerminatedAt: termTime.Time, TerminatedAtInfinite: termTime.Valid && termTime.InfinityModifier != pgtype.Finite,
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger query: %w", err)
	}
	for j, tok := range tokens {
		if i := b.of[j]; i >= 0 && len(perValue[i]) > 0 {
			facts[tok] = perValue[i]
		}
	}
	return facts, nil
}

// columnType reads the token column's type from the catalog, once.
func (l *Ledger) columnType(ctx context.Context, q querier) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tokenType != "" {
		return l.tokenType, nil
	}
	table, _ := qualifiedTable(l.cfg)
	var typ string
	err := q.QueryRow(ctx, `SELECT t.typname
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
		table.Sanitize(), l.cfg.TokenColumn).Scan(&typ)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("ledger: table %s has no column %q (or the table does not exist)", table.Sanitize(), l.cfg.TokenColumn)
	}
	if err != nil {
		return "", fmt.Errorf("ledger: read type of %s.%s: %w", table.Sanitize(), l.cfg.TokenColumn, err)
	}
	switch typ {
	case "uuid", "text", "varchar":
	default:
		return "", fmt.Errorf("ledger: column %s.%s has type %s; supported token types are uuid, text and varchar", table.Sanitize(), l.cfg.TokenColumn, typ)
	}
	l.tokenType = typ
	return typ, nil
}

// binding is the tokens of one lookup converted to the column's type: the
// query argument holds each distinct value once (several spellings of one
// uuid are one value), and of maps every token to its value's index.
type binding struct {
	arg    any
	values int
	of     []int32 // per token; -1 when it cannot be a value of the column
	uuids  map[[16]byte]int32
	texts  map[string]int32
}

func (b *binding) index(u [16]byte, s string) (int32, bool) {
	if b.uuids != nil {
		i, ok := b.uuids[u]
		return i, ok
	}
	i, ok := b.texts[s]
	return i, ok
}

// bindTokens converts namespace tokens to the column's type.
func bindTokens(typ string, tokens []string) (*binding, error) {
	b := &binding{of: make([]int32, len(tokens))}
	switch typ {
	case "uuid":
		vals := make([][16]byte, 0, len(tokens))
		b.uuids = make(map[[16]byte]int32, len(tokens))
		for j, t := range tokens {
			u, ok := uuidValue(t)
			if !ok {
				b.of[j] = -1
				continue
			}
			i, dup := b.uuids[u]
			if !dup {
				i = int32(len(vals))
				b.uuids[u] = i
				vals = append(vals, u)
			}
			b.of[j] = i
		}
		b.arg, b.values = vals, len(vals)
		return b, nil
	case "text", "varchar":
		vals := make([]string, 0, len(tokens))
		b.texts = make(map[string]int32, len(tokens))
		for j, t := range tokens {
			// PostgreSQL text cannot hold NUL; such a token cannot have a row.
			if strings.IndexByte(t, 0) >= 0 {
				b.of[j] = -1
				continue
			}
			i, dup := b.texts[t]
			if !dup {
				i = int32(len(vals))
				b.texts[t] = i
				vals = append(vals, t)
			}
			b.of[j] = i
		}
		b.arg, b.values = vals, len(vals)
		return b, nil
	}
	return nil, fmt.Errorf("ledger: unsupported token type %s", typ)
}

// qualifiedTable names cfg's table with its schema. Names are taken
// literally, without SQL case folding.
func qualifiedTable(cfg Config) (pgx.Identifier, error) {
	schema := cfg.Schema
	if schema == "" {
		schema = "public"
	}
	switch {
	case cfg.Table == "":
		return nil, errors.New("ledger table: empty name")
	case strings.Contains(cfg.Table, "."):
		return nil, fmt.Errorf("ledger table %q: give the name alone and the schema apart", cfg.Table)
	case strings.ContainsRune(schema+cfg.Table, 0):
		return nil, errors.New("ledger table: a name holds a NUL byte")
	}
	return pgx.Identifier{schema, cfg.Table}, nil
}
