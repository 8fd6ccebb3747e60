package bench

import (
	"fmt"
	"strings"
	"time"
)

// FeaturesHeading starts the section of the ghost sweep and contents. The
// section runs to the next heading of its level; `bench --features-only`
// rewrites it alone (ReplaceSection).
const FeaturesHeading = "## Ghosts and contents"

// Targets checks the features measurement against the targets of the
// ghost sweep and of contents; all are "not measured" when f is nil.
func (f *Features) Targets() []Target {
	names := []string{
		"ghost sweep p95 ≤ 1 s",
		"ghost sweep adds ≤ 10 MiB of RSS",
		"ghost sweep on: orphan sweep median within 10% of the exporter's without it",
		"contents on: 0 API requests per steady-state sweep",
	}
	if f == nil {
		ts := make([]Target, len(names))
		for i, name := range names {
			ts[i] = Target{Name: name + " at (10 000, 1 000 000)", Verdict: notMeasured}
		}
		return ts
	}
	at := fmt.Sprintf(" at (%s, %s)", num(f.Size.N), num(f.Size.M))
	var ts []Target
	a, g, c := f.Plain, f.Ghosts, f.Contents

	gp50, gp95 := percentile(g.GhostSweeps, 0.5), percentile(g.GhostSweeps, 0.95)
	var ok bool
	if len(g.GhostSweeps) == 0 {
		ts = append(ts, Target{Name: names[0], Verdict: notMeasured, Note: fmt.Sprintf("no ghost sweep timed (%d failed)", g.GhostFailed)})
	} else {
		ok = gp95 <= time.Second && g.GhostFailed == 0
		note := overBy(gp95, time.Second)
		if g.GhostFailed > 0 {
			note = strings.TrimPrefix(note+fmt.Sprintf("; %d ghost sweeps failed", g.GhostFailed), "; ")
		}
		check(&ts, names[0], ok, fmt.Sprintf("p50 %s, p95 %s over %d ghost sweeps of %s ghosts", dur(gp50), dur(gp95), len(g.GhostSweeps), num(g.Ghosts)), shortBy(ok, note))
	}

	extra := int64(g.RSSMax) - int64(a.RSSMax)
	check(&ts, names[1], extra <= 10<<20, fmt.Sprintf("%s with it − %s without = %s (highest samples in the windows)", mib(g.RSSMax), mib(a.RSSMax), signedMiB(extra)),
		shortBy(extra <= 10<<20, fmt.Sprintf("%s over; RSS right after warm-up: %s with it, %s without", mib(uint64(extra-10<<20)), mib(g.RSSSynced), mib(a.RSSSynced))))

	// Against the plain run, and, as a control for the load of a shared
	// machine, against the same run's sweeps that overlapped no ghost sweep.
	pa, pg := percentile(a.Sweeps, 0.5), percentile(g.Sweeps, 0.5)
	over, apart := g.BesideGhosts()
	change, within := ratio(pg, pa)-1, 0.0
	if len(apart) > 0 {
		within = ratio(pg, percentile(apart, 0.5)) - 1
	}
	ok = change <= 0.10 && within <= 0.10
	var why []string
	if change > 0.10 {
		why = append(why, fmt.Sprintf("%.1f points over against the plain run", 100*change-10))
	}
	if within > 0.10 {
		why = append(why, fmt.Sprintf("%.1f points over against the ghost run's sweeps that overlapped no ghost sweep", 100*within-10))
	}
	check(&ts, names[2], ok, fmt.Sprintf("%s with it vs %s without: %s; against the %d of %d sweeps of the same run that overlapped no ghost sweep (median %s): %s",
		dur(pg), dur(pa), signedPct(change), len(apart), len(g.Sweeps), pct(apart, 0.5), signedPct(within)),
		shortBy(ok, strings.Join(why, "; ")+fmt.Sprintf("; the %d sweeps that overlapped one: median %s", len(over), pct(over, 0.5))))

	ok = sum(c.Requests) == 0 && c.RequestsPerSweep() == 0
	check(&ts, names[3], ok, fmt.Sprintf("%d requests in a window of %d sweeps, after the first contents refresh (%s)", sum(c.Requests), c.SweepsInWindow, verbs(f.RefreshRequests)),
		shortBy(ok, fmt.Sprintf("%s per sweep; in the window: %s", perSweep(c), verbs(c.Requests))))
	for i := range ts {
		ts[i].Name += at
	}
	return ts
}

