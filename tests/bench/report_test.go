package bench

import (
	"slices"
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

// features builds a features measurement from hand-made phases: plain, with
// ghosts (ghost sweeps of ghost each, RSS rss above plain, orphan sweeps
// of sweep) and with contents (requests per sweep).
func features(ghost time.Duration, rss uint64, sweep time.Duration, requests int) *Features {
	ms := time.Millisecond
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	plain := phase("plain", 70*ms, 50*ms, 62<<20, 3*ms, 0)
	g := phase("ghosts", sweep, 50*ms, 62<<20+rss, 3*ms, 0)
	for i := range g.Sweeps {
		g.Starts = append(g.Starts, t0.Add(time.Duration(i)*2*time.Second))
	}
	g.Pace = 50 * ms
	for i := range 20 {
		g.GhostSweeps = append(g.GhostSweeps, ghost)
		// ends well inside the gap after every other orphan sweep
		g.GhostEnds = append(g.GhostEnds, t0.Add(time.Duration(2*i)*2*time.Second+time.Second))
	}
	g.Ghosts = 411_000
	c := phase("contents", 72*ms, 50*ms, 63<<20, 3*ms, requests)
	return &Features{
		Size: Size{10000, 1000000}, Started: t0, Finished: t0.Add(12 * time.Minute), Orphans: 100, GhostInterval: 10 * time.Second,
		Plain: plain, Ghosts: g, Contents: c, FleetGhosts: 411_000, ReportedGhosts: 411_000,
		RefreshRequests: map[string]int{"get": 100, "list": 600}, Refresh: 139 * time.Second, RefreshCounted: 700,
		Pods: 300, PVCs: 200, StorageBytes: 200 * OrphanPVCBytes, Agree: true,
	}
}

// TestFeatureTargetsVerdicts checks the ghost sweep's and contents' verdicts
// against hand-made numbers, each target missed once on purpose, and the
// rendering of their section.
func TestFeatureTargetsVerdicts(t *testing.T) {
	ms := time.Millisecond
	const (
		ghostTime   = "ghost sweep p95 ≤ 1 s at (10 000, 1 000 000)"
		ghostRSS    = "ghost sweep adds ≤ 10 MiB of RSS at (10 000, 1 000 000)"
		ghostMedian = "ghost sweep on: orphan sweep median within 10% of the exporter's without it at (10 000, 1 000 000)"
		requests    = "contents on: 0 API requests per steady-state sweep at (10 000, 1 000 000)"
	)
	for _, tc := range []struct {
		name string
		f    *Features
		want map[string]string
	}{
		{"all hold", features(800*ms, 9<<20, 76*ms, 0), map[string]string{ghostTime: holds, ghostRSS: holds, ghostMedian: holds, requests: holds}},
		{"slow ghosts", features(1200*ms, 9<<20, 76*ms, 0), map[string]string{ghostTime: missed, ghostRSS: holds, ghostMedian: holds, requests: holds}},
		{"ghost memory", features(800*ms, 120<<20, 76*ms, 0), map[string]string{ghostTime: holds, ghostRSS: missed, ghostMedian: holds, requests: holds}},
		{"slower orphan sweeps", features(800*ms, 9<<20, 78*ms, 0), map[string]string{ghostTime: holds, ghostRSS: holds, ghostMedian: missed, requests: holds}},
		{"contents requests in sweeps", features(800*ms, 9<<20, 76*ms, 2), map[string]string{ghostTime: holds, ghostRSS: holds, ghostMedian: holds, requests: missed}},
		{"not measured", nil, map[string]string{ghostTime: notMeasured, ghostRSS: notMeasured, ghostMedian: notMeasured, requests: notMeasured}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]string{}
			for _, tg := range tc.f.Targets() {
				got[tg.Name] = tg.Verdict
			}
			if len(got) != len(tc.want) {
				t.Errorf("%d targets, want %d: %v", len(got), len(tc.want), got)
			}
			for name, want := range tc.want {
				if got[name] != want {
					t.Errorf("%s: %q, want %q", name, got[name], want)
				}
			}
		})
	}

	// A plain run slowed by the machine's load does not hide the ghost
	// sweep's effect: the sweeps that overlapped a ghost sweep are checked
	// against those of the same run that did not.
	f := features(800*ms, 9<<20, 60*ms, 0)
	f.Plain = phase("plain", 120*ms, 50*ms, 62<<20, 3*ms, 0)
	for i := range f.Ghosts.Sweeps {
		if i < 12 {
			f.Ghosts.Sweeps[i] = 100 * ms
			f.Ghosts.GhostEnds[i] = f.Ghosts.Starts[i].Add(50 * ms)
		} else {
			f.Ghosts.GhostEnds[i] = f.Ghosts.Starts[i].Add(time.Hour)
		}
	}
	ts := f.Targets()
	if ts[2].Verdict != missed || !strings.Contains(ts[2].Measured, "100.0 ms with it vs 120.0 ms without: −16.7%; against the 8 of 20 sweeps of the same run that overlapped no ghost sweep (median 60.0 ms): +66.7%") ||
		!strings.Contains(ts[2].Note, "56.7 points over against the ghost run's sweeps that overlapped no ghost sweep; the 12 sweeps that overlapped one: median 100.0 ms") {
		t.Errorf("the ghost sweep's effect within its run: %+v", ts[2])
	}

	// A failed ghost sweep misses the time target, whatever the others took.
	f = features(800*ms, 9<<20, 76*ms, 0)
	f.Ghosts.GhostFailed = 1
	if ts := f.Targets(); ts[0].Verdict != missed || !strings.Contains(ts[0].Note, "1 ghost sweeps failed") {
		t.Errorf("a failed ghost sweep: %+v", ts[0])
	}

	f = features(1200*ms, 120<<20, 78*ms, 0)
	rep := &Report{Started: f.Started, Finished: f.Finished, Options: Options{Features: &f.Size, Interval: 2 * time.Second, Sweeps: 20, Pace: 50 * ms, Command: "bench --features-only", Make: "bench-features"}, Features: f}
	md := f.Markdown(rep.Options, rep.Machine)
	for _, want := range []string{
		FeaturesHeading + "\n\n", "- **Command:** `make bench-features` (runs `bench --features-only`)\n",
		"| orphan sweep p50 (vs plain) | 70.0 ms | 78.0 ms (+11.4%) | 72.0 ms (+2.9%) |",
		"| ghost sweep p50 / p95 | — | 1.20 s / 1.20 s | — |",
		"| RSS, highest in the window (vs plain) | 62.0 MiB | 182.0 MiB (+120.0 MiB) | 63.0 MiB (+1.0 MiB) |",
		"| contents refresh: requests by verb (exporter's own count) | — | — | get 100, list 600 (700) |",
		"| orphan sweep p50 of the sweeps that overlapped a ghost sweep / of the others | — | 78.0 ms (10) / 78.0 ms (10) |",
		"**missed**: 200.0 ms over (1.20× the limit)", "| orphan sweep p50 while the refresh ran | — | — | — (0 sweeps) |", "**missed**: 110.0 MiB over",
		"All three runs reported exactly the fleet's 100 orphans; /ghosts listed exactly the fleet's 411 000 ghosts",
		"### Targets of the ghost sweep and contents",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("section lacks %q", want)
		}
	}
	if !strings.HasSuffix(md, "|\n\n") || strings.Contains(md[len(FeaturesHeading):], "\n## ") {
		t.Errorf("the section must end with a blank line and hold no other level-2 heading")
	}
	whole := rep.Markdown()
	if !strings.Contains(whole, md) || strings.Index(whole, FeaturesHeading) > strings.Index(whole, PureDecisionHeading) {
		t.Errorf("the report does not hold the section before %q", PureDecisionHeading)
	}
	for _, bad := range []string{"NaN", "Inf", "%!"} {
		if strings.Contains(whole, bad) {
			t.Errorf("report contains %q", bad)
		}
	}
	// The comparison's table leaves the features' targets to their section.
	targets := whole[strings.Index(whole, "\n"+TargetsHeading+"\n"):]
	if strings.Contains(targets, "ghost sweep p95") || !strings.Contains(targets, "(#ghosts-and-contents)") {
		t.Errorf("the comparison's targets:\n%s", targets)
	}
	if t.Failed() {
		t.Log(md)
	}
}

