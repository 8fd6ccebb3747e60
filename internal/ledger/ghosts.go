package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orphansweep/orphans/internal/sweep"
)

// GhostConfig says how a ghost sweep reads the ledger.
type GhostConfig struct {
	// Config is where the ledger is and how it is shaped; its QueryTimeout is
	// the ghost sweep's statement timeout. MaxConns is ignored: one connection.
	Config
	// LiveStatuses are the statuses that make a token live, matched exactly.
	LiveStatuses []string
	// Types restricts the rows to these resource types; empty for every type.
	Types []string
	// FilterColumn, when set, restricts the rows to those whose value in it
	// equals FilterValue (a ledger shared by several clusters).
	FilterColumn string
	FilterValue  string
}

// Ghosts reads the live tokens of the ledger for ghost sweeps: one streaming
// statement per sweep over the whole table, on its own connection. It is
// safe for concurrent use.
type Ghosts struct {
	cfg   GhostConfig
	pool  *pgxpool.Pool
	query string
}

// OpenGhosts validates the configuration and prepares its connection. It
// does not connect: the first Scan does.
func OpenGhosts(cfg GhostConfig) (*Ghosts, error) {
	cfg.MaxConns = 1
	if len(cfg.LiveStatuses) == 0 {
		return nil, errors.New("ghosts: no live status")
	}
	if strings.TrimSpace(cfg.FilterColumn) == "" && cfg.FilterValue != "" {
		return nil, errors.New("ghosts: a filter value without a filter column")
	}
	// The session is the sweeps' read-only one, with the planner's defaults:
	// this statement reads most of the live rows, which a sequential scan
	// does best, and it must not inherit the sweeps' preference for the index.
	pcfg, table, err := sessionConfig(cfg.Config)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		return nil, fmt.Errorf("ledger pool: %w", err)
	}
	id := func(c string) string { return pgx.Identifier{c}.Sanitize() }
	tok, st, ty, cr := id(cfg.TokenColumn), id(cfg.StatusColumn), id(cfg.TypeColumn), id(cfg.CreatedColumn)
	where := []string{st + "::text = ANY($1::text[])", cr + " <= $2::timestamptz"}
	if len(cfg.Types) > 0 {
		where = append(where, ty+"::text = ANY($3::text[])")
	}
	if cfg.FilterColumn != "" {
		// Bound as text: the server reads it as the column's own type.
		where = append(where, fmt.Sprintf("%s = $%d", id(cfg.FilterColumn), len(where)+1))
	}
	// One row per token, its oldest live row; the token as stored, so its
	// type comes with the answer and no catalog query is needed.
	q := fmt.Sprintf(`SELECT DISTINCT ON (%[1]s) %[1]s, %[2]s::timestamptz, %[3]s::text, %[4]s::text
FROM %[5]s
WHERE %[6]s
ORDER BY %[1]s, %[2]s, %[3]s::text, %[4]s::text`, tok, cr, st, ty, table.Sanitize(), strings.Join(where, " AND "))
	return &Ghosts{cfg: cfg, pool: pool, query: q}, nil
}

// Close releases the connection.
func (g *Ghosts) Close() { g.pool.Close() }

// Query returns the statement a ghost sweep runs, for EXPLAIN and documentation.
func (g *Ghosts) Query() string { return g.query }

// Scan streams the oldest live row of every token that has a live row
// created at or before cutoff, and hands to visit only the rows whose token
// equals none of known, compared as the token column compares values: uuid
// spellings as PostgreSQL reads them, text exactly. It returns how many
// tokens the ledger streamed. An error means nothing may be concluded; an
// error from visit stops the statement and is returned as it is.
func (g *Ghosts) Scan(ctx context.Context, cutoff time.Time, known []string, visit func(sweep.LiveRow) error) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.QueryTimeout)
	defer cancel()
	args := []any{g.cfg.LiveStatuses, cutoff}
	if len(g.cfg.Types) > 0 {
		args = append(args, g.cfg.Types)
	}
	if g.cfg.FilterColumn != "" {
		args = append(args, g.cfg.FilterValue)
	}
	rows, err := g.pool.Query(ctx, g.query, args...)
	if err != nil {
		return 0, fmt.Errorf("ghost query: %w", err)
	}
	defer rows.Close()
	var (
		set            *tokenSet
		uuid           [16]byte
		text           string
		token          any
		created        pgtype.Timestamptz
		status, rtype  pgtype.Text
		tokens         int
		isUUID, hasRow bool
	)
	for rows.Next() {
		if set == nil {
			isUUID, err = tokenIsUUID(rows.FieldDescriptions()[0].DataTypeOID)
			if err != nil {
				return 0, err
			}
			set, token = newTokenSet(known, isUUID), &text
			if isUUID {
				token = &uuid
			}
		}
		if err := rows.Scan(token, &created, &status, &rtype); err != nil {
			return 0, fmt.Errorf("ghost query: %w", err)
		}
		tokens++
		if isUUID {
			hasRow = set.uuids[uuid]
			text = formatUUID(uuid)
		} else {
			hasRow = set.texts[text]
		}
		if hasRow {
			continue
		}
		if err := visit(sweep.LiveRow{Token: text, Status: status.String, ResourceType: rtype.String, CreatedAt: created.Time}); err != nil {
			// Cancel before rows.Close, which would otherwise read the
			// rest of the answer to keep the connection usable.
			cancel()
			return 0, err
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("ghost query: %w", err)
	}
	return tokens, nil
}

// tokenIsUUID tells a uuid token column from a text one by the type the
// server reports for it.
func tokenIsUUID(oid uint32) (bool, error) {
	switch oid {
	case pgtype.UUIDOID:
		return true, nil
	case pgtype.TextOID, pgtype.VarcharOID:
		return false, nil
	}
	return false, fmt.Errorf("ghosts: the token column has type oid %d; supported token types are uuid, text and varchar", oid)
}

// tokenSet holds namespace tokens as values of the token column's type.
type tokenSet struct {
	uuids map[[16]byte]bool
	texts map[string]bool
}

func newTokenSet(tokens []string, isUUID bool) *tokenSet {
	s := &tokenSet{}
	if isUUID {
		s.uuids = make(map[[16]byte]bool, len(tokens))
		for _, t := range tokens {
			if u, ok := uuidValue(t); ok {
				s.uuids[u] = true
			}
		}
		return s
	}
	s.texts = make(map[string]bool, len(tokens))
	for _, t := range tokens {
		s.texts[t] = true
	}
	return s
}
