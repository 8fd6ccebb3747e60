package exporter

import (
	"context"
	"time"
)

// every runs once, then every interval until ctx ends. It first waits up to
// one interval for the namespace cache to sync, so a normal start does not
// begin with a failure.
func every(ctx context.Context, ns NamespaceSource, interval time.Duration, once func(context.Context)) {
	syncCtx, cancel := context.WithTimeout(ctx, interval)
	for !ns.Synced() && syncCtx.Err() == nil {
		select {
		case <-syncCtx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if ctx.Err() != nil {
			return
		}
		once(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
