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

// Fresh checks of live namespaces, however many at once, read no contents:
// the verdict comes first, and a live namespace is no candidate.
// contents_requests_total does not move.
func TestFreshChecksOfLiveNamespacesReadNoContents(t *testing.T) {
	ctx := context.Background()
	const pfx = "livecheck-customer-"
	tok := func(i int) string { return fmt.Sprintf("11ec0000-0000-4000-8000-%012d", i) }
	var rows []testenv.Row
	for i := range 10 {
		rows = append(rows, testenv.Row{Token: tok(i), Status: "active", ResourceType: "redis", CreatedAt: time.Now().Add(-time.Hour)})
		if _, err := createNamespace(ctx, pfx+tok(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	// One orphan, so that the contents loop has something to read.
	orphan := tok(99)
	rows = append(rows, testenv.Row{Token: orphan, Status: "deleted", ResourceType: "redis", CreatedAt: time.Now().Add(-time.Hour)})
	if _, err := createNamespace(ctx, pfx+orphan, nil); err != nil {
		t.Fatal(err)
	}
	if err := testenv.InsertRows(ctx, ledgerDSN, rows); err != nil {
		t.Fatal(err)
	}
	time.Sleep(fleetGrace)

	r := start(t, testConfig(t, exporterUser(t, "exporter-livecheck"), destructiveEnv(), "--namespace.prefix="+pfx,
		"--sweep.confirmations=1", "--ghosts.interval=0s", "--sweep.max-candidate-fraction=1", "--contents.interval=1h"))
	// The loop's first round, right after the first sweep, reads the orphan.
	const requests = "instant_orphan_db_sweep_contents_requests_total"
	uid := r.sweeper.Latest().Candidates[0].NamespaceUID
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if c, ok := r.contents.book.get(pfx+orphan, uid); ok {
			if c.Failed {
				t.Fatalf("the orphan's contents: %+v", c)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the contents loop did not read the orphan in a minute")
		}
	}
	before := r.metric(t, requests)
	if before == 0 {
		t.Fatal("the contents loop read the orphan without a request")
	}

	var wg sync.WaitGroup
	codes, whys := make([]int, 10), make([]string, 10)
	for i := range 10 {
		wg.Go(func() {
			var nc api.NotCandidate
			codes[i] = r.getJSON(t, "/candidates/"+pfx+tok(i), &nc)
			whys[i] = nc.Why
		})
	}
	wg.Wait()
	answered := 0
	for i := range 10 {
		switch {
		case codes[i] == http.StatusNotFound && whys[i] == api.WhyLive:
			answered++
		case codes[i] == http.StatusTooManyRequests:
		default:
			t.Errorf("fresh check of live %s: %d %q", pfx+tok(i), codes[i], whys[i])
		}
	}
	if answered == 0 {
		t.Fatal("no fresh check of a live namespace was answered")
	}
	if after := r.metric(t, requests); after != before {
		t.Fatalf("%d fresh checks of live namespaces made %v contents requests", answered, after-before)
	}
}
