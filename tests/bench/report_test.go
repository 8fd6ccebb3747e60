package bench

import (
	"strings"
	"testing"
	"time"
)

func phase(name string, sweep, ledger time.Duration, rss uint64, p99 time.Duration, requests int) *Phase {
	ph := &Phase{Name: name, FirstSweep: time.Second, RSSSynced: rss, RSSMax: rss, RSSPeak: rss, Requests: map[string]int{},
		StartupRequests: map[string]int{"watch": 1}, SweepsInWindow: 20}
	for range 20 {
		ph.Sweeps = append(ph.Sweeps, sweep)
		ph.Ledger = append(ph.Ledger, ledger)
		ph.DuringSweeps = append(ph.DuringSweeps, requests)
	}
	for range 100 {
		ph.Metrics = append(ph.Metrics, p99)
		ph.Candidates = append(ph.Candidates, p99)
		ph.Healthz = append(ph.Healthz, p99/2)
	}
	if requests > 0 {
		ph.Requests["get"] = 20 * requests
	}
	return ph
}

// TestTargetsVerdicts checks the verdicts against hand-made numbers, one
// target missed on purpose, and the rendering of an exporter-only point.
func TestTargetsVerdicts(t *testing.T) {
	ms := time.Millisecond
	rep := &Report{
		Started: time.Now(), Finished: time.Now(),
		Options: Options{Sizes: []Size{{1000, 100000}, {10000, 100000}, {10000, 1000000}}, ExporterOnly: []Size{{50000, 1000000}}, Interval: 2 * time.Second},
		Results: []*Result{
			{Size: Size{1000, 100000}, Agree: true, Exporter: phase("exporter", 8*ms, 7*ms, 30<<20, 2*ms, 0), Baseline: phase("baseline", 2*time.Second, 70*ms, 60<<20, 3*ms, 1001)},
			{Size: Size{10000, 100000}, Agree: true, Exporter: phase("exporter", 60*ms, 45*ms, 60<<20, 3*ms, 0), Baseline: phase("baseline", 20*time.Second, 70*ms, 100<<20, 3*ms, 10001)},
			{Size: Size{10000, 1000000}, Agree: true, Exporter: phase("exporter", 70*ms, 50*ms, 62<<20, 6*ms, 0), Baseline: phase("baseline", 21*time.Second, 800*ms, 160<<20, 9*ms, 10001)},
			{Size: Size{50000, 1000000}, Agree: true, Exporter: phase("exporter", 300*ms, 240*ms, 150<<20, 6*ms, 0)},
		},
		GoBench: []GoBenchmark{
			{Name: "BenchmarkDecide/namespaces=1000", Values: map[string]float64{"ns/op": 1e5, "allocs/op": 95}},
			{Name: "BenchmarkDecide/namespaces=100000", Values: map[string]float64{"ns/op": 4e7, "allocs/op": 8047}},
		},
	}
	verdicts := map[string]string{}
	for _, tg := range rep.Targets() {
		verdicts[tg.Name] = tg.Verdict
	}
	for name, want := range map[string]string{
		"sweep median ≥ 100× faster than the baseline at (10 000, 1 000 000)": holds,
		"ledger query median ≤ 60 ms (warm) at (10 000, 1 000 000)":           holds,
		"sweep median ≤ 1.5× the ledger query median at (10 000, 1 000 000)":  holds, // 70/50 = 1.4
		"0 API requests per steady-state sweep at (10 000, 1 000 000)":        holds,
		"exporter RSS ≤ 80 MiB at (10 000, 1 000 000)":                        holds,
		"/metrics p99 ≤ 5 ms at (10 000, 1 000 000)":                          missed,
		"/candidates p99 ≤ 50 ms at (10 000, 1 000 000)":                      holds,
		"sweep cost grows at most linearly in N":                              holds, // ×8.75 for ×10, ×4.3 for ×5
		"sweep cost flat (within 2×) when M grows 10× at fixed N":             holds,
		"pure decision: 100 000 namespaces in < 50 ms":                        holds,
		"pure decision: allocations linear in N":                              holds,
	} {
		if verdicts[name] != want {
			t.Errorf("%s: %q, want %q", name, verdicts[name], want)
		}
	}
	md := rep.Markdown()
	for _, want := range []string{"| 50 000 | 1 000 000 | 300.0 ms / 300.0 ms | 240.0 ms | — | — |", "Exporter only: a point for the scaling targets",
		"10000x1000000 → 50000x1000000 (same rows): N ×5, sweep ×4.29", "**missed**: 1.00 ms over (1.20× the limit); the control (`/healthz`, a handler that only writes `ok`) took 3.00 ms at p99"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, bad := range []string{"NaN", "Inf", "%!"} {
		if strings.Contains(md, bad) {
			t.Errorf("report contains %q:\n%s", bad, md)
		}
	}
	if t.Failed() {
		t.Log(md)
	}
}

// TestOutsideSweeps splits request latencies by whether they overlapped a
// sweep, edges included.
func TestOutsideSweeps(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	ph := &Phase{Starts: []time.Time{t0.Add(100 * ms), t0.Add(2100 * ms)}, Sweeps: []time.Duration{50 * ms, 50 * ms}}
	took := []time.Duration{2 * ms, 2 * ms, 9 * ms, 3 * ms, 4 * ms, 1 * ms}
	at := []time.Time{
		t0,                                 // well before
		t0.Add(99 * ms),                    // ends inside the first sweep
		t0.Add(120 * ms),                   // inside
		t0.Add(150 * ms),                   // starts as the sweep ends: no overlap
		t0.Add(2000 * ms),                  // between sweeps
		t0.Add(2149999 * time.Microsecond), // starts just before the second ends
	}
	outside, overlapped := ph.OutsideSweeps(took, at)
	if overlapped != 3 || len(outside) != 3 || outside[0] != 2*ms || outside[1] != 3*ms || outside[2] != 4*ms {
		t.Fatalf("outside %v, overlapped %d; want [2ms 3ms 4ms], 3", outside, overlapped)
	}
	if got := outsideP99(ph, took, at); got != "4.00 ms (3 of 6 overlapped a sweep)" {
		t.Errorf("outsideP99 = %q", got)
	}
}