// Markdown renders the section of the ghost sweep and contents, from its
// heading to the blank line that ends it, with its own date, command and
// machine, so that it can replace the section of an earlier report.
func (f *Features) Markdown(o Options, m Machine) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	a, g, c := f.Plain, f.Ghosts, f.Contents
	w("%s\n\n", FeaturesHeading)
	w("The exporter three times on one fleet of %s namespaces and %s rows, each run measured as in the comparison above.\n\n", num(f.Size.N), num(f.Size.M))
	w("- **Date:** %s (the measurement took %s)\n", f.Started.UTC().Format("2006-01-02 15:04 MST"), f.Finished.Sub(f.Started).Round(time.Minute))
	w("- **Command:** %s\n", commandLine(o))
	w("- **Machine:** %s cores (%s), %s memory, Linux %s; Go %s; PostgreSQL %s; kube-apiserver %s; shared with other work while it ran (load average over 1, 5 and 15 minutes before %s, after %s)\n",
		m.Cores, m.CPU, m.Memory, m.Kernel, m.Go, m.Postgres, m.KubeAPIServer, f.LoadBefore, f.LoadAfter)
	w("- **Fleet:** laid out as in the comparison: %d orphans, the candidates; namespaces created in %s, ledger loaded in %s. ",
		f.Orphans, f.Create.Round(time.Second), f.LoadLedger.Round(time.Second))
	w("The ledger is shared with another cluster (column `%s`): %s of its %s rows are live, %s of those the other cluster's tenants, which have no namespace here. ",
		ClusterColumn, num(f.LiveRows), num(f.Size.M), num(f.OtherLiveRows))
	w("This cluster's rows of tokens without a namespace are history, all terminal, except %s tokens that keep a live row at least %s old: the ghosts past `--ghosts.grace` (default 1h). ",
		num(f.FleetGhosts), shortDuration(GhostMinAge))
	w("Each candidate's namespace holds %d pods (Pending: no kubelet runs them) and %d PVCs of %s GiB (Pending: no storage class), created as admin in %s, none owned by a controller.\n",
		OrphanPods, OrphanPVCs, num(OrphanPVCBytes>>30), f.CreateContents.Round(time.Second))
	w("- **Runs:** the exporter with the comparison's flags (`--sweep.interval=%[1]s --sweep.timeout=%[1]s --ledger.query-timeout=%[1]s --sweep.grace=0s --kubernetes.qps=-1`) and ",
		o.Interval)
	w("(a) **plain** `%s`; (b) **ghosts** `%s`; (c) **contents** `%s` (`--contents.qps` default 5, burst 5, `--contents.concurrency` default 4). ",
		strings.Join(plainFlags, " "), strings.Join(ghostFlags(f.GhostInterval), " "), strings.Join(contentsFlags, " "))
	w("Each run is its own Kubernetes user with the exporter's shipped role, and every safeguard at its default (the guard included). ")
	w("The ghost sweep reads this cluster's rows only, as `--ghosts.filter-column` is meant for: its query still scans the whole table, the filter column being unindexed.\n")
	w("- **Ghost sweeps:** the ghost run's window lasts until %d ghost sweeps have ended in it too; each is timed by the step of `%s` (count +1, sum + its duration) on the `/metrics` the probe reads every %s, and the ghosts are listed once from `/ghosts` after the window. ",
		o.Sweeps, ghostDurationMetric, dur(o.Pace))
	w("The ghost run's orphan sweep median is compared with the plain run's and, as a control for the load of the shared machine, with the median of its own sweeps that overlapped no ghost sweep; its target holds when both are within 10%%.\n")
	w("- **Contents:** the first refresh reads every candidate right after the first sweep; the contents run's window starts once `/candidates` shows every candidate's contents. ")
	w("The refresh's requests are the contents user's audited requests inside a namespace (the informer's are not), its time from the first to the last of them as the API server received them.\n\n")
	switch {
	case !f.Agree:
		w("**Disagreement:** %s\n\n", f.Mismatch)
	default:
		w("All three runs reported exactly the fleet's %d orphans; /ghosts listed exactly the fleet's %s ghosts; /candidates gave every candidate exactly its %d pods and %d PVCs.\n\n",
			f.Orphans, num(f.FleetGhosts), OrphanPods, OrphanPVCs)
	}

	vs := func(d, base time.Duration) string {
		if base == 0 {
			return dur(d)
		}
		return fmt.Sprintf("%s (%s)", dur(d), signedPct(ratio(d, base)-1))
	}
	w("| | (a) plain | (b) ghosts | (c) contents |\n|---|---:|---:|---:|\n")
	w("| orphan sweep p50 (vs plain) | %s | %s | %s |\n", dur(percentile(a.Sweeps, 0.5)), vs(percentile(g.Sweeps, 0.5), percentile(a.Sweeps, 0.5)), vs(percentile(c.Sweeps, 0.5), percentile(a.Sweeps, 0.5)))
	w("| orphan sweep p95 (vs plain) | %s | %s | %s |\n", dur(percentile(a.Sweeps, 0.95)), vs(percentile(g.Sweeps, 0.95), percentile(a.Sweeps, 0.95)), vs(percentile(c.Sweeps, 0.95), percentile(a.Sweeps, 0.95)))
	over, apart := g.BesideGhosts()
	w("| orphan sweep p50 of the sweeps that overlapped a ghost sweep / of the others | — | %s (%d) / %s (%d) | — |\n", pct(over, 0.5), len(over), pct(apart, 0.5), len(apart))
	w("| ledger query p50 | %s | %s | %s |\n", dur(percentile(a.Ledger, 0.5)), dur(percentile(g.Ledger, 0.5)), dur(percentile(c.Ledger, 0.5)))
	w("| API requests per steady-state sweep | %s | %s | %s |\n", perSweep(a), perSweep(g), perSweep(c))
	w("| API requests in the window, by verb | %s | %s | %s |\n", verbs(a.Requests), verbs(g.Requests), verbs(c.Requests))
	w("| API requests before the window (start-up; in (c) the contents refresh too) | %s | %s | %s |\n", verbs(a.StartupRequests), verbs(g.StartupRequests), verbs(c.StartupRequests))
	rss := func(name string, pick func(*Phase) uint64) {
		w("| %s | %s | %s (%s) | %s (%s) |\n", name, mib(pick(a)), mib(pick(g)), signedMiB(int64(pick(g))-int64(pick(a))), mib(pick(c)), signedMiB(int64(pick(c))-int64(pick(a))))
	}
	rss("RSS after sync and warm-up (vs plain)", func(p *Phase) uint64 { return p.RSSSynced })
	rss("RSS, highest in the window (vs plain)", func(p *Phase) uint64 { return p.RSSMax })
	rss("RSS peak (VmHWM, start-up included; vs plain)", func(p *Phase) uint64 { return p.RSSPeak })
	w("| `GET /metrics` p50 / p99 | %s / %s | %s / %s | %s / %s |\n", dur(percentile(a.Metrics, 0.5)), dur(percentile(a.Metrics, 0.99)),
		dur(percentile(g.Metrics, 0.5)), dur(percentile(g.Metrics, 0.99)), dur(percentile(c.Metrics, 0.5)), dur(percentile(c.Metrics, 0.99)))
	w("| `GET /healthz` (control) p99 | %s | %s | %s |\n", dur(percentile(a.Healthz, 0.99)), dur(percentile(g.Healthz, 0.99)), dur(percentile(c.Healthz, 0.99)))
	w("| time to first successful sweep | %s | %s | %s |\n", dur(a.FirstSweep), dur(g.FirstSweep), dur(c.FirstSweep))
	w("| sweeps measured / run in the window / failed | %d / %d / %d | %d / %d / %d | %d / %d / %d |\n",
		len(a.Sweeps), a.SweepsInWindow, a.FailedSweeps, len(g.Sweeps), g.SweepsInWindow, g.FailedSweeps, len(c.Sweeps), c.SweepsInWindow, c.FailedSweeps)
	w("| window | %s | %s | %s |\n", a.Window.Round(time.Second), g.Window.Round(time.Second), c.Window.Round(time.Second))
	w("| load average before / after the run | %s / %s | %s / %s | %s / %s |\n", f.RunLoadBefore[0], f.RunLoadAfter[0], f.RunLoadBefore[1], f.RunLoadAfter[1], f.RunLoadBefore[2], f.RunLoadAfter[2])
	w("| ghost sweep p50 / p95 | — | %s / %s | — |\n", pct(g.GhostSweeps, 0.5), pct(g.GhostSweeps, 0.95))
	w("| ghost sweep fastest / slowest | — | %s / %s | — |\n", pct(g.GhostSweeps, 1e-9), pct(g.GhostSweeps, 1))
	w("| ghost sweeps timed / failed / ended between two reads | — | %d / %d / %d (every %s) | — |\n", len(g.GhostSweeps), g.GhostFailed, g.GhostUnsampled, f.GhostInterval)
	w("| ghosts reported (gauges / `/ghosts`) | — | %s / %s | — |\n", num(g.Ghosts), num(f.ReportedGhosts))
	w("| contents refresh: requests by verb (exporter's own count) | — | — | %s (%s) |\n", verbs(f.RefreshRequests), num(f.RefreshCounted))
	rate := "—"
	if n := sum(f.RefreshRequests); n > 1 && f.Refresh > 0 {
		rate = fmt.Sprintf("%.1f", float64(n-1)/f.Refresh.Seconds())
	}
	w("| contents refresh: time, first to last request (requests a second) | — | — | %s (%s) |\n", dur(f.Refresh), rate)
	w("| orphan sweep p50 while the refresh ran | — | — | %s (%d sweeps) |\n", pct(f.RefreshSweeps, 0.5), len(f.RefreshSweeps))
	w("| contents requests in the window (exporter's own count) | — | — | %s |\n", num(f.WindowCounted))
	w("| contents reported: pods (running), PVCs, storage requested | — | — | %s (%s), %s, %s GiB |\n", num(f.Pods), num(f.PodsRunning), num(f.PVCs), num(int(f.StorageBytes>>30)))
	w("\n### Targets of the ghost sweep and contents\n\n")
	targetTable(w, f.Targets())
	w("\n")
	return b.String()
}

