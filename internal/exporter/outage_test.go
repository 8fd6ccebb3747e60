//go:build integration

package exporter

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/testenv"
)

// assertFailedSweep checks everything a failed sweep must show.
func assertFailedSweep(t *testing.T, r *running, stage string, errorsBefore, lastSuccess float64) {
	t.Helper()
	var e api.Error
	if code := r.getJSON(t, "/candidates", &e); code != http.StatusServiceUnavailable || !strings.Contains(e.Error, stage) {
		t.Fatalf("/candidates after a failed %s sweep: %d %+v", stage, code, e)
	}
	for _, k := range api.Kinds {
		if v := r.metric(t, "instant_orphan_db_sweep_candidates_current", "kind", k); v != 0 {
			t.Errorf("candidates_current{kind=%s} = %v after a failed sweep", k, v)
		}
	}
	if v := r.metric(t, "instant_orphan_db_sweep_up"); v != 0 {
		t.Errorf("up = %v after a failed sweep", v)
	}
	if v := r.metric(t, "instant_orphan_db_sweep_errors_total", "stage", stage); v != errorsBefore+1 {
		t.Errorf("errors_total{stage=%s} = %v, want %v", stage, v, errorsBefore+1)
	}
	if v := r.metric(t, "instant_orphan_db_sweep_last_success_timestamp_seconds"); v != lastSuccess {
		t.Errorf("last success moved on a failed sweep: %v -> %v", lastSuccess, v)
	}
}

// waitRecovered sweeps until a sweep succeeds again, without a restart.
func waitRecovered(t *testing.T, r *running, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := testenv.WaitFor(ctx, func() (bool, error) {
		r.sweep()
		return r.Sweeper().Latest().OK, nil
	})
	if err != nil {
		t.Fatalf("no successful sweep after recovery: %v; latest error %q", err, r.Sweeper().Latest().Err)
	}
	var doc api.Candidates
	if code := r.getJSON(t, "/candidates", &doc); code != http.StatusOK || len(doc.Candidates) != 5 {
		t.Fatalf("after recovery: %d with %d candidates", code, len(doc.Candidates))
	}
	if v := r.metric(t, "instant_orphan_db_sweep_up"); v != 1 {
		t.Fatalf("up = %v after recovery", v)
	}
}

// haltLedger stops PostgreSQL until restart starts it again, or the test ends.
func haltLedger(t *testing.T) (restart func()) {
	t.Helper()
	if err := pg.Halt(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = pg.Start(context.Background())
		}
	})
	return func() {
		t.Helper()
		if err := pg.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		restarted = true
	}
}

func TestLedgerOutage(t *testing.T) {
	r := start(t, testConfig(t, exporterUser(t, "exporter-pg-outage"), enabledEnv()))
	if !r.Sweeper().Latest().OK {
		t.Fatalf("first sweep failed: %s", r.Sweeper().Latest().Err)
	}
	before := r.metric(t, "instant_orphan_db_sweep_errors_total", "stage", StageLedger)
	last := r.metric(t, "instant_orphan_db_sweep_last_success_timestamp_seconds")
	kubeBefore := r.metric(t, "instant_orphan_db_sweep_errors_total", "stage", StageKubernetes)

	restart := haltLedger(t)
	r.sweep()
	assertFailedSweep(t, r, StageLedger, before, last)
	if v := r.metric(t, "instant_orphan_db_sweep_errors_total", "stage", StageKubernetes); v != kubeBefore {
		t.Errorf("a ledger outage counted as a kubernetes error")
	}
	// The fresh check cannot complete either, and says so.
	var e api.Error
	if code := r.getJSON(t, "/candidates/"+prefix+tRedisDel, &e); code != http.StatusServiceUnavailable {
		t.Errorf("fresh check with the ledger down: %d %+v", code, e)
	}

	restart()
	waitRecovered(t, r, 30*time.Second)
	// Streaks restarted after the failure: confirmations are earned again.
	for _, c := range r.Sweeper().Latest().Candidates {
		if c.ConsecutiveSweeps > 2 {
			t.Errorf("%s keeps a streak of %d across a failed sweep", c.Namespace, c.ConsecutiveSweeps)
		}
	}
}

func TestAPIServerOutage(t *testing.T) {
	r := start(t, testConfig(t, exporterUser(t, "exporter-kube-outage"), enabledEnv()))
	if !r.Sweeper().Latest().OK {
		t.Fatalf("first sweep failed: %s", r.Sweeper().Latest().Err)
	}
	before := r.metric(t, "instant_orphan_db_sweep_errors_total", "stage", StageKubernetes)
	last := r.metric(t, "instant_orphan_db_sweep_last_success_timestamp_seconds")

	if err := cp.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = cp.StartAPIServer()
		}
	})
	// The cache still holds every namespace; the exporter must notice that
	// its watch is gone rather than keep serving from it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := testenv.WaitFor(ctx, func() (bool, error) { return r.namespaces.Healthy() != nil, nil }); err != nil {
		t.Fatalf("namespace source still healthy with the API server down: %v", err)
	}
	r.sweep()
	assertFailedSweep(t, r, StageKubernetes, before, last)

	if err := cp.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	// The reflector backs off up to 30s between attempts.
	waitRecovered(t, r, 90*time.Second)
}
