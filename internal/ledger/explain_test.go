//go:build integration

package ledger

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orphansweep/orphans/internal/testenv"
)

// explainRows and explainTokens are the scale the plan must hold at: a ledger
// of a million rows asked about ten thousand namespaces' tokens.
const (
	explainRows    = 1_000_000
	explainTokens  = 10_000
	explainIndex   = "resources_token_idx"
	explainTable   = "resources"
	explainLedgers = 600_000 // distinct tokens in the table
)

// md5UUID is PostgreSQL's md5(s)::uuid, so Go and SQL name the same tokens.
func md5UUID(s string) string {
	sum := md5.Sum([]byte(s))
	h := hex.EncodeToString(sum[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// TestLedgerQueryUsesTokenIndex plans exactly the statement a sweep runs,
// with a realistic array of tokens bound the way Lookup binds it, against a
// large table, and fails if the planner would read the whole table.
func TestLedgerQueryUsesTokenIndex(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a table of a million rows")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, dsn := newLedger(t, testenv.LedgerSchema, nil)

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Loading before indexing is how a large table is built fast; the index
	// is the schema's own, recreated with the same definition.
	load := fmt.Sprintf(`
DROP INDEX %[1]s;
INSERT INTO resources (token, status, resource_type, created_at)
SELECT md5('t' || (g %% %[2]d))::uuid,
       (ARRAY['active','deleted','pending','expired','reaped','paused'])[1 + g %% 6],
       (ARRAY['redis','postgres'])[1 + g %% 2],
       now() - g * interval '1 second'
FROM generate_series(1, %[3]d) AS g;
CREATE INDEX %[1]s ON resources (token);
ANALYZE resources;`, explainIndex, explainLedgers, explainRows)
	start := time.Now()
	if _, err := conn.Exec(ctx, load); err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %d rows in %v", explainRows, time.Since(start).Round(time.Millisecond))

	// Most namespaces have rows; some tokens are not in the ledger at all.
	tokens := make([]string, 0, explainTokens)
	for i := 0; i < explainTokens*99/100; i++ {
		tokens = append(tokens, md5UUID(fmt.Sprintf("t%d", i*37%explainLedgers)))
	}
	for i := len(tokens); i < explainTokens; i++ {
		tokens = append(tokens, md5UUID(fmt.Sprintf("absent-%d", i)))
	}
	typ, err := l.columnType(ctx, l.pool)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bindTokens(typ, tokens)
	if err != nil {
		t.Fatal(err)
	}

	// Planned in the ledger's own session, with the settings a sweep runs under.
	var plan string
	if err := l.pool.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+l.Query(), b.arg).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	var doc []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal([]byte(plan), &doc); err != nil || len(doc) != 1 {
		t.Fatalf("EXPLAIN output: %v\n%s", err, plan)
	}
	var usesIndex bool
	var tree strings.Builder
	doc[0].Plan.walk(0, func(depth int, n planNode) {
		fmt.Fprintf(&tree, "\n%s%s %s %s", strings.Repeat("  ", depth), n.NodeType, n.RelationName, n.IndexName)
		if n.IndexName == explainIndex {
			usesIndex = true
		}
		if n.NodeType == "Seq Scan" && n.RelationName == explainTable {
			t.Errorf("the ledger query scans %s sequentially", explainTable)
		}
	})
	if !usesIndex {
		t.Errorf("the ledger query does not use %s", explainIndex)
	}
	t.Logf("plan:%s", tree.String())
}

// planNode is the part of a PostgreSQL JSON plan node the test reads.
type planNode struct {
	NodeType     string     `json:"Node Type"`
	RelationName string     `json:"Relation Name"`
	IndexName    string     `json:"Index Name"`
	Plans        []planNode `json:"Plans"`
}

func (n planNode) walk(depth int, f func(int, planNode)) {
	f(depth, n)
	for _, c := range n.Plans {
		c.walk(depth+1, f)
	}
}
