package bench

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Target is one of the performance targets, checked against a run.
type Target struct {
	Name     string
	Measured string
	// Verdict is "holds", "missed" or "not measured".
	Verdict string
	Note    string
}

const (
	holds       = "holds"
	missed      = "missed"
	notMeasured = "not measured"
)

// Headings of the report that the section of the ghost sweep and contents
// goes before, in this order, when a report without it gets it.
const (
	PureDecisionHeading = "## Pure decision (`go test -bench`)"
	TargetsHeading      = "## Targets"
)

// Targets checks the report against the targets of the issues: the
// comparison's, then the ghost sweep's and contents' (Features.Targets). The
// point the single-size targets are checked at is (10 000, 1 000 000).
func (r *Report) Targets() []Target {
	return append(r.comparisonTargets(), r.Features.Targets()...)
}

// check appends a target that holds when ok, else is missed.
func check(ts *[]Target, name string, ok bool, measured, note string) {
	v := holds
	if !ok {
		v = missed
	}
	*ts = append(*ts, Target{Name: name, Measured: measured, Verdict: v, Note: note})
}

// comparisonTargets are the targets of the exporter against the baseline.
func (r *Report) comparisonTargets() []Target {
	var ts []Target
	check := func(name string, ok bool, measured, note string) { check(&ts, name, ok, measured, note) }
	ref := r.find(Size{10_000, 1_000_000})
	singles := []string{
		"sweep median ≥ 100× faster than the baseline", "ledger query median ≤ 60 ms (warm)", "sweep median ≤ 1.5× the ledger query median",
		"0 API requests per steady-state sweep", "exporter RSS ≤ 80 MiB", "/metrics p99 ≤ 5 ms", "/candidates p99 ≤ 50 ms",
	}
	if ref == nil {
		for _, name := range singles {
			ts = append(ts, Target{Name: name + " at (10 000, 1 000 000)", Verdict: notMeasured})
		}
	} else {
		e, b := ref.Exporter, ref.Baseline
		sw, bw, lq := percentile(e.Sweeps, 0.5), percentile(b.Sweeps, 0.5), percentile(e.Ledger, 0.5)
		speed := ratio(bw, sw)
		check(singles[0], speed >= 100, fmt.Sprintf("%s vs %s: %.0f×", dur(sw), dur(bw), speed),
			shortBy(speed >= 100, fmt.Sprintf("%.0f× short of 100×", 100/speed)))
		check(singles[1], lq <= 60*time.Millisecond, dur(lq), overBy(lq, 60*time.Millisecond))
		check(singles[2], float64(sw) <= 1.5*float64(lq), fmt.Sprintf("%s = %.2f× %s", dur(sw), ratio(sw, lq), dur(lq)),
			shortBy(float64(sw) <= 1.5*float64(lq), fmt.Sprintf("%.2f× instead of at most 1.5×", ratio(sw, lq))))
		ok := sum(e.Requests) == 0 && e.RequestsPerSweep() == 0
		check(singles[3], ok, fmt.Sprintf("%d requests in a window of %d sweeps", sum(e.Requests), e.SweepsInWindow),
			shortBy(ok, fmt.Sprintf("%.1f per sweep; in the window: %s", e.RequestsPerSweep(), verbs(e.Requests))))
		check(singles[4], e.RSSMax <= 80<<20, mib(e.RSSMax)+" (highest sample in the window)", shortBy(e.RSSMax <= 80<<20, fmt.Sprintf("%s over", mib(e.RSSMax-80<<20))))
		mp99, cp99 := percentile(e.Metrics, 0.99), percentile(e.Candidates, 0.99)
		hp99 := percentile(e.Healthz, 0.99)
		floor := fmt.Sprintf("; the control (`/healthz`, a handler that only writes `ok`) took %s at p99 in the same window; requests that overlapped no sweep: %s",
			dur(hp99), outsideP99(e, e.Metrics, e.MetricsAt))
		check(singles[5], mp99 <= 5*time.Millisecond, dur(mp99), overBy(mp99, 5*time.Millisecond)+shortBy(mp99 <= 5*time.Millisecond, floor))
		check(singles[6], cp99 <= 50*time.Millisecond, dur(cp99), overBy(cp99, 50*time.Millisecond)+shortBy(cp99 <= 50*time.Millisecond, floor))
		for i := range singles {
			ts[i].Name += " at (10 000, 1 000 000)"
		}
	}

	// Growth in N at a fixed rows-per-namespace ratio, and in M at fixed N.
	var linear, flat []string
	linearOK, flatOK := true, true
	for i, a := range r.Results {
		for _, b := range r.Results[i+1:] {
			lo, hi := a, b
			if hi.Size.N < lo.Size.N || hi.Size.N == lo.Size.N && hi.Size.M < lo.Size.M {
				lo, hi = hi, lo
			}
			grow := ratio(percentile(hi.Exporter.Sweeps, 0.5), percentile(lo.Exporter.Sweeps, 0.5))
			switch {
			case hi.Size.N > lo.Size.N && (hi.Size.M == lo.Size.M || hi.Size.M*lo.Size.N == lo.Size.M*hi.Size.N):
				n := float64(hi.Size.N) / float64(lo.Size.N)
				how := "rows ∝ namespaces"
				if hi.Size.M == lo.Size.M {
					how = "same rows"
				}
				linear = append(linear, fmt.Sprintf("%s → %s (%s): N ×%.0f, sweep ×%.2f", lo.Size, hi.Size, how, n, grow))
				linearOK = linearOK && grow <= n
			case hi.Size.N == lo.Size.N && hi.Size.M >= 10*lo.Size.M:
				flat = append(flat, fmt.Sprintf("%s → %s: M ×%.0f, sweep ×%.2f", lo.Size, hi.Size, float64(hi.Size.M)/float64(lo.Size.M), grow))
				flatOK = flatOK && grow <= 2
			}
		}
	}
	if len(linear) == 0 {
		ts = append(ts, Target{Name: "sweep cost grows at most linearly in N", Verdict: notMeasured, Note: "needs two sizes with the same rows per namespace"})
	} else {
		check("sweep cost grows at most linearly in N", linearOK, strings.Join(linear, "; "), "")
	}
	if len(flat) == 0 {
		ts = append(ts, Target{Name: "sweep cost flat (within 2×) when M grows 10× at fixed N", Verdict: notMeasured, Note: "needs two sizes with the same N and 10× the rows"})
	} else {
		check("sweep cost flat (within 2×) when M grows 10× at fixed N", flatOK, strings.Join(flat, "; "), "")
	}

	small, ok1 := findGoBench(r.GoBench, "BenchmarkDecide/namespaces=1000")
	large, ok2 := findGoBench(r.GoBench, "BenchmarkDecide/namespaces=100000")
	if !ok1 || !ok2 {
		ts = append(ts, Target{Name: "pure decision: 100 000 namespaces in < 50 ms", Verdict: notMeasured},
			Target{Name: "pure decision: allocations linear in N", Verdict: notMeasured})
	} else {
		d := time.Duration(large.Values["ns/op"])
		check("pure decision: 100 000 namespaces in < 50 ms", d < 50*time.Millisecond, dur(d), overBy(d, 50*time.Millisecond))
		a, b := small.Values["allocs/op"], large.Values["allocs/op"]
		check("pure decision: allocations linear in N", b <= 110*a, fmt.Sprintf("%.0f allocs at 1 000, %.0f at 100 000 (×%.1f for ×100 namespaces)", a, b, b/a), "")
	}
	ts = append(ts, Target{Name: "`make test` within CI's 90 minutes", Verdict: notMeasured,
		Note: "not part of this run; the harness's smoke test (tests/bench) runs in `make test`"})
	return ts
}

