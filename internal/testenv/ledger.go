package testenv

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// LedgerSchema is the reference platform's `resources` table, indexed on token
// as a real platform's would be.
const LedgerSchema = `
CREATE TABLE resources (
  id            bigserial   PRIMARY KEY,
  token         uuid        NOT NULL,
  status        text        NOT NULL,
  resource_type text        NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX resources_token_idx ON resources (token);
`

// Row is one ledger row.
type Row struct {
	Token        string
	Status       string
	ResourceType string
	CreatedAt    time.Time
}

// CreateLedger creates a database named db holding the ledger schema and
// returns its DSN.
func (p *Postgres) CreateLedger(ctx context.Context, db string) (string, error) {
	dsn, err := p.CreateDatabase(ctx, db)
	if err != nil {
		return "", err
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, LedgerSchema); err != nil {
		return "", fmt.Errorf("create ledger schema: %w", err)
	}
	return dsn, nil
}

// InsertRows appends rows to the ledger at dsn with one COPY.
func InsertRows(ctx context.Context, dsn string, rows []Row) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	src := make([][]any, len(rows))
	for i, r := range rows {
		created := r.CreatedAt
		if created.IsZero() {
			created = time.Now()
		}
		src[i] = []any{r.Token, r.Status, r.ResourceType, created}
	}
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"resources"}, []string{"token", "status", "resource_type", "created_at"}, pgx.CopyFromRows(src))
	if err != nil {
		return fmt.Errorf("insert ledger rows: %w", err)
	}
	return nil
}

// Exec runs one statement on dsn.
func Exec(ctx context.Context, dsn, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	return err
}
