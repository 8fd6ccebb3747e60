package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/kube"
)

// FreshUser is the exporter's identity in the fresh-check measurement.
const FreshUser = "orphans-bench-fresh"

// FreshChecks is how many fresh checks the measurement makes, one after
// another as `kubectl orphans reclaim` makes them.
const FreshChecks = 200

// Fresh is the measurement of fresh checks while the contents loop is busy:
// the exporter with the default contents settings on a fleet whose
// candidates are far more than the loop reads in one interval, so that it
// reads all the time; meanwhile, fresh checks of candidates, one after
// another.
type Fresh struct {
	Size       Size
	Candidates int
	Started    time.Time
	Finished   time.Time
	LoadBefore string
	LoadAfter  string
	// Took are the answered checks' times; Codes counts the answers by
	// status; Unread the 200 answers without contents or with a failed read.
	Took   []time.Duration
	Codes  map[int]int
	Unread int
	// LoopRequests are the contents loop's requests while the checks ran
	// (the exporter's count, less the fresh checks' own).
	LoopRequests int
	Window       time.Duration
}

func runFresh(ctx context.Context, o Options, size Size, machine *Machine) (*Fresh, error) {
	f := &Fresh{Size: size, Started: time.Now(), LoadBefore: loadAverage(), Codes: map[int]int{}}
	b, err := newBed(ctx, o, size, []string{FreshUser}, machine)
	if err != nil {
		return nil, err
	}
	defer b.stop()
	f.Candidates = len(b.fleet.Orphans)
	if err := b.fleet.CreateContents(ctx, b.cp.Admin, o.Workers); err != nil {
		return nil, err
	}
	// The default contents settings; no ghost sweep.
	proc, err := b.startExporter(o, "fresh", FreshUser, "--ghosts.interval=0s")
	if err != nil {
		return nil, err
	}
	defer proc.stop()

	// The loop starts reading right after the first sweep that lists the
	// candidates.
	deadline := time.Now().Add(10 * time.Minute)
	for {
		if err := proc.alive(); err != nil {
			return nil, err
		}
		// Until the exporter listens, the connection is refused.
		doc, _, err := candidates(ctx, proc.url)
		if err == nil && doc != nil && doc.Sweep.OK && len(doc.Candidates) == f.Candidates {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("fresh: the exporter did not list the fleet's %d candidates within 10m (last: %v); log tail:\n%s", f.Candidates, err, tail(proc.logPath, 20))
		}
		time.Sleep(time.Second)
	}
	before, err := metricSum(ctx, proc.metricsURL, contentsRequestsMetric)
	if err != nil {
		return nil, err
	}
	o.progress("size %s: %d candidates listed; the contents loop reads; %d fresh checks follow", size, f.Candidates, FreshChecks)

	orphans := b.fleet.OrphanNamespaces()
	rng := rand.New(rand.NewPCG(uint64(size.N), 7))
	start := time.Now()
	for range FreshChecks {
		ns := orphans[rng.IntN(len(orphans))]
		code, body, took, err := get(ctx, proc.url+"/candidates/"+ns)
		if err != nil {
			return nil, err
		}
		f.Codes[code]++
		if code != http.StatusOK {
			continue
		}
		f.Took = append(f.Took, took)
		var c api.Candidate
		if err := json.Unmarshal(body, &c); err != nil {
			return nil, fmt.Errorf("fresh: /candidates/%s: %w", ns, err)
		}
		if c.Contents == nil || c.Contents.Error != "" {
			f.Unread++
		}
	}
	f.Window = time.Since(start)
	after, err := metricSum(ctx, proc.metricsURL, contentsRequestsMetric)
	if err != nil {
		return nil, err
	}
	f.LoopRequests = int(after-before) - kube.ContentsOptions{}.RequestsPerNamespace()*f.Codes[http.StatusOK]
	f.LoadAfter, f.Finished = loadAverage(), time.Now()
	o.progress("size %s: fresh checks p50 %s, p99 %s, max %s; answers %v; the loop made %d requests meanwhile",
		size, percentile(f.Took, 0.5).Round(time.Millisecond), percentile(f.Took, 0.99).Round(time.Millisecond),
		percentile(f.Took, 1).Round(time.Millisecond), f.Codes, f.LoopRequests)
	return f, nil
}