// outsideP99 is the p99 of the requests that overlapped no sweep, and how
// many of all did overlap one.
func outsideP99(ph *Phase, took []time.Duration, at []time.Time) string {
	if len(at) != len(took) || len(took) == 0 {
		return "—"
	}
	outside, overlapped := ph.OutsideSweeps(took, at)
	if len(outside) == 0 {
		return fmt.Sprintf("— (all %d overlapped a sweep)", overlapped)
	}
	return fmt.Sprintf("%s (%d of %d overlapped a sweep)", dur(percentile(outside, 0.99)), overlapped, len(took))
}

func shortBy(ok bool, note string) string {
	if ok {
		return ""
	}
	return note
}

func overBy(got, limit time.Duration) string {
	if got <= limit {
		return ""
	}
	return fmt.Sprintf("%s over (%.2f× the limit)", dur(got-limit), ratio(got, limit))
}

// find returns the result of size s measured against the baseline.
func (r *Report) find(s Size) *Result {
	for _, res := range r.Results {
		if res.Size == s && res.Baseline != nil {
			return res
		}
	}
	return nil
}

// Markdown renders the report as docs/BENCHMARKS.md.
func (r *Report) Markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	o := r.Options
	m := r.Machine
	w("# Benchmarks\n\n")
	if n, all := len(r.Results), len(o.Sizes)+len(o.ExporterOnly); n < all {
		w("**Partial report: %d of %d sizes measured so far.**\n\n", n, all)
	} else if o.Features != nil && r.Features == nil {
		w("**Partial report: the ghost sweep and contents are still being measured.**\n\n")
	}
	w("orphans-exporter measured against the naive sweep it replaces, on the real test bed (kube-apiserver with etcd, PostgreSQL),\n")
	w("both programs as separate processes against the same fleet, one after the other. This file is written by the harness;\n")
	w("every number below is from the run it describes.\n\n")
	w("- **Date:** %s (the run took %s)\n", r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Finished.Sub(r.Started).Round(time.Minute))
	w("- **Command:** %s\n", commandLine(o))
	w("- **Machine:** %s cores (%s), %s memory, Linux %s; shared with other work while it ran (1-minute load average before and after each size is in its table)\n",
		m.Cores, m.CPU, m.Memory, m.Kernel)
	w("- **Versions:** Go %s; PostgreSQL %s (JIT %s); kube-apiserver %s with etcd from `hack/versions.env`\n\n", m.Go, m.Postgres, m.JIT, m.KubeAPIServer)

	w("## Settings\n\n")
	w("- **Fleet.** N namespaces `%s<uuid>` and M rows in `resources` (`testenv.LedgerSchema`: uuid `token`, b-tree index on it). ", Prefix)
	w("1 namespace in 100 is orphaned (a third with a terminal redis row, a third with a terminal postgres row, a third with no row); ")
	w("every other namespace has a live row, one in four also an older terminal one. The remaining rows belong to tokens without a namespace, ")
	w("1–2 rows each: nine tokens in ten are another cluster's (column `%s`), their rows live with odds 11 to 9; the tenth are this cluster's history, terminal but for about one token per hundred namespaces that keeps a live row (a ghost); about half of all rows are live. Rows are loaded with one `COPY`, the index built afterwards, then `VACUUM ANALYZE`. ", ClusterColumn)
	w("Namespaces are created by %d concurrent unthrottled clients.\n", o.Workers)
	w("- **PostgreSQL** (`testenv.PostgresOptions.Settings`): %s; the rest default, plus the test bed's `fsync=off`, `synchronous_commit=off`, `full_page_writes=off`.\n",
		settingsList())
	w("- **Exporter:** the real binary (`go build ./exporter`, no race detector) with `--sweep.interval=%[1]s --sweep.timeout=%[1]s --ledger.query-timeout=%[1]s --sweep.grace=0s --kubernetes.qps=-1 %[2]s`, ",
		o.Interval, strings.Join(plainFlags, " "))
	w("`ORPHAN_DB_SWEEP_ENABLED=true`, everything else default: the orphan sweep alone, as the baseline does nothing else; the ghost sweep and contents are measured in their own section.\n")
	w("- **Baseline** (`tests/bench/baseline.go`), the reference platform's sweep, every %s (back to back when a sweep takes longer): ", o.Interval)
	w("list all namespaces; `SELECT DISTINCT token::text FROM resources WHERE status = ANY(live statuses)` into a set; then one `GET` per tenant namespace, ")
	w("in turn, for its age. It serves `/candidates` and `/metrics` (Go and process collectors) as the exporter does.\n")
	w("- **Same client for both:** `kube.RESTConfig` (protobuf, 10 s request timeout), client-side rate limiting off (QPS −1) for both; ")
	w("each runs as its own Kubernetes user with the exporter's shipped role (`testenv.ExporterRules`: get, list and watch on namespaces, list on what candidates hold).\n")
	w("- **Counting API requests:** the API server's audit log (Metadata level) records every request of the two bench users and nothing else ")
	w("(the fleet is created as admin, unlogged). Requests per steady-state sweep: the requests the API server received while each sampled sweep ran ")
	w("(audit `requestReceivedTimestamp` within the sweep's start and duration), averaged; the requests of the whole window are listed by verb as well.\n")
	w("- **Window:** after the first successful sweep and a warm-up (exporter %d sweeps, baseline %d), %d distinct successful sweeps, each read from `/candidates` ",
		exporterWarmup, baselineWarmup, o.Sweeps)
	w("(`sweep.duration_seconds`, `sweep.ledger_query_seconds`). Meanwhile one client GETs `/metrics`, another `/candidates` and a third `/healthz` (the control: a handler that only writes `ok`, so the latency this machine adds to any request is on record), each every %s, ", dur(o.Pace))
	w("and RSS (`/proc/<pid>/status` VmRSS) is sampled as often, the four a quarter of that apart so that no probe waits behind another; ")
	w("ledger table scans from `pg_stat_user_tables` over the window. Each request is also classed by whether it overlapped a sweep.\n")
	w("- **Time to first sweep:** from process start to the first `200` from `/candidates` (the exporter waits for its informer to sync, then sweeps).\n\n")

	w("## Summary\n\n")
	w("| namespaces | rows | exporter sweep p50 / p95 | ledger query p50 | baseline sweep p50 | speed-up | API requests per sweep (exp / base) | RSS (exp / base) | /metrics p99 | /candidates p99 | first sweep (exp / base) |\n")
	w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, res := range r.Results {
		e, bl := res.Exporter, res.Baseline
		if bl == nil {
			w("| %s | %s | %s / %s | %s | — | — | %s / — | %s / — | %s | %s | %s / — |\n",
				num(res.Size.N), num(res.Size.M), dur(percentile(e.Sweeps, 0.5)), dur(percentile(e.Sweeps, 0.95)), dur(percentile(e.Ledger, 0.5)),
				perSweep(e), mib(e.RSSMax), dur(percentile(e.Metrics, 0.99)), dur(percentile(e.Candidates, 0.99)), dur(e.FirstSweep))
			continue
		}
		w("| %s | %s | %s / %s | %s | %s | %.0f× | %s / %s | %s / %s | %s | %s | %s / %s |\n",
			num(res.Size.N), num(res.Size.M), dur(percentile(e.Sweeps, 0.5)), dur(percentile(e.Sweeps, 0.95)), dur(percentile(e.Ledger, 0.5)),
			dur(percentile(bl.Sweeps, 0.5)), ratio(percentile(bl.Sweeps, 0.5), percentile(e.Sweeps, 0.5)),
			perSweep(e), perSweep(bl), mib(e.RSSMax), mib(bl.RSSMax), dur(percentile(e.Metrics, 0.99)), dur(percentile(e.Candidates, 0.99)),
			dur(e.FirstSweep), dur(bl.FirstSweep))
	}
	w("\n")

	for _, res := range r.Results {
		e, bl := res.Exporter, res.Baseline
		w("## %s namespaces, %s rows\n\n", num(res.Size.N), num(res.Size.M))
		w("Fleet: %d orphans; namespaces created in %s, ledger loaded in %s. Load average before %s, after %s.",
			res.Orphans, res.Create.Round(time.Second), res.LoadLedger.Round(time.Second), res.LoadBefore, res.LoadAfter)
		switch {
		case !res.Agree:
			w(" **Disagreement:** %s\n\n", res.Mismatch)
		case bl == nil:
			w(" The exporter reported exactly the fleet's %d orphans. Exporter only: a point for the scaling targets.\n\n", res.Orphans)
			exporterOnly(w, e)
			continue
		default:
			w(" Both programs reported exactly the fleet's %d orphans.\n\n", res.Orphans)
		}
		w("| | exporter | baseline | baseline ÷ exporter |\n|---|---:|---:|---:|\n")
		row := func(name string, ev, bv time.Duration) {
			w("| %s | %s | %s | %s |\n", name, dur(ev), dur(bv), times(ratio(bv, ev)))
		}
		row("sweep p50", percentile(e.Sweeps, 0.5), percentile(bl.Sweeps, 0.5))
		row("sweep p95", percentile(e.Sweeps, 0.95), percentile(bl.Sweeps, 0.95))
		row("ledger query p50", percentile(e.Ledger, 0.5), percentile(bl.Ledger, 0.5))
		row("ledger query p95", percentile(e.Ledger, 0.95), percentile(bl.Ledger, 0.95))
		reqRatio := "— (exporter: none)"
		if e.RequestsPerSweep() > 0 {
			reqRatio = times(bl.RequestsPerSweep() / e.RequestsPerSweep())
		}
		w("| API requests per steady-state sweep | %s | %s | %s |\n", perSweep(e), perSweep(bl), reqRatio)
		w("| API requests in the window, by verb | %s | %s | |\n", verbs(e.Requests), verbs(bl.Requests))
		w("| API requests before the window (start-up) | %s | %s | |\n", verbs(e.StartupRequests), verbs(bl.StartupRequests))
		w("| RSS after sync and warm-up | %s | %s | %s |\n", mib(e.RSSSynced), mib(bl.RSSSynced), times(float64(bl.RSSSynced)/float64(e.RSSSynced)))
		w("| RSS, highest in the window | %s | %s | %s |\n", mib(e.RSSMax), mib(bl.RSSMax), times(float64(bl.RSSMax)/float64(e.RSSMax)))
		w("| RSS peak (VmHWM, start-up included) | %s | %s | %s |\n", mib(e.RSSPeak), mib(bl.RSSPeak), times(float64(bl.RSSPeak)/float64(e.RSSPeak)))
		row("`GET /metrics` p50", percentile(e.Metrics, 0.5), percentile(bl.Metrics, 0.5))
		row("`GET /metrics` p99", percentile(e.Metrics, 0.99), percentile(bl.Metrics, 0.99))
		row("`GET /candidates` p50", percentile(e.Candidates, 0.5), percentile(bl.Candidates, 0.5))
		row("`GET /candidates` p99", percentile(e.Candidates, 0.99), percentile(bl.Candidates, 0.99))
		row("`GET /healthz` (control) p50", percentile(e.Healthz, 0.5), percentile(bl.Healthz, 0.5))
		row("`GET /healthz` (control) p99", percentile(e.Healthz, 0.99), percentile(bl.Healthz, 0.99))
		w("| `GET /metrics` p99 of the requests that overlapped no sweep | %s | %s | |\n", outsideP99(e, e.Metrics, e.MetricsAt), outsideP99(bl, bl.Metrics, bl.MetricsAt))
		w("| `GET /healthz` (control) p99 of the requests that overlapped no sweep | %s | %s | |\n", outsideP99(e, e.Healthz, e.HealthzAt), outsideP99(bl, bl.Healthz, bl.HealthzAt))
		row("time to first successful sweep", e.FirstSweep, bl.FirstSweep)
		w("| sweeps measured / run in the window / failed | %d / %d / %d | %d / %d / %d | |\n",
			len(e.Sweeps), e.SweepsInWindow, e.FailedSweeps, len(bl.Sweeps), bl.SweepsInWindow, bl.FailedSweeps)
		w("| HTTP samples (/metrics, /candidates, /healthz), errors | %d, %d, %d, %d | %d, %d, %d, %d | |\n",
			len(e.Metrics), len(e.Candidates), len(e.Healthz), e.HTTPErrors, len(bl.Metrics), len(bl.Candidates), len(bl.Healthz), bl.HTTPErrors)
		w("| `resources` scans in the window: sequential / index | %d / %d | %d / %d | |\n", e.SeqScans, e.IdxScans, bl.SeqScans, bl.IdxScans)
		w("| window | %s | %s | |\n", e.Window.Round(time.Second), bl.Window.Round(time.Second))
		w("| namespaces in scope, candidates | %s, %d | %s, %d | |\n\n", num(e.InScope), len(e.Found), num(bl.InScope), len(bl.Found))
	}

	if r.Features != nil {
		w("%s", r.Features.Markdown(o, m))
	}
	if r.Fresh != nil {
		w("%s", r.Fresh.Markdown(o, m))
	}

	w("%s\n\n", PureDecisionHeading)
	if len(r.GoBench) == 0 {
		w("Not run.\n\n")
	} else {
		w("`go test -run '^$' -bench . -benchmem %s` (`internal/sweep/sweep_bench_test.go`): a fleet with 1%% orphans, in steady state (every orphan already tracked).\n\n", goBenchPackage)
		w("| benchmark | time per op | per namespace | bytes per op | allocations per op |\n|---|---:|---:|---:|---:|\n")
		for _, gb := range r.GoBench {
			w("| %s | %s | %.0f ns | %s | %.0f |\n", gb.Name, dur(time.Duration(gb.Values["ns/op"])), gb.Values["ns/namespace"],
				num(int(gb.Values["B/op"])), gb.Values["allocs/op"])
		}
		w("\n")
	}

	w("%s\n\n", TargetsHeading)
	targetTable(w, r.comparisonTargets())
	w("\nThe ghost sweep's and contents' targets are checked in their own section, [%s](#ghosts-and-contents).\n", FeaturesHeading[len("## "):])
	return b.String()
}

