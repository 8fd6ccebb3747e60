package plugin

import (
	"context"
	"slices"
	"time"

	"github.com/spf13/cobra"
)

// completeCandidates completes reclaim's arguments with the candidate
// namespaces of the exporter's latest sweep, reclaimable ones first. Shell
// completion needs the full names, so they are not masked.
func completeCandidates(root *RootOptions) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		exp, err := root.exporterClient()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		// A shell waiting on a completion is a person waiting: keep it short.
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		doc, err := exp.Candidates(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
		}
		var first, rest []cobra.Completion
		for _, c := range doc.Candidates {
			if slices.Contains(args, c.Namespace) {
				continue
			}
			if c.Reclaimable {
				first = append(first, cobra.CompletionWithDesc(c.Namespace, c.Kind+", reclaimable"))
			} else {
				rest = append(rest, cobra.CompletionWithDesc(c.Namespace, c.Kind+", not reclaimable: "+orNone(c.NotReclaimableReason)))
			}
		}
		return append(first, rest...), cobra.ShellCompDirectiveNoFileComp
	}
}
