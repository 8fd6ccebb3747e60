package plugin

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/exporterclient"
)

const listExample = `  # The backlog, as the exporter's latest sweep sees it
  kubectl orphans list

  # Only what could be reclaimed now, with the evidence columns
  kubectl orphans list --reclaimable -o wide

  # Redis namespaces orphaned for more than a week, full values for scripts
  kubectl orphans list --kind redis_namespace --older-than 7d -o json`

// outputFormats are the values -o accepts ("" is the default table).
var outputFormats = []string{"wide", "json", "yaml", "name"}

// ListOptions are the options of `kubectl orphans list`.
type ListOptions struct {
	*RootOptions

	Output      string
	NoHeaders   bool
	Kind        string
	Reclaimable bool
	OlderThan   string

	olderThan time.Duration
	now       func() time.Time
	exporter  *exporterclient.Client
}

// NewCmdList returns `kubectl orphans list`.
func NewCmdList(root *RootOptions) *cobra.Command {
	o := &ListOptions{RootOptions: root, now: time.Now}
	cmd := &cobra.Command{
		Use:     "list [flags]",
		Aliases: []string{"ls"},
		Short:   "List orphan candidates from the exporter's latest sweep",
		Long: `List orphan candidates from the exporter's latest sweep.

Tokens are masked in the table formats. -o json and -o yaml print the exporter's
document (filtered) with full values; -o name prints namespace/<name> lines for
scripts. When the sweep is disabled the command says so on stderr; when the
latest sweep failed it says so and exits non-zero. Neither is ever shown as an
empty list.`,
		Example: listExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Output, "output", "o", o.Output, "Output format: one of "+strings.Join(outputFormats, "|")+".")
	f.BoolVar(&o.NoHeaders, "no-headers", o.NoHeaders, "Do not print the table header.")
	f.StringVar(&o.Kind, "kind", o.Kind, "Only candidates of this kind: "+strings.Join(api.Kinds, " or ")+".")
	f.BoolVar(&o.Reclaimable, "reclaimable", o.Reclaimable, "Only candidates that are reclaimable now.")
	f.StringVar(&o.OlderThan, "older-than", o.OlderThan, "Only candidates whose namespace is older than this (e.g. 90m, 36h, 7d).")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(outputFormats, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("kind", cobra.FixedCompletions(api.Kinds, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Complete reads --older-than and builds the exporter client.
func (o *ListOptions) Complete(*cobra.Command, []string) error {
	if o.now == nil {
		o.now = time.Now
	}
	if o.OlderThan != "" {
		d, err := parseAge(o.OlderThan)
		if err != nil {
			return fmt.Errorf("--older-than: %w", err)
		}
		o.olderThan = d
	}
	exp, err := o.exporterClient()
	if err != nil {
		return err
	}
	o.exporter = exp
	return nil
}

// Validate checks the flags.
func (o *ListOptions) Validate() error { return validateListing(o.Output, o.Kind) }

// validateListing checks the -o and --kind of the listing commands.
func validateListing(output, kind string) error {
	if output != "" && !slices.Contains(outputFormats, output) {
		return fmt.Errorf("unsupported output format %q: want one of %s", output, strings.Join(outputFormats, ", "))
	}
	if kind != "" && !slices.Contains(api.Kinds, kind) {
		return fmt.Errorf("--kind %q: want one of %s", kind, strings.Join(api.Kinds, ", "))
	}
	return nil
}

// parseAge reads a Go duration, or a whole number of days with a "d" suffix.
func parseAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a duration (want e.g. 90m, 36h or 7d)", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration (want e.g. 90m, 36h or 7d)", s)
	}
	return d, nil
}

// Run prints the candidates.
func (o *ListOptions) Run(ctx context.Context) error {
	doc, err := o.exporter.Candidates(ctx)
	if err != nil {
		return fmt.Errorf("list candidates: %w", err)
	}
	m := newMasker(doc.Policy.Prefix)
	if !doc.Enabled {
		fmt.Fprintln(o.ErrOut, "The orphan sweep is disabled on the exporter (ORPHAN_DB_SWEEP_ENABLED is not \"true\"): no namespace was checked, so there is no list.")
	}
	total := len(doc.Candidates)
	doc.Candidates = o.filter(doc.Candidates)

	if o.Output == "json" || o.Output == "yaml" {
		return printStructured(o.Out, o.Output, doc)
	}
	if !doc.Enabled {
		return nil
	}
	if len(doc.Candidates) == 0 {
		if total == 0 {
			fmt.Fprintf(o.ErrOut, "No orphan candidates: the sweep at %s found none among %d namespaces in scope.\n",
				doc.GeneratedAt.Format(time.RFC3339), doc.Sweep.NamespacesInScope)
		} else {
			fmt.Fprintf(o.ErrOut, "None of the %d candidates matches the filters.\n", total)
		}
		return nil
	}
	if o.Output == "name" {
		for _, c := range doc.Candidates {
			if _, err := fmt.Fprintf(o.Out, "namespace/%s\n", c.Namespace); err != nil {
				return err
			}
		}
		return nil
	}
	p := printers.NewTablePrinter(printers.PrintOptions{Wide: o.Output == "wide", NoHeaders: o.NoHeaders})
	return p.PrintObj(candidatesTable(doc.Candidates, m, o.now()), o.Out)
}

func (o *ListOptions) filter(in []api.Candidate) []api.Candidate {
	out := make([]api.Candidate, 0, len(in))
	now := o.now()
	for _, c := range in {
		if o.Kind != "" && c.Kind != o.Kind {
			continue
		}
		if o.Reclaimable && !c.Reclaimable {
			continue
		}
		if o.olderThan > 0 && now.Sub(c.NamespaceCreatedAt) < o.olderThan {
			continue
		}
		out = append(out, c)
	}
	return out
}
