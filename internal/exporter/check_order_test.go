package exporter

import (
	"net/http"
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/sweep"
)

// A fresh check reads contents only once its verdict says the namespace is
// a candidate, and then through the fresh checks' own reader, never the
// contents loop's.
func TestFreshCheckReadsContentsOfCandidatesOnly(t *testing.T) {
	e, cluster, led := seamExporter(t, bothOn)
	cluster.nss = append(cluster.nss,
		sweep.Namespace{Name: "instant-customer-y", UID: "uid-y", CreatedAt: seamNow.Add(-time.Minute)},
		sweep.Namespace{Name: "instant-customer-k", UID: "uid-k", CreatedAt: seamNow.Add(-48 * time.Hour),
			Labels: map[string]string{sweep.KeepLabel: "true"}})
	led.facts["y"] = []sweep.Row{seamRow("deleted", "redis")}
	led.facts["k"] = []sweep.Row{seamRow("deleted", "redis")}
	sweepOnce(e)
	sweepOnce(e)
	loop, fresh := e.contentsReader.(*fakeContents), e.freshContentsReader.(*fakeContents)
	loopReads := loop.reads.Load()

	for name, why := range map[string]string{
		nsL:                        api.WhyLive,
		"instant-customer-missing": api.WhyNotFound,
		"instant-customer-y":       api.WhyWithinGrace,
		"instant-customer-k":       api.WhyExcluded,
	} {
		var nc api.NotCandidate
		if code := serve(t, e, "/candidates/"+name, &nc); code != http.StatusNotFound || nc.Why != why {
			t.Fatalf("%s: %d %+v, want 404 %s", name, code, nc, why)
		}
		if n := fresh.reads.Load(); n != 0 {
			t.Fatalf("%s (%s) cost %d contents reads", name, why, n)
		}
	}
	var c api.Candidate
	if code := serve(t, e, "/candidates/"+nsR, &c); code != http.StatusOK || !c.Reclaimable || c.Contents == nil {
		t.Fatalf("the confirmed candidate: %d %+v", code, c)
	}
	if n := fresh.reads.Load(); n != 1 {
		t.Fatalf("the candidate's check made %d contents reads on the fresh checks' reader, want 1", n)
	}
	if n := loop.reads.Load(); n != loopReads {
		t.Fatalf("fresh checks read %d namespaces through the contents loop's reader", n-loopReads)
	}

	// What the fresh check reads decides: a change just now holds reclaim back.
	fresh.mu.Lock()
	fresh.byNS = map[string]sweep.Contents{nsR: {LastChangeAt: seamNow}}
	fresh.mu.Unlock()
	e.cfg.Policy.QuietPeriod = time.Hour
	e.server.cfg.Policy.QuietPeriod = time.Hour
	if code := serve(t, e, "/candidates/"+nsR, &c); code != http.StatusOK || c.Reclaimable ||
		c.NotReclaimableReason != api.NotReclaimableRecentChange || !c.Contents.LastChangeAt.Equal(seamNow) {
		t.Fatalf("a candidate changed just now: %d %+v", code, c)
	}
}