// ReplaceSection returns doc with the section that starts with section's
// first line (a level-2 heading) replaced by section; the rest of doc is
// left as it was, byte for byte. A doc without that section gets it before
// the first of the headings in before that it has, else at its end.
func ReplaceSection(doc, section string, before ...string) string {
	heading, _, _ := strings.Cut(section, "\n")
	body := strings.TrimRight(section, "\n") + "\n"
	if start, ok := headingAt(doc, heading, 0); ok {
		end := len(doc)
		if next, ok := nextHeading(doc, start+len(heading)); ok {
			end = next
			body += "\n"
		}
		return doc[:start] + body + doc[end:]
	}
	for _, h := range before {
		if at, ok := headingAt(doc, h, 0); ok {
			return doc[:at] + body + "\n" + doc[at:]
		}
	}
	switch {
	case doc == "":
	case strings.HasSuffix(doc, "\n\n"):
	case strings.HasSuffix(doc, "\n"):
		doc += "\n"
	default:
		doc += "\n\n"
	}
	return doc + body
}

// Section returns the section of doc that starts with the level-2 heading
// line heading, up to the next level-1 or level-2 heading, without the
// blank lines before that.
func Section(doc, heading string) (string, bool) {
	start, ok := headingAt(doc, heading, 0)
	if !ok {
		return "", false
	}
	end := len(doc)
	if next, ok := nextHeading(doc, start+len(heading)); ok {
		end = next
	}
	return strings.TrimRight(doc[start:end], "\n") + "\n", true
}

