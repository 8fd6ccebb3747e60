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
	{Name: "Pods", Type: "string", Priority: 1, Description: "Pods in the namespace, running/all; what a reclaim would stop."},
	{Name: "PVCs", Type: "string", Priority: 1, Description: "PersistentVolumeClaims in the namespace; what a reclaim would delete."},
	{Name: "Storage", Type: "string", Priority: 1, Description: "Storage the PVCs request."},
	{Name: "Last-Change", Type: "string", Priority: 1, Description: "Time since the newest change made in the namespace: a creation or update of an object no controller owns, or a scale or debug of any."},
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
		cells := []any{
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
		}
		cells = append(cells, contentsCells(c.Contents, now)...)
		t.Rows = append(t.Rows, metav1.TableRow{Cells: append(cells, orNone(c.NotReclaimableReason))})
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
	{Name: "Pods", Type: "string", Description: "Pods, running/all, that the reclaim would stop."},
	{Name: "PVCs", Type: "string", Description: "PersistentVolumeClaims the reclaim would delete."},
	{Name: "Storage", Type: "string", Description: "Storage those PVCs request."},
	{Name: "Last-Change", Type: "string", Description: "Time since the newest change no controller made."},
	{Name: "Evidence", Type: "string", Description: "Start of the evidence digest; a target whose fresh digest differs is skipped as changed."},
	{Name: "Listed-As", Type: "string", Description: "What the latest sweep said, and whether it passes the plugin's own checks; each target is checked afresh before it is sent."},
}

// digestShown is how much of an evidence digest the plan shows.
const digestShown = 12

func targetsTable(targets []target, m *masker, now time.Time, rules claimRules) *metav1.Table {
	t := &metav1.Table{ColumnDefinitions: targetColumns}
	for _, tg := range targets {
		row := append([]any{m.Namespace(tg.namespace), "<unknown>", "<unknown>", "<unknown>", "<unknown>", int64(0)},
			append(contentsCells(nil, now), "<none>", "not a candidate")...)
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
			row = append([]any{m.Namespace(tg.namespace), c.Kind, orNone(c.ResourceType), c.Reason,
				since(now, c.NamespaceCreatedAt), int64(c.ConsecutiveSweeps)},
				append(contentsCells(c.Contents, now), orNone(digest), listed)...)
		}
		t.Rows = append(t.Rows, metav1.TableRow{Cells: row})
	}
	return t
}

// contentsCells are the Pods, PVCs, Storage and Last-Change cells: what a
// reclaim would destroy, <unknown> until the exporter has read it and
// <error> when the read failed.
func contentsCells(c *api.Contents, now time.Time) []any {
	switch {
	case c == nil:
		return []any{"<unknown>", "<unknown>", "<unknown>", "<unknown>"}
	case c.Error != "":
		return []any{"<error>", "<error>", "<error>", "<error>"}
	}
	return []any{
		fmt.Sprintf("%d/%d", c.PodsRunning, c.Pods),
		strconv.Itoa(c.PVCs),
		bytesIEC(c.StorageRequestedBytes),
		since(now, c.LastChangeAt),
	}
}

// contentsSummary is the contents as one phrase for messages: "pods 2/3,
// PVCs 1, storage 10Gi, last change 3d".
func contentsSummary(c *api.Contents, now time.Time) string {
	return fmt.Sprintf("pods %s, PVCs %s, storage %s, last change %s", contentsCells(c, now)...)
}

// bytesIEC writes n in the largest binary unit that keeps it at least 1,
// with one decimal unless exact: 0, 512, 1Ki, 1.5Gi.
func bytesIEC(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return strconv.FormatInt(n, 10)
	}
	v, i := float64(n), -1
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d%ci", int64(v), units[i])
	}
	return fmt.Sprintf("%.1f%ci", v, units[i])
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
