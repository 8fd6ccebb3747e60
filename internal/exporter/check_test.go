//go:build integration

package exporter

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/testenv"
)

func TestFreshCheck(t *testing.T) {
	ctx := context.Background()
	const fp = "fresh-customer-"
	const (
		tA = "f5e50000-0000-4000-8000-00000000000a"
		tB = "f5e50000-0000-4000-8000-00000000000b"
	)
	if err := testenv.InsertRows(ctx, ledgerDSN, []testenv.Row{{Token: tA, Status: "deleted", ResourceType: "redis"}}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{fp + tA, fp + tB, fp + "pool-1"} {
		if _, err := createNamespace(ctx, n, nil); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(fleetGrace)
	r := start(t, testConfig(t, exporterUser(t, "exporter-fresh"), destructiveEnv(),
		"--namespace.prefix="+fp, "--namespace.exclude-prefix="+fp+"pool-", "--sweep.confirmations=1"))

	var c api.Candidate
	if code := r.getJSON(t, "/candidates/"+fp+tA, &c); code != http.StatusOK || !c.Reclaimable || c.Token != tA || c.ConsecutiveSweeps != 1 {
		t.Fatalf("fresh check of a reclaimable candidate: %d %+v", code, c)
	}
	// A namespace nobody has swept yet is a candidate, but unconfirmed.
	if code := r.getJSON(t, "/candidates/"+fp+tB, &c); code != http.StatusOK || c.Reclaimable || c.Reason != api.ReasonNoRow {
		t.Fatalf("fresh check of a no-row candidate: %d %+v", code, c)
	}

	// The token comes back to life: the fresh check says so at once, with no sweep in between.
	if err := testenv.InsertRows(ctx, ledgerDSN, []testenv.Row{{Token: tA, Status: "active", ResourceType: "redis"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := createNamespace(ctx, fp+"young", nil); err != nil {
		t.Fatal(err)
	}
	sweepsBefore := r.metric(t, "instant_orphan_db_sweep_duration_seconds")
	for _, tc := range []struct {
		ns   string
		code int
		why  string
	}{
		{fp + tA, http.StatusNotFound, api.WhyLive},
		{fp + "gone", http.StatusNotFound, api.WhyNotFound},
		{"kube-system", http.StatusNotFound, api.WhyOutOfScope},
		{fp + "pool-1", http.StatusNotFound, api.WhyExcluded},
		{fp + "young", http.StatusNotFound, api.WhyWithinGrace},
	} {
		var nc api.NotCandidate
		if code := r.getJSON(t, "/candidates/"+tc.ns, &nc); code != tc.code || nc.Candidate || nc.Why != tc.why {
			t.Errorf("GET /candidates/%s = %d %+v, want %d %s", tc.ns, code, nc, tc.code, tc.why)
		}
	}
	if v := r.metric(t, "instant_orphan_db_sweep_duration_seconds"); v != sweepsBefore {
		t.Fatal("a sweep ran during the fresh checks; the test proves nothing")
	}
	// The snapshot still lists it until the next sweep; the fresh check is what reclaim trusts.
	var doc api.Candidates
	r.getJSON(t, "/candidates", &doc)
	if !strings.Contains(string(mustJSON(t, doc)), fp+tA) {
		t.Fatal("snapshot changed without a sweep")
	}

	for _, bad := range []string{"Bad_Name", strings.Repeat("a", 64), "a.b"} {
		var e api.Error
		if code := r.getJSON(t, "/candidates/"+bad, &e); code != http.StatusBadRequest || e.Error == "" {
			t.Errorf("GET /candidates/%s = %d %+v, want 400", bad, code, e)
		}
	}
	for _, n := range []string{fp + tA, fp + tB, fp + "pool-1", fp + "young"} {
		keep(t, n)
	}
}

func TestCountingAndResurrection(t *testing.T) {
	ctx := context.Background()
	const rp = "resurrect-customer-"
	const (
		tRedis = "4e500000-0000-4000-8000-000000000001"
		tPg    = "4e500000-0000-4000-8000-000000000002"
	)
	if err := testenv.InsertRows(ctx, ledgerDSN, []testenv.Row{
		{Token: tRedis, Status: "deleted", ResourceType: "redis", CreatedAt: time.Now().Add(-time.Hour)},
		{Token: tPg, Status: "expired", ResourceType: "postgres", CreatedAt: time.Now().Add(-time.Hour)},
	}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{rp + tRedis, rp + tPg} {
		if _, err := createNamespace(ctx, n, nil); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(fleetGrace)
	r := start(t, testConfig(t, exporterUser(t, "exporter-count"), enabledEnv(), "--namespace.prefix="+rp))
	for i := 0; i < 10; i++ {
		r.sweep()
	}
	total := func(kind string) float64 {
		return r.metric(t, "instant_orphan_db_sweep_candidates_total", "kind", kind)
	}
	resurrected := func(kind string) float64 {
		return r.metric(t, "instant_orphan_db_sweep_candidates_resurrected_total", "kind", kind)
	}
	if total(api.KindRedis) != 1 || total(api.KindCustomer) != 1 {
		t.Fatalf("after 11 sweeps candidates_total = redis %v, customer %v; want 1 each", total(api.KindRedis), total(api.KindCustomer))
	}

	// A failed sweep in between does not make them new again.
	if err := pg.Halt(); err != nil {
		t.Fatal(err)
	}
	r.sweep()
	if err := pg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := testenv.WaitFor(waitCtx, func() (bool, error) { r.sweep(); return r.Sweeper().Latest().OK, nil }); err != nil {
		t.Fatal(err)
	}
	if total(api.KindRedis) != 1 || total(api.KindCustomer) != 1 {
		t.Fatalf("after a failed sweep candidates_total = redis %v, customer %v; want 1 each", total(api.KindRedis), total(api.KindCustomer))
	}

	// The redis token comes back to life.
	if err := testenv.InsertRows(ctx, ledgerDSN, []testenv.Row{{Token: tRedis, Status: "active", ResourceType: "redis"}}); err != nil {
		t.Fatal(err)
	}
	r.sweep()
	if resurrected(api.KindRedis) != 1 || resurrected(api.KindCustomer) != 0 {
		t.Fatalf("resurrected = redis %v, customer %v; want 1 and 0", resurrected(api.KindRedis), resurrected(api.KindCustomer))
	}
	if v := r.metric(t, "instant_orphan_db_sweep_candidates_current", "kind", api.KindRedis); v != 0 {
		t.Fatalf("candidates_current{redis} = %v after resurrection", v)
	}
	r.sweep()
	if resurrected(api.KindRedis) != 1 || total(api.KindRedis) != 1 {
		t.Fatalf("a resurrection counted twice: resurrected %v total %v", resurrected(api.KindRedis), total(api.KindRedis))
	}
	if !strings.Contains(r.logs.String(), "candidate.resurrected") {
		t.Fatal("no candidate.resurrected log line")
	}
	for _, n := range []string{rp + tRedis, rp + tPg} {
		keep(t, n)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
