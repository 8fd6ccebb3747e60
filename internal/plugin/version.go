package plugin

import (
	"fmt"

	"github.com/prometheus/common/version"
	"github.com/spf13/cobra"
)

// NewCmdVersion returns `kubectl orphans version`.
func NewCmdVersion(o *RootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of kubectl-orphans",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(o.Out, version.Print(Program))
			return err
		},
	}
}
