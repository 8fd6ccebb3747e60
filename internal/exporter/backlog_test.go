//go:build integration

package exporter

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/testenv"
)

// A contents loop that cannot keep up (20 candidates, all of the namespaces
// in scope, so the guard is off; a 1s interval, one
// request a second, 12 requests a namespace) keeps its limiter busy for
// good; the fresh checks read through their own, so a quiet, confirmed
// candidate still answers reclaimable, for as many fresh checks as run at
// once, instead of queueing behind the loop into recent_change.
func TestBusyContentsLoopLeavesFreshChecksAlone(t *testing.T) {
	ctx := context.Background()
	const pfx = "backlog-customer-"
	tok := func(i int) string { return fmt.Sprintf("bac10000-0000-4000-8000-%012d", i) }
	var rows []testenv.Row
	for i := range 20 {
		rows = append(rows, testenv.Row{Token: tok(i), Status: "deleted", ResourceType: "redis", CreatedAt: time.Now().Add(-time.Hour)})
		if _, err := createNamespace(ctx, pfx+tok(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := testenv.InsertRows(ctx, ledgerDSN, rows); err != nil {
		t.Fatal(err)
	}
	time.Sleep(fleetGrace)

	r := start(t, testConfig(t, exporterUser(t, "exporter-backlog"), destructiveEnv(), "--namespace.prefix="+pfx,
		"--sweep.confirmations=1", "--reclaim.quiet-period=2s", "--ghosts.interval=0s", "--sweep.max-candidate-fraction=1",
		"--contents.interval=1s", "--contents.qps=1", "--contents.concurrency=4"))
	if n := len(r.sweeper.Latest().Candidates); n != 20 {
		t.Fatalf("%d candidates, want 20", n)
	}
	backlog := func() int {
		n := 0
		for _, c := range r.sweeper.Latest().Candidates {
			if _, ok := r.contents.book.get(c.Namespace, c.NamespaceUID); !ok {
				n++
			}
		}
		return n
	}
	// The loop reads one namespace at a time, each taking 12 seconds of its
	// limiter: it is far behind, and stays so while the fresh checks run.
	if n := backlog(); n < 20-2 {
		t.Fatalf("the contents loop has read %d of 20 candidates already: it is not busy", 20-n)
	}
	var wg sync.WaitGroup
	answers := make([]api.Candidate, FreshChecks)
	codes := make([]int, FreshChecks)
	for i := range FreshChecks {
		wg.Go(func() { codes[i] = r.getJSON(t, "/candidates/"+pfx+tok(19-i), &answers[i]) })
	}
	wg.Wait()
	for i, c := range answers {
		if codes[i] != http.StatusOK || !c.Reclaimable || c.Contents == nil || c.Contents.Error != "" {
			t.Errorf("fresh check %d beside a busy loop: %d reclaimable %v (%s) contents %+v", i, codes[i], c.Reclaimable,
				c.NotReclaimableReason, c.Contents)
		}
	}
	if n := backlog(); n == 0 {
		t.Fatal("the contents loop read every candidate: it was not busy")
	}
}
