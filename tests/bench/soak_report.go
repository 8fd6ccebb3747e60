package bench

import (
	"fmt"
	"strings"
	"time"
)

// SoakHeading starts the soak's section of docs/BENCHMARKS.md; `make soak`
// rewrites that section alone (ReplaceSection).
const SoakHeading = "## Soak"

// OutageOutcome is what the exporter did around one outage.
type OutageOutcome struct {
	Outage
	// Failed counts the /candidates answers that were not a successful
	// sweep, from Down until Recovered.
	Failed int
	// During are the checks of the sweeps that started between Down and Up.
	During []Check
	// Recovered is when the first sweep that started after Up ended, zero
	// if none did.
	Recovered time.Time
}

// Outcomes relates each outage to the checks and failed answers around it.
func (s *Soak) Outcomes() []OutageOutcome {
	var out []OutageOutcome
	for _, o := range s.Outages {
		oc := OutageOutcome{Outage: o}
		for _, c := range s.Checks {
			switch {
			case !c.Sweep.Before(o.Down) && !c.Sweep.After(o.Up):
				oc.During = append(oc.During, c)
			case c.Sweep.After(o.Up) && oc.Recovered.IsZero():
				oc.Recovered = c.Sweep.Add(c.Duration)
			}
		}
		end := oc.Recovered
		if end.IsZero() {
			end = s.Finished
		}
		for _, f := range s.Failed {
			if !f.Before(o.Down) && !f.After(end) {
				oc.Failed++
			}
		}
		out = append(out, oc)
	}
	return out
}

// SoakTotals sums a soak's checks.
type SoakTotals struct {
	Checks, Exact, Missing, Extra              int
	Reclaimable, FalseNotOrphan, FalseUnsettle int
	MaxListed, MaxUnsettled                    int
}

// Totals sums checks.
func Totals(checks []Check) SoakTotals {
	var t SoakTotals
	for _, c := range checks {
		t.Checks++
		if c.Exact() {
			t.Exact++
		}
		t.Missing += len(c.Missing)
		t.Extra += len(c.Extra)
		t.Reclaimable += c.Reclaimable
		t.FalseNotOrphan += len(c.FalseNotOrphan)
		t.FalseUnsettle += len(c.FalseUnsettle)
		t.MaxListed = max(t.MaxListed, c.Listed)
		t.MaxUnsettled = max(t.MaxUnsettled, c.Unsettled)
	}
	return t
}

