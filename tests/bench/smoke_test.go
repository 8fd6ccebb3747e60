//go:build integration

package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/kube"
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
// a real API server and PostgreSQL, the ghost sweep and contents measured on
// a fleet of the same size, and a complete, sane report.
func TestHarnessSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bins, err := testenv.Build()
	if err != nil {
		t.Fatal(err)
	}

	size := Size{N: 300, M: 3000}
	const sweeps = 3
	var progress strings.Builder
	rep, err := Run(ctx, Options{
		Sizes: []Size{size}, Features: &size, GhostInterval: time.Second, Sweeps: sweeps, Interval: time.Second, ExporterBinary: bins.Exporter,
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
	checkFeatures(t, rep, size, sweeps)
	if t.Failed() {
		t.Logf("report:\n%s\nprogress:\n%s", md, progress.String())
	}
}

// checkFeatures checks the ghost sweep and contents measurement of the smoke
// run, and that its section can be rewritten alone.
func checkFeatures(t *testing.T, rep *Report, size Size, sweeps int) {
	t.Helper()
	f := rep.Features
	if f == nil {
		t.Fatal("no features measured")
	}
	if !f.Agree || f.Orphans != 3 {
		t.Errorf("features: fleet of %d orphans, agree=%v: %s", f.Orphans, f.Agree, f.Mismatch)
	}
	for _, ph := range []*Phase{f.Plain, f.Ghosts, f.Contents} {
		if len(ph.Sweeps) < sweeps || ph.FailedSweeps != 0 || ph.HTTPErrors != 0 || ph.InScope != size.N || ph.RSSMax == 0 {
			t.Errorf("%s: %d sweeps, %d failed, %d HTTP errors, %d in scope, RSS %d", ph.Name, len(ph.Sweeps), ph.FailedSweeps, ph.HTTPErrors, ph.InScope, ph.RSSMax)
		}
		if ph != f.Ghosts && len(ph.GhostSweeps)+ph.GhostFailed > 0 {
			t.Errorf("%s: ghost sweeps in a run without them", ph.Name)
		}
	}
	// Ghosts: every ghost sweep timed, and what the exporter lists is the fleet's.
	g := f.Ghosts
	if len(g.GhostSweeps) < sweeps || len(g.GhostEnds) != len(g.GhostSweeps) || g.GhostFailed != 0 {
		t.Errorf("ghosts: %d ghost sweeps timed, %d failed; want %d", len(g.GhostSweeps), g.GhostFailed, sweeps)
	}
	for i, d := range g.GhostSweeps {
		if d <= 0 || d > f.GhostInterval {
			t.Errorf("ghost sweep %d took %v", i, d)
		}
	}
	if f.FleetGhosts == 0 || f.ReportedGhosts != f.FleetGhosts || g.Ghosts != f.FleetGhosts {
		t.Errorf("ghosts: the fleet has %d, /ghosts listed %d, the gauges said %d", f.FleetGhosts, f.ReportedGhosts, g.Ghosts)
	}
	// Contents: one refresh of every candidate, then nothing asked per sweep.
	c := f.Contents
	// The namespace, then a list of each kind read: pods, PVCs and those read for the last change.
	perCandidate := kube.ContentsOptions{}.RequestsPerNamespace()
	if f.RefreshRequests["get"] != f.Orphans || f.RefreshRequests["list"] != (perCandidate-1)*f.Orphans || f.RefreshCounted != perCandidate*f.Orphans || f.Refresh <= 0 {
		t.Errorf("contents refresh: %v (exporter's count %d) in %v", f.RefreshRequests, f.RefreshCounted, f.Refresh)
	}
	if n := sum(c.Requests); n != 0 || c.RequestsPerSweep() != 0 || f.WindowCounted != 0 {
		t.Errorf("contents: %d API requests in %d steady-state sweeps (%v), the exporter counted %d", n, c.SweepsInWindow, c.Requests, f.WindowCounted)
	}
	if f.Pods != OrphanPods*f.Orphans || f.PodsRunning != 0 || f.PVCs != OrphanPVCs*f.Orphans || f.StorageBytes != int64(OrphanPVCs*OrphanPVCBytes*f.Orphans) {
		t.Errorf("contents: %d pods (%d running), %d PVCs, %d bytes", f.Pods, f.PodsRunning, f.PVCs, f.StorageBytes)
	}
	// The report holds the section; rewriting it alone leaves the rest.
	md := rep.Markdown()
	section := f.Markdown(rep.Options, rep.Machine)
	for _, want := range []string{FeaturesHeading, "### Targets of the ghost sweep and contents", "| ghost sweep p50 / p95 |", "| contents refresh: time, first to last request (requests a second) |",
		fmt.Sprintf("/ghosts listed exactly the fleet's %s ghosts", num(f.FleetGhosts))} {
		if !strings.Contains(section, want) {
			t.Errorf("section lacks %q", want)
		}
	}
	if !strings.Contains(md, section) || ReplaceSection(md, section, PureDecisionHeading, TargetsHeading) != md {
		t.Error("the report's section does not rewrite to itself")
	}
	if t.Failed() {
		t.Logf("features section:\n%s", section)
	}
}