// FreshHeading starts the section of the fresh-check measurement; `bench
// --fresh-only` rewrites it alone (ReplaceSection).
const FreshHeading = "## Fresh checks while the contents loop reads"

// freshTargetP99 is the most a fresh check of a candidate may take at p99
// while the contents loop reads.
const freshTargetP99 = 2 * time.Second

// Targets checks the measurement: every check answered 200 with contents,
// at p99 within freshTargetP99, while the loop kept reading.
func (f *Fresh) Targets() []Target {
	var ts []Target
	at := fmt.Sprintf(" with %s candidates", num(f.Candidates))
	p99 := percentile(f.Took, 0.99)
	check(&ts, "fresh check of a candidate p99 < 2 s while the contents loop reads"+at,
		p99 < freshTargetP99 && f.Codes[http.StatusOK] == FreshChecks && f.LoopRequests > 0,
		fmt.Sprintf("%s (%d of %d answered 200; the loop made %s requests meanwhile)", dur(p99), f.Codes[http.StatusOK], FreshChecks, num(f.LoopRequests)),
		overBy(p99, freshTargetP99))
	check(&ts, "every fresh check of a candidate reads its contents"+at, f.Unread == 0 && len(f.Took) > 0,
		fmt.Sprintf("%d of %d without contents", f.Unread, len(f.Took)), "")
	return ts
}

// Markdown is the measurement's section of the report.
func (f *Fresh) Markdown(o Options, m Machine) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("%s\n\n", FreshHeading)
	w("The exporter with the default contents settings (`--contents.interval=5m`, `--contents.qps=5`, `--contents.budget=1000`, `--contents.fresh-qps=10`) on a fleet of %s namespaces and %s rows, laid out as in the comparison: %s candidates, whose contents the loop cannot read in one interval, so it reads all the time. Each candidate's namespace holds %d pods and %d PVCs. Once the candidates are listed, %d fresh checks (`GET /candidates/{namespace}`) of candidates drawn at random, one after another as `kubectl orphans reclaim` makes them.\n\n",
		num(f.Size.N), num(f.Size.M), num(f.Candidates), OrphanPods, OrphanPVCs, FreshChecks)
	w("- **Date:** %s (the measurement took %s)\n", f.Started.UTC().Format("2006-01-02 15:04 MST"), f.Finished.Sub(f.Started).Round(time.Minute))
	w("- **Command:** %s\n", commandLine(o))
	w("- **Machine:** %s cores (%s), %s memory, Linux %s; Go %s; PostgreSQL %s; kube-apiserver %s; shared with other work while it ran (load average over 1, 5 and 15 minutes before %s, after %s)\n\n",
		m.Cores, m.CPU, m.Memory, m.Kernel, m.Go, m.Postgres, m.KubeAPIServer, f.LoadBefore, f.LoadAfter)
	w("| | |\n|---|---|\n")
	w("| fresh checks: p50 / p99 / max | %s / %s / %s |\n", dur(percentile(f.Took, 0.5)), dur(percentile(f.Took, 0.99)), dur(percentile(f.Took, 1)))
	w("| answers by status | %s |\n", codes(f.Codes))
	w("| answers without contents or with a failed read | %d |\n", f.Unread)
	w("| the contents loop's requests meanwhile (exporter's count, less the checks' own) | %s in %s |\n", num(f.LoopRequests), dur(f.Window))
	w("\n### Targets of the fresh check\n\n")
	targetTable(w, f.Targets())
	w("\n")
	return b.String()
}

func codes(m map[int]int) string {
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d: %d", code, m[code]))
	}
	return strings.Join(parts, ", ")
}
