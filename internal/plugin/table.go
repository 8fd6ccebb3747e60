package plugin

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"

	"github.com/orphansweep/orphans/internal/api"
)

// candidateColumns are the columns of `list`; priority 1 shows only with -o wide.
var candidateColumns = []metav1.TableColumnDefinition{
	{Name: "Namespace", Type: "string", Description: "Tenant namespace, token masked."},
	{Name: "Token", Type: "string", Description: "Tenant token, masked."},
	{Name: "Kind", Type: "string", Description: "redis_namespace when the ledger proves a redis resource, else customer_namespace."},
	{Name: "Type", Type: "string", Description: "resource_type of the newest ledger row; <none> without a row."},
	{Name: "Reason", Type: "string", Description: "no_row: the ledger has no row; terminal: rows exist, none live."},
	{Name: "Age", Type: "string", Description: "Age of the namespace."},
	{Name: "Seen", Type: "integer", Description: "Consecutive sweeps that found the candidate."},
	{Name: "Reclaimable", Type: "string", Description: "Whether reclaim may send it to the deprovision API now."},
	{Name: "Last-Status", Type: "string", Priority: 1, Description: "Status of the newest ledger row."},
	{Name: "First-Seen", Type: "string", Priority: 1, Description: "Time since the exporter first found the candidate."},
	{Name: "Terminating", Type: "string", Priority: 1, Description: "The namespace is being deleted."},
	{Name: "Why-Not", Type: "string", Priority: 1, Description: "The rule that keeps the candidate from being reclaimable."},
}

// candidatesTable renders candidates as the table cli-runtime prints.
func candidatesTable(cands []api.Candidate, m *masker, now time.Time) *metav1.Table {
	t := &metav1.Table{ColumnDefinitions: candidateColumns}
	for _, c := range cands {
		token := c.TokenMasked
		if token == "" {
			token = m.Text(c.Token)
		}
		t.Rows = append(t.Rows, metav1.TableRow{Cells: []any{
			m.Namespace(c.Namespace),
			token,
			c.Kind,
			orNone(c.ResourceType),
			c.Reason,
			since(now, c.NamespaceCreatedAt),
			int64(c.ConsecutiveSweeps),
			yesNo(c.Reclaimable),
			orNone(c.LastStatus),
			since(now, c.FirstSeenAt),
			strconv.FormatBool(c.Terminating),
			orNone(c.NotReclaimableReason),
		}})
	}
	return t
}

// outcomeColumns are the columns of reclaim's outcome table.
var outcomeColumns = []metav1.TableColumnDefinition{
	{Name: "Namespace", Type: "string", Description: "Tenant namespace, token masked."},
	{Name: "Outcome", Type: "string", Description: "reclaimed, dry-run-ok, skipped, failed, uncertain or not-attempted."},
	{Name: "Why", Type: "string", Description: "Why it was skipped: live, changed, not_reclaimable, unverified_claim or conflict."},
	{Name: "Detail", Type: "string", Description: "Audit id, more on why it was skipped, or the error."},
	{Name: "Request-ID", Type: "string", Description: "Idempotency-Key of the deprovision request."},
}

func outcomesTable(outs []Outcome, m *masker) *metav1.Table {
	t := &metav1.Table{ColumnDefinitions: outcomeColumns}
	for _, o := range outs {
		t.Rows = append(t.Rows, metav1.TableRow{Cells: []any{
			m.Namespace(o.Namespace), o.Result, orNone(o.Why), m.Text(o.Detail), orNone(o.RequestID),
		}})
	}
	return t
}

// targetColumns are the columns of the plan reclaim shows before asking.
var targetColumns = []metav1.TableColumnDefinition{
	{Name: "Namespace", Type: "string"},
	{Name: "Kind", Type: "string"},
	{Name: "Type", Type: "string"},
	{Name: "Reason", Type: "string"},
	{Name: "Age", Type: "string"},
	{Name: "Seen", Type: "integer"},
	{Name: "Evidence", Type: "string", Description: "Start of the evidence digest; a target whose fresh digest differs is skipped as changed."},
	{Name: "Listed-As", Type: "string", Description: "What the latest sweep said, and whether it passes the plugin's own checks; each target is checked afresh before it is sent."},
}

// digestShown is how much of an evidence digest the plan shows.
const digestShown = 12

func targetsTable(targets []target, m *masker, now time.Time, rules claimRules) *metav1.Table {
	t := &metav1.Table{ColumnDefinitions: targetColumns}
	for _, tg := range targets {
		row := []any{m.Namespace(tg.namespace), "<unknown>", "<unknown>", "<unknown>", "<unknown>", int64(0), "<none>", "not a candidate"}
		if c := tg.listed; c != nil {
			listed := "reclaimable"
			switch {
			case !c.Reclaimable:
				listed = "not reclaimable: " + orNone(c.NotReclaimableReason)
			case rules.problem(tg.namespace, c) != "":
				listed = "reclaimable, but fails the plugin's checks: " + rules.problem(tg.namespace, c)
			}
			digest := c.EvidenceDigest
			if len(digest) > digestShown {
				digest = digest[:digestShown]
			}
			row = []any{m.Namespace(tg.namespace), c.Kind, orNone(c.ResourceType), c.Reason,
				since(now, c.NamespaceCreatedAt), int64(c.ConsecutiveSweeps), orNone(digest), listed}
		}
		t.Rows = append(t.Rows, metav1.TableRow{Cells: row})
	}
	return t
}

func since(now, t time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t))
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// printStructured writes v as indented JSON or as YAML: the machine-readable
// outputs, the only ones that carry full tokens.
func printStructured(w io.Writer, format string, v any) error {
	var b []byte
	var err error
	if format == "yaml" {
		b, err = yaml.Marshal(v)
	} else {
		b, err = json.MarshalIndent(v, "", "  ")
		b = append(b, '\n')
	}
	if err != nil {
		return fmt.Errorf("encode %s: %w", format, err)
	}
	_, err = w.Write(b)
	return err
}
