package exporter

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/orphansweep/orphans/internal/api"
)

func goldenSnapshot() *Snapshot {
	gen := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	return &Snapshot{
		GeneratedAt: gen, Completed: true, Enabled: true, Destructive: true, OK: true, InScope: 40,
		LastSuccess: gen,
		Candidates: []api.Candidate{
			{Namespace: "instant-customer-a", Kind: api.KindRedis, Reason: api.ReasonTerminal, NamespaceCreatedAt: gen.Add(-48 * time.Hour), Reclaimable: true},
			{Namespace: "instant-customer-b", Kind: api.KindRedis, Reason: api.ReasonUnknownStatus, NamespaceCreatedAt: gen.Add(-2 * time.Hour)},
			{Namespace: "instant-customer-c", Kind: api.KindCustomer, Reason: api.ReasonNoRow, NamespaceCreatedAt: gen.Add(-90 * time.Minute)},
		},
	}
}

const goldenSnapshotText = `
# HELP instant_orphan_db_sweep_candidates_by_reason Candidates in the latest sweep by why their token is not live (no_row, terminal, unknown_status); 0 when it failed or the sweep is disabled.
# TYPE instant_orphan_db_sweep_candidates_by_reason gauge
instant_orphan_db_sweep_candidates_by_reason{reason="no_row"} 1
instant_orphan_db_sweep_candidates_by_reason{reason="terminal"} 1
instant_orphan_db_sweep_candidates_by_reason{reason="unknown_status"} 1
# HELP instant_orphan_db_sweep_candidates_current Orphan candidates in the latest sweep; 0 when it failed or the sweep is disabled.
# TYPE instant_orphan_db_sweep_candidates_current gauge
instant_orphan_db_sweep_candidates_current{kind="customer_namespace"} 1
instant_orphan_db_sweep_candidates_current{kind="redis_namespace"} 2
# HELP instant_orphan_db_sweep_candidates_reclaimable Candidates of the latest sweep that pass every reclaim rule.
# TYPE instant_orphan_db_sweep_candidates_reclaimable gauge
instant_orphan_db_sweep_candidates_reclaimable{kind="customer_namespace"} 0
instant_orphan_db_sweep_candidates_reclaimable{kind="redis_namespace"} 1
# HELP instant_orphan_db_sweep_destructive_enabled 1 when both safety flags are exactly "true" and candidates may be reclaimable.
# TYPE instant_orphan_db_sweep_destructive_enabled gauge
instant_orphan_db_sweep_destructive_enabled 1
# HELP instant_orphan_db_sweep_enabled 1 when ORPHAN_DB_SWEEP_ENABLED is exactly "true".
# TYPE instant_orphan_db_sweep_enabled gauge
instant_orphan_db_sweep_enabled 1
# HELP instant_orphan_db_sweep_interval_seconds Configured time between sweeps.
# TYPE instant_orphan_db_sweep_interval_seconds gauge
instant_orphan_db_sweep_interval_seconds 30
# HELP instant_orphan_db_sweep_last_success_timestamp_seconds Unix time of the latest successful sweep; 0 before the first.
# TYPE instant_orphan_db_sweep_last_success_timestamp_seconds gauge
instant_orphan_db_sweep_last_success_timestamp_seconds 1.7958672e+09
# HELP instant_orphan_db_sweep_namespaces_in_scope Tenant namespaces in scope in the latest sweep, within grace or not; 0 when it failed.
# TYPE instant_orphan_db_sweep_namespaces_in_scope gauge
instant_orphan_db_sweep_namespaces_in_scope 40
# HELP instant_orphan_db_sweep_oldest_candidate_age_seconds Age of the oldest candidate namespace (since its creation) in the latest sweep; 0 when there is none.
# TYPE instant_orphan_db_sweep_oldest_candidate_age_seconds gauge
instant_orphan_db_sweep_oldest_candidate_age_seconds{kind="customer_namespace"} 5400
instant_orphan_db_sweep_oldest_candidate_age_seconds{kind="redis_namespace"} 172800
# HELP instant_orphan_db_sweep_up 1 when the latest sweep succeeded, 0 when it failed, none has completed or the sweep is disabled.
# TYPE instant_orphan_db_sweep_up gauge
instant_orphan_db_sweep_up 1
`

const goldenCountersText = `
# HELP instant_orphan_db_sweep_candidates_resurrected_total Candidates whose token turned live again (a detection that would have been a false positive).
# TYPE instant_orphan_db_sweep_candidates_resurrected_total counter
instant_orphan_db_sweep_candidates_resurrected_total{kind="customer_namespace"} 0
instant_orphan_db_sweep_candidates_resurrected_total{kind="redis_namespace"} 0
# HELP instant_orphan_db_sweep_candidates_total Distinct orphan candidates detected, counted once when first seen.
# TYPE instant_orphan_db_sweep_candidates_total counter
instant_orphan_db_sweep_candidates_total{kind="customer_namespace"} 0
instant_orphan_db_sweep_candidates_total{kind="redis_namespace"} 0
# HELP instant_orphan_db_sweep_errors_total Failed sweeps by stage (kubernetes, ledger, guard). A failed sweep reports no candidates.
# TYPE instant_orphan_db_sweep_errors_total counter
instant_orphan_db_sweep_errors_total{stage="guard"} 0
instant_orphan_db_sweep_errors_total{stage="kubernetes"} 0
instant_orphan_db_sweep_errors_total{stage="ledger"} 0
`