// Markdown renders the soak's section of docs/BENCHMARKS.md.
func (s *Soak) Markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	o, m := s.Options, s.Machine
	t := Totals(s.Checks)
	w("%s\n\n", SoakHeading)
	w("The exporter (the real binary, as its own process) for %s on %s namespaces and %s ledger rows while a driver changes the fleet, ",
		o.Duration, num(o.Size.N), num(o.Size.M))
	w("and PostgreSQL and then the API server are stopped for %s and started again (same port and data). Written by `hack/soak`; every number is from the run it describes.\n\n", o.Outage)
	w("- **Date:** %s (the run took %s, fleet set-up included)\n", s.Started.UTC().Format("2006-01-02 15:04 MST"), s.Finished.Sub(s.Started).Round(time.Second))
	w("- **Command:** %s\n", commandLine(Options{Command: o.Command, Make: o.Make}))
	w("- **Machine:** %s cores (%s), %s memory, Linux %s; shared with other work while it ran (1-minute load average per minute below)\n", m.Cores, m.CPU, m.Memory, m.Kernel)
	w("- **Versions:** Go %s; PostgreSQL %s; kube-apiserver %s with etcd from `hack/versions.env`\n", m.Go, m.Postgres, m.KubeAPIServer)
	w("- **Fleet:** the bench's fleet (see [Settings](#settings)): %d orphans at the start; namespaces created in %s, ledger loaded with one `COPY` in %s.\n",
		s.Orphans, s.Create.Round(time.Second), s.LoadLedger.Round(time.Second))
	w("- **Exporter:** `--sweep.interval=%[1]s --sweep.timeout=%[1]s --ledger.query-timeout=%[1]s --sweep.grace=0s --kubernetes.qps=-1 %[2]s`, ",
		o.Interval, strings.Join(soakFlags, " "))
	w("`ORPHAN_DB_SWEEP_ENABLED=true`, `ORPHAN_DB_SWEEP_DESTRUCTIVE_ENABLED=true`, %d confirmations (the default): with the time-based guards at zero a redis orphan turns reclaimable after %d sweeps and a contents read, so the reclaimable flag is exercised within the run. Nothing acts on it.\n",
		s.Confirm, s.Confirm)
	w("- **Churn:** every %s one round, one change at a time: a namespace created (alternately with a live row written first, and without any row), ", o.Churn)
	w("a namespace deleted and finalized (alternately a live one and an orphan), one namespace's live rows set to `deleted`, and one orphan given a new live row. ")
	w("Row changes pause while PostgreSQL is down, namespace changes while the API server is. PostgreSQL stops (fast shutdown) at 40%% of the run, the API server at 65%%.\n")
	w("- **Checks:** `/candidates` is read every 100 ms and each new sweep judged against the driver's record of its own changes. ")
	w("A namespace is *settled* at a sweep when the driver changed neither it nor its rows from %s before the sweep started (the watch cache may lag) to the sweep's end; a change that failed leaves its namespace unsettled until the driver has read its namespace and rows back. ", o.Settle)
	w("A check is **exact** when every settled orphan is listed and nothing settled that is not an orphan is. ")
	w("A **reclaimable false positive** is a candidate marked reclaimable that is not a settled orphan: either known not to be an orphan throughout the sweep, or changed during it.\n\n")

	w("| result | value |\n|---|---|\n")
	w("| sweeps judged | %d (%d before the churn began) |\n", t.Checks, 1+exporterWarmup)
	w("| exact | %d of %d%s |\n", t.Exact, t.Checks, notAll(t.Exact, t.Checks))
	w("| settled orphans missing / listed that are settled non-orphans (sums over the checks) | %d / %d |\n", t.Missing, t.Extra)
	w("| reclaimable candidates (sum over the checks) | %s |\n", num(t.Reclaimable))
	w("| **reclaimable false positives**: not an orphan / changed during the sweep | **%d** / %d |\n", t.FalseNotOrphan, t.FalseUnsettle)
	w("| most candidates listed by one sweep; most namespaces unsettled at one sweep | %d; %d |\n", t.MaxListed, t.MaxUnsettled)
	w("| `/candidates` answers that were not a successful sweep | %d |\n", len(s.Failed))
	w("| driver's changes | %s; %d failed (read back afterwards), %d namespaces never read back |\n\n", verbs(s.Changes), s.ChangeFails, s.Unsure)

	if len(s.Samples) > 0 {
		first, last := s.Samples[0], s.Samples[len(s.Samples)-1]
		hi := s.Samples[0]
		for _, x := range s.Samples {
			hi.RSS, hi.Goroutines, hi.OpenFDs = max(hi.RSS, x.RSS), max(hi.Goroutines, x.Goroutines), max(hi.OpenFDs, x.OpenFDs)
			hi.PostgresConns, hi.APIConns = max(hi.PostgresConns, x.PostgresConns), max(hi.APIConns, x.APIConns)
		}
		w("Resources of the exporter process: RSS from `/proc/<pid>/status` (VmRSS), goroutines and open file descriptors from its `/metrics` (`go_goroutines`, `process_open_fds`), ")
		w("connections as its established TCP sockets to PostgreSQL's and the API server's ports (`/proc/<pid>/fd` matched against `/proc/<pid>/net/tcp`; the exporter exports no pool gauge). ")
		w("Start is after the first successful sweep and %d more; end after the churn stopped.\n\n", exporterWarmup)
		w("| | start | end | highest sampled |\n|---|---:|---:|---:|\n")
		w("| RSS | %s | %s | %s |\n", mib(first.RSS), mib(last.RSS), mib(hi.RSS))
		w("| goroutines | %d | %d | %d |\n", first.Goroutines, last.Goroutines, hi.Goroutines)
		w("| open file descriptors | %d | %d | %d |\n", first.OpenFDs, last.OpenFDs, hi.OpenFDs)
		w("| connections to PostgreSQL | %d | %d | %d |\n", first.PostgresConns, last.PostgresConns, hi.PostgresConns)
		w("| connections to the API server | %d | %d | %d |\n\n", first.APIConns, last.APIConns, hi.APIConns)
	}

	w("| outage | down for | `/candidates` failures until recovered | sweeps started while down (exact) | first sweep after the restart ended |\n|---|---:|---:|---:|---:|\n")
	for _, oc := range s.Outcomes() {
		exact := 0
		for _, c := range oc.During {
			if c.Exact() {
				exact++
			}
		}
		rec := "never"
		if !oc.Recovered.IsZero() {
			rec = fmt.Sprintf("%s after", dur(oc.Recovered.Sub(oc.Up)))
		}
		w("| %s | %s | %d | %d (%d) | %s |\n", oc.What, dur(oc.Up.Sub(oc.Down)), oc.Failed, len(oc.During), exact, rec)
	}
	w("\n")

	w("Every check, by minute of the run (from the first sweep judged):\n\n")
	w("| minute | sweeps | exact | listed | settled orphans | unsettled (max) | missing | extra | reclaimable | false reclaimable | failed answers | RSS | goroutines | fds | PG / API conns | load 1m |\n")
	w("|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range s.minutes() {
		w("| %d | %d | %d | %s | %s | %d | %d | %d | %d | %d | %d | %s | %s | %s | %s | %s |\n", row.minute, row.t.Checks, row.t.Exact, row.listed, row.expected,
			row.t.MaxUnsettled, row.t.Missing, row.t.Extra, row.t.Reclaimable, row.t.FalseNotOrphan+row.t.FalseUnsettle, row.failed,
			row.rss, row.goroutines, row.fds, row.conns, row.load)
	}
	w("\n")
	var off []Check
	for _, c := range s.Checks {
		if !c.Exact() || c.ReclaimableFalse() > 0 {
			off = append(off, c)
		}
	}
	if len(off) == 0 {
		w("No check missed a settled orphan, listed a settled non-orphan, or marked a non-orphan reclaimable.\n")
	} else {
		w("Checks that were not exact or had a reclaimable false positive (at most 20):\n\n")
		why := func(names []string, c Check) string {
			out := make([]string, len(names))
			for i, n := range names {
				out[i] = "`" + n + "`"
				if c.Why[n] != "" {
					out[i] += " (" + c.Why[n] + ")"
				}
			}
			if len(out) == 0 {
				return "none"
			}
			return strings.Join(out, ", ")
		}
		for _, c := range off[:min(20, len(off))] {
			w("- sweep at %s UTC (%s): missing %s; extra %s; reclaimable non-orphans %s; reclaimable while changing %s\n",
				c.Sweep.UTC().Format("15:04:05.000"), dur(c.Duration), why(c.Missing, c), why(c.Extra, c), why(c.FalseNotOrphan, c), why(c.FalseUnsettle, c))
		}
	}
	return b.String()
}

