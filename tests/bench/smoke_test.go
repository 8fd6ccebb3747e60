//go:build integration

package bench

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/testenv"
)

// roleEnv makes this test binary the baseline program when the harness
// starts it, so the smoke run needs no second build.
const roleEnv = "ORPHANS_BENCH_ROLE"

func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == "baseline" {
		os.Exit(BaselineMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// TestHarnessSmoke runs the whole harness on a tiny fleet, so that `make
// test` keeps it working: the real exporter binary and the baseline against
// a real API server and PostgreSQL, and a complete, sane report.
func TestHarnessSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bins, err := testenv.Build()
	if err != nil {
		t.Fatal(err)
	}

	size := Size{N: 300, M: 3000}
	const sweeps = 3
	var progress strings.Builder
	rep, err := Run(ctx, Options{
		Sizes: []Size{size}, Sweeps: sweeps, Interval: time.Second, ExporterBinary: bins.Exporter,
		Baseline: []string{os.Args[0]}, BaselineEnv: []string{roleEnv + "=baseline"},
		Workers: 4, Command: "go test -tags integration ./tests/bench", Progress: &progress,
	})
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, progress.String())
	}
	if len(rep.Results) != 1 {
		t.Fatalf("%d results, want 1", len(rep.Results))
	}
	res := rep.Results[0]
	e, b := res.Exporter, res.Baseline
	if res.Orphans != 3 || !res.Agree {
		t.Errorf("fleet of %d orphans, agree=%v: %s", res.Orphans, res.Agree, res.Mismatch)
	}
	for _, ph := range []*Phase{e, b} {
		if len(ph.Sweeps) < sweeps || len(ph.Ledger) != len(ph.Sweeps) || ph.SweepsInWindow < sweeps {
			t.Errorf("%s: %d sweeps sampled, %d ledger times, %d run in the window; want %d", ph.Name, len(ph.Sweeps), len(ph.Ledger), ph.SweepsInWindow, sweeps)
		}
		for i, d := range ph.Sweeps {
			if d <= 0 || ph.Ledger[i] <= 0 || ph.Ledger[i] > d {
				t.Errorf("%s: sweep %d took %v with a ledger query of %v", ph.Name, i, d, ph.Ledger[i])
			}
		}
		if ph.FailedSweeps != 0 || ph.HTTPErrors != 0 {
			t.Errorf("%s: %d failed sweeps, %d HTTP errors", ph.Name, ph.FailedSweeps, ph.HTTPErrors)
		}
		if ph.FirstSweep <= 0 || ph.RSSSynced == 0 || ph.RSSMax < ph.RSSSynced || ph.RSSPeak < ph.RSSMax {
			t.Errorf("%s: first sweep %v, RSS synced %d, max %d, peak %d", ph.Name, ph.FirstSweep, ph.RSSSynced, ph.RSSMax, ph.RSSPeak)
		}
		if len(ph.Metrics) == 0 || len(ph.Candidates) == 0 || len(ph.Healthz) == 0 {
			t.Errorf("%s: %d /metrics, %d /candidates and %d /healthz samples", ph.Name, len(ph.Metrics), len(ph.Candidates), len(ph.Healthz))
		}
		if len(ph.MetricsAt) != len(ph.Metrics) || len(ph.CandidatesAt) != len(ph.Candidates) || len(ph.HealthzAt) != len(ph.Healthz) {
			t.Errorf("%s: send times for %d, %d, %d of %d, %d, %d samples", ph.Name,
				len(ph.MetricsAt), len(ph.CandidatesAt), len(ph.HealthzAt), len(ph.Metrics), len(ph.Candidates), len(ph.Healthz))
		}
		if ph.InScope != size.N {
			t.Errorf("%s: %d namespaces in scope, want %d", ph.Name, ph.InScope, size.N)
		}
	}
	// The point of the exporter: nothing asked of the API server per sweep,
	// and the ledger read through its index only.
	if n := sum(e.Requests); n != 0 || e.RequestsPerSweep() != 0 || len(e.DuringSweeps) != len(e.Sweeps) {
		t.Errorf("exporter made %d API requests in %d steady-state sweeps: %v", n, e.SweepsInWindow, e.Requests)
	}
	if e.StartupRequests["list"]+e.StartupRequests["watch"] == 0 {
		t.Errorf("exporter start-up requests %v: the audit log did not see the informer", e.StartupRequests)
	}
	if e.SeqScans != 0 || e.IdxScans == 0 {
		t.Errorf("exporter: %d sequential and %d index scans of resources", e.SeqScans, e.IdxScans)
	}
	// The baseline lists once and GETs every namespace, every sweep.
	for i, n := range b.DuringSweeps {
		if n != size.N+1 {
			t.Errorf("baseline sweep %d: %d API requests, want %d (a list and a GET per namespace)", i, n, size.N+1)
		}
	}
	if eg, bg := percentile(e.Sweeps, 0.5), percentile(b.Sweeps, 0.5); bg <= eg {
		t.Errorf("baseline sweep median %v is not slower than the exporter's %v", bg, eg)
	}

	md := rep.Markdown()
	for _, want := range []string{
		"# Benchmarks", "**Command:** `go test -tags integration ./tests/bench`", "## Settings", "## Summary", "## 300 namespaces, 3 000 rows",
		"| sweep p50 |", "| sweep p95 |", "| ledger query p50 |", "| API requests per steady-state sweep | 0 |",
		"| RSS after sync and warm-up |", "| `GET /metrics` p99 |", "| `GET /candidates` p99 |", "| time to first successful sweep |",
		"Both programs reported exactly the fleet's 3 orphans", "## Targets",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, bad := range []string{"NaN", "Inf", "%!"} {
		if strings.Contains(md, bad) {
			t.Errorf("report contains %q", bad)
		}
	}
	for _, tg := range rep.Targets() {
		if tg.Verdict != holds && tg.Verdict != missed && tg.Verdict != notMeasured {
			t.Errorf("target %q: verdict %q", tg.Name, tg.Verdict)
		}
	}
	if t.Failed() {
		t.Logf("report:\n%s\nprogress:\n%s", md, progress.String())
	}
}