func TestMetricsGolden(t *testing.T) {
	snap := goldenSnapshot()
	m := newMetrics("instant", func() *Snapshot { return snap }, 30, nil)
	reg := prometheus.NewPedanticRegistry()
	if err := m.register(reg); err != nil {
		t.Fatal(err)
	}
	names := []string{
		"instant_orphan_db_sweep_candidates_by_reason", "instant_orphan_db_sweep_candidates_current", "instant_orphan_db_sweep_candidates_reclaimable",
		"instant_orphan_db_sweep_destructive_enabled", "instant_orphan_db_sweep_enabled", "instant_orphan_db_sweep_interval_seconds",
		"instant_orphan_db_sweep_last_success_timestamp_seconds", "instant_orphan_db_sweep_namespaces_in_scope",
		"instant_orphan_db_sweep_oldest_candidate_age_seconds", "instant_orphan_db_sweep_up",
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(goldenSnapshotText), names...); err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(goldenCountersText),
		"instant_orphan_db_sweep_candidates_resurrected_total", "instant_orphan_db_sweep_candidates_total", "instant_orphan_db_sweep_errors_total"); err != nil {
		t.Fatal(err)
	}

	// A failed sweep keeps the last success time but reports nothing else.
	snap = &Snapshot{GeneratedAt: snap.GeneratedAt, Completed: true, Enabled: true, OK: false, LastSuccess: snap.LastSuccess,
		Candidates: goldenSnapshot().Candidates}
	failed := `
# HELP instant_orphan_db_sweep_candidates_by_reason Candidates in the latest sweep by why their token is not live (no_row, terminal, unknown_status); 0 when it failed or the sweep is disabled.
# TYPE instant_orphan_db_sweep_candidates_by_reason gauge
instant_orphan_db_sweep_candidates_by_reason{reason="no_row"} 0
instant_orphan_db_sweep_candidates_by_reason{reason="terminal"} 0
instant_orphan_db_sweep_candidates_by_reason{reason="unknown_status"} 0
# HELP instant_orphan_db_sweep_candidates_current Orphan candidates in the latest sweep; 0 when it failed or the sweep is disabled.
# TYPE instant_orphan_db_sweep_candidates_current gauge
instant_orphan_db_sweep_candidates_current{kind="customer_namespace"} 0
instant_orphan_db_sweep_candidates_current{kind="redis_namespace"} 0
# HELP instant_orphan_db_sweep_candidates_reclaimable Candidates of the latest sweep that pass every reclaim rule.
# TYPE instant_orphan_db_sweep_candidates_reclaimable gauge
instant_orphan_db_sweep_candidates_reclaimable{kind="customer_namespace"} 0
instant_orphan_db_sweep_candidates_reclaimable{kind="redis_namespace"} 0
# HELP instant_orphan_db_sweep_last_success_timestamp_seconds Unix time of the latest successful sweep; 0 before the first.
# TYPE instant_orphan_db_sweep_last_success_timestamp_seconds gauge
instant_orphan_db_sweep_last_success_timestamp_seconds 1.7958672e+09
# HELP instant_orphan_db_sweep_oldest_candidate_age_seconds Age of the oldest candidate namespace (since its creation) in the latest sweep; 0 when there is none.
# TYPE instant_orphan_db_sweep_oldest_candidate_age_seconds gauge
instant_orphan_db_sweep_oldest_candidate_age_seconds{kind="customer_namespace"} 0
instant_orphan_db_sweep_oldest_candidate_age_seconds{kind="redis_namespace"} 0
# HELP instant_orphan_db_sweep_up 1 when the latest sweep succeeded, 0 when it failed, none has completed or the sweep is disabled.
# TYPE instant_orphan_db_sweep_up gauge
instant_orphan_db_sweep_up 0
`
	names = []string{
		"instant_orphan_db_sweep_candidates_by_reason", "instant_orphan_db_sweep_candidates_current", "instant_orphan_db_sweep_candidates_reclaimable",
		"instant_orphan_db_sweep_last_success_timestamp_seconds", "instant_orphan_db_sweep_oldest_candidate_age_seconds",
		"instant_orphan_db_sweep_up",
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(failed), names...); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsLint(t *testing.T) {
	m := newMetrics("instant", goldenSnapshot, 30, []Weakened{{Guard: "sweep.grace", Value: "0s", Default: "1h0m0s"}})
	for _, c := range m.registered {
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

func TestMetricsNamespaceFlag(t *testing.T) {
	m := newMetrics("acme", goldenSnapshot, 30, nil)
	reg := prometheus.NewPedanticRegistry()
	if err := m.register(reg); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) == 0 {
		t.Fatal("nothing gathered")
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "acme_orphan_db_sweep_") {
			t.Errorf("metric %s ignores --metrics.namespace", mf.GetName())
		}
	}
}
