package plugin

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/exporterclient"
)

const ghostsExample = `  # Live ledger rows whose namespace is gone, as the latest ghost sweep saw them
  kubectl orphans ghosts

  # With the ledger status and first sighting; full tokens for scripts
  kubectl orphans ghosts -o wide
  kubectl orphans ghosts -o json`

// GhostsOptions are the options of `kubectl orphans ghosts`.
type GhostsOptions struct {
	*RootOptions

	listing

	exporter *exporterclient.Client
	now      func() time.Time
}

// NewCmdGhosts returns `kubectl orphans ghosts`.
func NewCmdGhosts(root *RootOptions) *cobra.Command {
	o := &GhostsOptions{RootOptions: root, now: time.Now}
	cmd := &cobra.Command{
		Use:   "ghosts [flags]",
		Short: "List live ledger rows whose tenant namespace does not exist",
		Long: `List ghosts: tokens the ledger says are live (and bills) while the cluster has
no namespace for them, as the exporter's latest ghost sweep found them.

Read-only: nothing in orphans ever acts on a ghost. Tokens are masked in the
table formats; -o json and -o yaml print the exporter's document with full
values. When ghost sweeps are off the command says so on stderr; when the
latest ghost sweep failed it says so and exits non-zero. Neither is ever shown
as an empty list.`,
		Example: ghostsExample,
		Args:    cobra.NoArgs,
		RunE:    completeValidateRun(o.Complete, o.Validate, o.Run),
	}
	o.listing.addTo(cmd, "ghosts")
	return cmd
}

// Complete builds the exporter client.
func (o *GhostsOptions) Complete(*cobra.Command, []string) error {
	exp, err := o.exporterClient()
	if err != nil {
		return err
	}
	o.exporter = exp
	return nil
}

// Validate checks the flags.
func (o *GhostsOptions) Validate() error { return o.listing.validate() }

// Run prints the ghosts.
func (o *GhostsOptions) Run(ctx context.Context) error {
	doc, err := o.exporter.Ghosts(ctx)
	if err != nil {
		return fmt.Errorf("list ghosts: %w", err)
	}
	if !doc.Enabled {
		fmt.Fprintln(o.ErrOut, "Ghost sweeps are off on the exporter (ORPHAN_DB_SWEEP_ENABLED is not \"true\", or --ghosts.interval is 0): no ledger row was checked, so there is no list.")
	}
	total := len(doc.Ghosts)
	if o.Kind != "" {
		kept := doc.Ghosts[:0]
		for _, g := range doc.Ghosts {
			if g.Kind == o.Kind {
				kept = append(kept, g)
			}
		}
		doc.Ghosts = kept
	}
	if o.whole() {
		return o.printWhole(o.Out, doc)
	}
	if !doc.Enabled {
		return nil
	}
	if len(doc.Ghosts) == 0 {
		if total == 0 {
			fmt.Fprintf(o.ErrOut, "No ghosts: the ghost sweep at %s found a namespace for every live ledger row past grace.\n", doc.GeneratedAt.Format(time.RFC3339))
		} else {
			fmt.Fprintf(o.ErrOut, "None of the %d ghosts matches the filters.\n", total)
		}
		return nil
	}
	if o.Output == "name" {
		for _, g := range doc.Ghosts {
			if _, err := fmt.Fprintf(o.Out, "namespace/%s\n", g.Namespace); err != nil {
				return err
			}
		}
		return nil
	}
	return o.printTable(o.Out, ghostsTable(doc.Ghosts, o.now()))
}

var ghostColumns = []metav1.TableColumnDefinition{
	{Name: "Namespace", Type: "string", Description: "The namespace the token should have, token masked."},
	{Name: "Token", Type: "string", Description: "Tenant token, masked."},
	{Name: "Kind", Type: "string", Description: "redis_namespace for a redis resource, else customer_namespace."},
	{Name: "Type", Type: "string", Description: "resource_type of the oldest live row."},
	{Name: "Row-Age", Type: "string", Description: "Age of the oldest live row."},
	{Name: "Seen", Type: "integer", Description: "Consecutive ghost sweeps that found it."},
	{Name: "Status", Type: "string", Priority: 1, Description: "Status of the oldest live row."},
	{Name: "First-Seen", Type: "string", Priority: 1, Description: "Time since the exporter first found the ghost."},
}

func ghostsTable(ghosts []api.Ghost, now time.Time) *metav1.Table {
	t := &metav1.Table{ColumnDefinitions: ghostColumns}
	for _, g := range ghosts {
		m := newMasker(strings.TrimSuffix(g.Namespace, g.Token))
		token := g.TokenMasked
		if token == "" {
			token = m.Text(g.Token)
		}
		t.Rows = append(t.Rows, metav1.TableRow{Cells: []any{
			m.Namespace(g.Namespace), token, g.Kind, orNone(g.ResourceType),
			since(now, g.RowCreatedAt), int64(g.ConsecutiveSweeps), orNone(g.Status), since(now, g.FirstSeenAt),
		}})
	}
	return t
}