// headingAt finds the line that is exactly heading, from offset from on.
func headingAt(doc, heading string, from int) (int, bool) {
	return lineAt(doc, from, func(line string) bool { return line == heading })
}

// nextHeading finds the start of the next level-1 or level-2 heading line
// after offset from (which is inside a line).
func nextHeading(doc string, from int) (int, bool) {
	nl := strings.IndexByte(doc[from:], '\n')
	if nl < 0 {
		return 0, false
	}
	return lineAt(doc, from+nl+1, func(line string) bool {
		return strings.HasPrefix(line, "# ") || strings.HasPrefix(line, "## ")
	})
}

// lineAt finds the start of the first line from offset from (a line's
// start) on that is, without its newline, what match looks for.
func lineAt(doc string, from int, match func(string) bool) (int, bool) {
	for i := from; i < len(doc); {
		line, _, _ := strings.Cut(doc[i:], "\n")
		if match(line) {
			return i, true
		}
		next := strings.IndexByte(doc[i:], '\n')
		if next < 0 {
			break
		}
		i += next + 1
	}
	return 0, false
}

// pct is the q-quantile of ds, or a dash when there is none.
func pct(ds []time.Duration, q float64) string {
	if len(ds) == 0 {
		return "—"
	}
	return dur(percentile(ds, q))
}

// signedPct prints a relative change as a percentage with its sign.
func signedPct(x float64) string {
	if x < 0 {
		return fmt.Sprintf("−%.1f%%", -100*x)
	}
	return fmt.Sprintf("+%.1f%%", 100*x)
}

// signedMiB prints a difference of bytes in MiB with its sign.
func signedMiB(d int64) string {
	if d < 0 {
		return "−" + mib(uint64(-d))
	}
	return "+" + mib(uint64(d))
}

// shortDuration prints whole hours and days the way a reader says them.
func shortDuration(d time.Duration) string {
	switch n := d / (24 * time.Hour); {
	case d%(24*time.Hour) != 0:
		return d.String()
	case n == 1:
		return "a day"
	default:
		return fmt.Sprintf("%d days", n)
	}
}
