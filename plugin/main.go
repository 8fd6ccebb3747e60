// Command kubectl-orphans is the kubectl plugin of orphans: `kubectl orphans
// list`, `kubectl orphans reclaim` and `kubectl orphans version`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/orphansweep/orphans/internal/plugin"
)

func main() {
	// Ctrl-C cancels the context: an in-flight request is abandoned and no
	// later target is attempted. A second Ctrl-C kills the process.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	if err := plugin.NewCmdOrphans(streams).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "error:", plugin.SafeError(err))
		os.Exit(1)
	}
}