func targetTable(w func(string, ...any), ts []Target) {
	w("| target | measured | verdict |\n|---|---|---|\n")
	for _, t := range ts {
		v := t.Verdict
		if v == missed {
			v = "**missed**"
		}
		if t.Note != "" {
			v += ": " + t.Note
		}
		w("| %s | %s | %s |\n", t.Name, t.Measured, v)
	}
}

// commandLine is how the run was invoked, as Markdown.
func commandLine(o Options) string {
	if o.Make != "" {
		return fmt.Sprintf("`make %s` (runs `%s`)", o.Make, o.Command)
	}
	return fmt.Sprintf("`%s`", o.Command)
}

func exporterOnly(w func(string, ...any), e *Phase) {
	w("| | exporter |\n|---|---:|\n")
	for _, r := range [][2]string{
		{"sweep p50", dur(percentile(e.Sweeps, 0.5))}, {"sweep p95", dur(percentile(e.Sweeps, 0.95))},
		{"ledger query p50", dur(percentile(e.Ledger, 0.5))}, {"ledger query p95", dur(percentile(e.Ledger, 0.95))},
		{"API requests per steady-state sweep", perSweep(e)}, {"API requests in the window, by verb", verbs(e.Requests)},
		{"RSS after sync and warm-up", mib(e.RSSSynced)}, {"RSS, highest in the window", mib(e.RSSMax)},
		{"`GET /metrics` p50 / p99", dur(percentile(e.Metrics, 0.5)) + " / " + dur(percentile(e.Metrics, 0.99))},
		{"`GET /candidates` p50 / p99", dur(percentile(e.Candidates, 0.5)) + " / " + dur(percentile(e.Candidates, 0.99))},
		{"`GET /healthz` (control) p50 / p99", dur(percentile(e.Healthz, 0.5)) + " / " + dur(percentile(e.Healthz, 0.99))},
		{"`GET /metrics` p99 of the requests that overlapped no sweep", outsideP99(e, e.Metrics, e.MetricsAt)},
		{"`GET /healthz` (control) p99 of the requests that overlapped no sweep", outsideP99(e, e.Healthz, e.HealthzAt)},
		{"time to first successful sweep", dur(e.FirstSweep)},
		{"sweeps measured / run in the window / failed", fmt.Sprintf("%d / %d / %d", len(e.Sweeps), e.SweepsInWindow, e.FailedSweeps)},
		{"`resources` scans in the window: sequential / index", fmt.Sprintf("%d / %d", e.SeqScans, e.IdxScans)},
	} {
		w("| %s | %s |\n", r[0], r[1])
	}
	w("\n")
}

func settingsList() string {
	keys := slices.Sorted(maps.Keys(PostgresSettings))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("`%s=%s`", k, PostgresSettings[k])
	}
	return strings.Join(parts, ", ")
}

func perSweep(p *Phase) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", p.RequestsPerSweep()), "0"), ".")
}

func verbs(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %s", k, num(m[k]))
	}
	return strings.Join(parts, ", ")
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func times(x float64) string {
	switch {
	case x == 0:
		return "—"
	case x >= 100:
		return fmt.Sprintf("%.0f×", x)
	case x >= 10:
		return fmt.Sprintf("%.1f×", x)
	default:
		return fmt.Sprintf("%.2f×", x)
	}
}

func dur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// num prints an integer with thin groups of three digits.
func num(n int) string {
	s := fmt.Sprint(n)
	if n < 1_000 && n > -1_000 {
		return s
	}
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ' ')
		}
		out = append(out, s[i])
	}
	return string(out)
}