// TestReplaceSection replaces the features' section and nothing else, byte
// for byte, and places a new one before the headings it is given.
func TestReplaceSection(t *testing.T) {
	head := "# Benchmarks\n\nintro\n\n## 10 000 namespaces, 1 000 000 rows\n\n| a | b |\n"
	old := FeaturesHeading + "\n\nold text\n\n### Targets of the ghost sweep and contents\n\n| old |\n\n"
	tailDoc := PureDecisionHeading + "\n\nbench\n\n" + TargetsHeading + "\n\n| t |\n"
	section := FeaturesHeading + "\n\nnew text\n\n### Targets of the ghost sweep and contents\n\n| new |\n\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"in the middle", head + "\n" + old + tailDoc, head + "\n" + section + tailDoc},
		{"at the end", head + "\n" + tailDoc + "\n" + strings.TrimSuffix(old, "\n"), head + "\n" + tailDoc + "\n" + strings.TrimSuffix(section, "\n")},
		{"absent: before the pure decision", head + "\n" + tailDoc, head + "\n" + section + tailDoc},
		{"absent: before the targets", head + "\n" + TargetsHeading + "\n\n| t |\n", head + "\n" + section + TargetsHeading + "\n\n| t |\n"},
		{"absent, no anchor", head, head + "\n" + strings.TrimSuffix(section, "\n")},
		{"no file yet", "", strings.TrimSuffix(section, "\n")},
		{"a heading that only starts the same", head + "\n" + FeaturesHeading + " (old)\n\nx\n\n" + tailDoc, head + "\n" + FeaturesHeading + " (old)\n\nx\n\n" + section + tailDoc},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ReplaceSection(tc.doc, section, PureDecisionHeading, TargetsHeading)
			if got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
			// Once there, replacing it again changes nothing else.
			if again := ReplaceSection(got, section, PureDecisionHeading, TargetsHeading); again != got {
				t.Errorf("a second replacement changed the document:\n%s", again)
			}
		})
	}
}

