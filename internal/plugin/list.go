package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
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

	listing
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
		RunE:    completeValidateRun(o.Complete, o.Validate, o.Run),
	}
	o.listing.addTo(cmd, "candidates")
	f := cmd.Flags()
	f.BoolVar(&o.Reclaimable, "reclaimable", o.Reclaimable, "Only candidates that are reclaimable now.")
	f.StringVar(&o.OlderThan, "older-than", o.OlderThan, "Only candidates whose namespace is older than this (e.g. 90m, 36h, 7d).")
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
func (o *ListOptions) Validate() error { return o.listing.validate() }

// listing is what the listing commands (list, ghosts) share: -o,
// --no-headers and --kind.
type listing struct {
	Output    string
	NoHeaders bool
	Kind      string

	// templates are kubectl's -o jsonpath=… and -o go-template=… (and
	// --template, --allow-missing-template-keys); template is the printer
	// -o asks for, if it is one of them.
	templates *genericclioptions.KubeTemplatePrintFlags
	template  printers.ResourcePrinter
}

// templateFormats name the template formats of -o in errors and help.
const templateFormats = "jsonpath=…, jsonpath-file=…, go-template=…, go-template-file=…"

// addTo registers the listing flags on cmd, whose rows are what.
func (l *listing) addTo(cmd *cobra.Command, what string) {
	f := cmd.Flags()
	f.StringVarP(&l.Output, "output", "o", l.Output, "Output format: one of "+strings.Join(outputFormats, "|")+", or "+templateFormats+" over the JSON document.")
	l.templates = genericclioptions.NewKubeTemplatePrintFlags()
	l.templates.AddFlags(cmd)
	f.BoolVar(&l.NoHeaders, "no-headers", l.NoHeaders, "Do not print the table header.")
	f.StringVar(&l.Kind, "kind", l.Kind, "Only "+what+" of this kind: "+strings.Join(api.Kinds, " or ")+".")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(outputFormats, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("kind", cobra.FixedCompletions(api.Kinds, cobra.ShellCompDirectiveNoFileComp))
}

// validate checks -o and --kind.
func (l *listing) validate() error {
	l.template = nil
	if l.Output != "" && !slices.Contains(outputFormats, l.Output) {
		p, err := l.templates.ToPrinter(l.Output)
		switch {
		case genericclioptions.IsNoCompatiblePrinterError(err):
			return fmt.Errorf("unsupported output format %q: want one of %s, or %s", l.Output, strings.Join(outputFormats, ", "), templateFormats)
		case err != nil:
			return fmt.Errorf("-o %s: %w", l.Output, err)
		}
		l.template = p
	}
	if l.Kind != "" && !slices.Contains(api.Kinds, l.Kind) {
		return fmt.Errorf("--kind %q: want one of %s", l.Kind, strings.Join(api.Kinds, ", "))
	}
	return nil
}

// whole says whether -o asks for the exporter's whole document (json,
// yaml or a template over it), tokens in full.
func (l *listing) whole() bool { return l.Output == "json" || l.Output == "yaml" || l.template != nil }

// printWhole prints the exporter's document doc as -o asks.
func (l *listing) printWhole(w io.Writer, doc any) error {
	if l.template == nil {
		return printStructured(w, l.Output, doc)
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	return l.template.PrintObj(&unstructured.Unstructured{Object: m}, w)
}

// printTable prints t as kubectl prints tables, wide with -o wide.
func (l *listing) printTable(w io.Writer, t *metav1.Table) error {
	return printers.NewTablePrinter(printers.PrintOptions{Wide: l.Output == "wide", NoHeaders: l.NoHeaders}).PrintObj(t, w)
}

// completeValidateRun is the RunE of a command that follows kubectl's
// Complete, Validate, Run.
func completeValidateRun(complete func(*cobra.Command, []string) error, validate func() error, run func(context.Context) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := complete(cmd, args); err != nil {
			return err
		}
		if err := validate(); err != nil {
			return err
		}
		return run(cmd.Context())
	}
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

	if o.whole() {
		return o.printWhole(o.Out, doc)
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
	return o.printTable(o.Out, candidatesTable(doc.Candidates, m, o.now()))
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