func notAll(n, of int) string {
	if n == of {
		return ""
	}
	return fmt.Sprintf(" (**%d not exact**)", of-n)
}

type minuteRow struct {
	minute                            int
	t                                 SoakTotals
	listed, expected                  string
	failed                            int
	rss, goroutines, fds, conns, load string
}

// minutes groups the checks, failed answers and samples by minute since the
// first check.
func (s *Soak) minutes() []minuteRow {
	if len(s.Checks) == 0 {
		return nil
	}
	t0 := s.Checks[0].Sweep
	idx := func(at time.Time) int { return max(0, int(at.Sub(t0)/time.Minute)) }
	n := idx(s.Checks[len(s.Checks)-1].Sweep) + 1
	for _, x := range s.Samples {
		n = max(n, idx(x.At)+1)
	}
	checks := make([][]Check, n)
	for _, c := range s.Checks {
		checks[idx(c.Sweep)] = append(checks[idx(c.Sweep)], c)
	}
	rows := make([]minuteRow, n)
	for i := range rows {
		rows[i] = minuteRow{minute: i, t: Totals(checks[i]), listed: "—", expected: "—", rss: "—", goroutines: "—", fds: "—", conns: "—", load: "—"}
		if cs := checks[i]; len(cs) > 0 {
			rows[i].listed = spread(cs, func(c Check) int { return c.Listed })
			rows[i].expected = spread(cs, func(c Check) int { return c.Expected })
		}
	}
	for _, f := range s.Failed {
		if i := idx(f); i < n {
			rows[i].failed++
		}
	}
	for _, x := range s.Samples {
		r := &rows[min(idx(x.At), n-1)]
		r.rss, r.goroutines, r.fds = mib(x.RSS), fmt.Sprint(x.Goroutines), fmt.Sprint(x.OpenFDs)
		r.conns, r.load = fmt.Sprintf("%d / %d", x.PostgresConns, x.APIConns), x.LoadAvg1m
	}
	return rows
}

// spread is "lo–hi" of f over cs, or one number when they are equal.
func spread(cs []Check, f func(Check) int) string {
	lo, hi := f(cs[0]), f(cs[0])
	for _, c := range cs[1:] {
		lo, hi = min(lo, f(c)), max(hi, f(c))
	}
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d–%d", lo, hi)
}