// TestReadGhostSeries reads the ghost series out of an exporter's /metrics
// text, and refuses one without them.
func TestReadGhostSeries(t *testing.T) {
	body := `# HELP instant_orphan_db_sweep_ghosts_current Tokens with a live ledger row past --ghosts.grace and no namespace.
# TYPE instant_orphan_db_sweep_ghosts_current gauge
instant_orphan_db_sweep_ghosts_current{kind="customer_namespace"} 274001
instant_orphan_db_sweep_ghosts_current{kind="redis_namespace"} 136999
instant_orphan_db_sweep_ghosts_duration_seconds_bucket{le="1"} 3
instant_orphan_db_sweep_ghosts_duration_seconds_bucket{le="+Inf"} 4
instant_orphan_db_sweep_ghosts_duration_seconds_sum 3.25
instant_orphan_db_sweep_ghosts_duration_seconds_count 4
instant_orphan_db_sweep_ghosts_up 1
instant_orphan_db_sweep_duration_seconds_count 99
`
	g, err := readGhostSeries([]byte(body))
	if err != nil || g.count != 4 || g.sum != 3.25 || !g.up || g.current != 411000 {
		t.Fatalf("readGhostSeries = %+v, %v", g, err)
	}
	if _, err := readGhostSeries([]byte("instant_orphan_db_sweep_duration_seconds_count 99\n")); err == nil {
		t.Fatal("metrics without the ghost series were accepted")
	}
}

// The fresh check's targets: p99 under 2 s with every check answered and
// read while the loop kept reading; any of those missing misses.
func TestFreshTargetsVerdicts(t *testing.T) {
	took := func(slow int) []time.Duration {
		ds := make([]time.Duration, FreshChecks)
		for i := range ds {
			ds[i] = 300 * time.Millisecond
			if i < slow {
				ds[i] = 3 * time.Second
			}
		}
		return ds
	}
	good := func() *Fresh {
		return &Fresh{Candidates: 1000, Took: took(1), Codes: map[int]int{200: FreshChecks}, LoopRequests: 500}
	}
	verdicts := func(f *Fresh) []string {
		var vs []string
		for _, tg := range f.Targets() {
			vs = append(vs, tg.Verdict)
		}
		return vs
	}
	if got := verdicts(good()); !slices.Equal(got, []string{holds, holds}) {
		t.Fatalf("one slow check in %d: %v, want both held", FreshChecks, got)
	}
	for name, f := range map[string]func(*Fresh){
		"p99 over 2 s":    func(f *Fresh) { f.Took = took(3) },
		"a 429":           func(f *Fresh) { f.Codes = map[int]int{200: FreshChecks - 1, 429: 1}; f.Took = f.Took[1:] },
		"the loop idle":   func(f *Fresh) { f.LoopRequests = 0 },
		"unread contents": func(f *Fresh) { f.Unread = 1 },
	} {
		g := good()
		f(g)
		if vs := verdicts(g); !slices.Contains(vs, missed) {
			t.Errorf("%s: %v, want a missed target", name, vs)
		}
	}
	section := good().Markdown(Options{}, Machine{})
	if !strings.HasPrefix(section, FreshHeading+"\n") || !strings.Contains(section, "| fresh checks: p50 / p99 / max |") {
		t.Errorf("section:\n%s", section)
	}
}
