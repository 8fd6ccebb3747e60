package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/testenv"
)

// Users of the features measurement, one per run, so the audit log tells
// the runs apart.
const (
	PlainUser    = "orphans-bench-plain"
	GhostsUser   = "orphans-bench-ghosts"
	ContentsUser = "orphans-bench-contents"
)

// Flags of the three runs of the features measurement, after the bench's
// own; the runs differ only in the feature measured. The ledger is shared
// with another cluster, whose live tenants have no namespace here, so the
// ghost sweep reads this cluster's rows only (--ghosts.filter-column), as
// it must on such a ledger.
var (
	plainFlags    = []string{"--ghosts.interval=0s", "--contents.interval=0s"}
	contentsFlags = []string{"--ghosts.interval=0s", "--contents.interval=" + contentsInterval.String()}
)

// contentsInterval is the contents run's --contents.interval: long enough
// that no periodic refresh falls into its window, which starts after the
// first refresh.
const contentsInterval = 10 * time.Minute

func ghostFlags(interval time.Duration) []string {
	return []string{"--ghosts.interval=" + interval.String(), "--ghosts.filter-column=" + ClusterColumn,
		"--ghosts.filter-value=" + Cluster, "--contents.interval=0s"}
}

const contentsRequestsMetric = "instant_orphan_db_sweep_contents_requests_total"

// Features is the measurement of the ghost sweep and of contents at one
// size: the exporter three times on the same fleet, (a) without either, (b)
// with the ghost sweep, (c) with contents, while the candidates' namespaces
// hold pods and PVCs.
type Features struct {
	Size              Size
	Started, Finished time.Time
	Orphans           int
	// LoadLedger, Create and CreateContents are how long the ledger, the
	// namespaces and the candidates' pods and PVCs took.
	LoadLedger, Create, CreateContents time.Duration
	LoadBefore, LoadAfter              string
	// The 1-, 5- and 15-minute load averages before and after each run, in
	// the order plain, ghosts, contents: the machine is shared.
	RunLoadBefore, RunLoadAfter [3]string
	GhostInterval               time.Duration

	Plain, Ghosts, Contents *Phase

	// FleetGhosts is how many ghosts the fleet holds; ReportedGhosts how
	// many /ghosts listed after the ghost run's window.
	FleetGhosts, ReportedGhosts int
	// LiveRows are the ledger's live rows, OtherLiveRows those of them that
	// are the other cluster's.
	LiveRows, OtherLiveRows int

	// The first contents refresh, before the contents run's window: the
	// contents user's requests by verb (audit log), from the first to the
	// last received, the exporter's own count of them, and the orphan
	// sweeps that ran meanwhile.
	RefreshRequests map[string]int
	Refresh         time.Duration
	RefreshCounted  int
	RefreshSweeps   []time.Duration
	// WindowCounted is the exporter's count of contents requests in the
	// contents run's window.
	WindowCounted int
	// What /candidates said the candidates hold after the window.
	Pods, PodsRunning, PVCs int
	StorageBytes            int64

	// Agree is true when every run found exactly the fleet's orphans, the
	// ghost run its ghosts, and the contents run what the candidates hold.
	Agree    bool
	Mismatch string
}

func runFeatures(ctx context.Context, o Options, size Size, machine *Machine) (*Features, error) {
	f := &Features{Size: size, Started: time.Now(), LoadBefore: loadAverage(), GhostInterval: o.GhostInterval, Agree: true}
	b, err := newBed(ctx, o, size, []string{PlainUser, GhostsUser, ContentsUser}, machine)
	if err != nil {
		return nil, err
	}
	defer b.stop()
	f.Orphans, f.LoadLedger, f.Create = len(b.fleet.Orphans), b.loadLedger, b.create
	ghosts := b.fleet.Ghosts()
	f.FleetGhosts = len(ghosts)
	f.LiveRows, f.OtherLiveRows = b.fleet.LiveRows()
	start := time.Now()
	if err := b.fleet.CreateContents(ctx, b.cp.Admin, o.Workers); err != nil {
		return nil, err
	}
	f.CreateContents = time.Since(start)
	o.progress("size %s: %d pods and %d PVCs created in the %d orphans' namespaces in %s; the fleet holds %d ghosts",
		size, OrphanPods*f.Orphans, OrphanPVCs*f.Orphans, f.Orphans, f.CreateContents.Round(time.Second), f.FleetGhosts)
	want := b.fleet.OrphanNamespaces()
	disagree := func(format string, args ...any) {
		f.Agree = false
		f.Mismatch += fmt.Sprintf(format, args...) + "; "
	}
	found := func(ph *Phase) {
		if !equal(ph.Found, want) {
			disagree("%s found %d candidates, the fleet has %d orphans", ph.Name, len(ph.Found), len(want))
		}
	}

	// (a) neither
	f.RunLoadBefore[0] = loadAverage()
	f.Plain, err = b.runExporter(ctx, o, "plain", PlainUser, phaseSpec{}, nil, plainFlags...)
	if err != nil {
		return nil, err
	}
	found(f.Plain)
	f.RunLoadAfter[0] = loadAverage()

	// (b) the ghost sweep
	f.RunLoadBefore[1] = loadAverage()
	f.Ghosts, err = b.runExporter(ctx, o, "ghosts", GhostsUser, phaseSpec{ghostSweeps: o.Sweeps}, func(proc *process) error {
		listed, err := ghostTokens(ctx, proc.url)
		if err != nil {
			return err
		}
		f.ReportedGhosts = len(listed)
		if !equal(listed, ghosts) {
			disagree("/ghosts listed %d ghosts, the fleet has %d", len(listed), len(ghosts))
		}
		return nil
	}, ghostFlags(o.GhostInterval)...)
	if err == nil && f.Ghosts.Ghosts != len(ghosts) {
		disagree("the ghost gauges said %d ghosts, the fleet has %d", f.Ghosts.Ghosts, len(ghosts))
	}
	if err != nil {
		return nil, err
	}
	found(f.Ghosts)
	f.RunLoadAfter[1] = loadAverage()

	// (c) contents
	f.RunLoadBefore[2] = loadAverage()
	settle := func(ctx context.Context, proc *process) error { return f.awaitRefresh(ctx, o, b, proc) }
	f.Contents, err = b.runExporter(ctx, o, "contents", ContentsUser, phaseSpec{settle: settle}, func(proc *process) error {
		return f.readContents(ctx, proc, disagree)
	}, contentsFlags...)
	if err != nil {
		return nil, err
	}
	found(f.Contents)
	f.RunLoadAfter[2] = loadAverage()
	f.LoadAfter, f.Finished = loadAverage(), time.Now()
	o.progress("size %s: orphan sweep median %s plain, %s with ghosts, %s with contents; ghost sweep median %s; contents refresh %s",
		size, percentile(f.Plain.Sweeps, 0.5).Round(time.Microsecond), percentile(f.Ghosts.Sweeps, 0.5).Round(time.Microsecond),
		percentile(f.Contents.Sweeps, 0.5).Round(time.Microsecond), percentile(f.Ghosts.GhostSweeps, 0.5).Round(time.Millisecond),
		f.Refresh.Round(time.Millisecond))
	return f, nil
}

// ghostTokens reads GET /ghosts and returns the ghosts' tokens, sorted.
func ghostTokens(ctx context.Context, base string) ([]string, error) {
	code, body, _, err := get(ctx, base+"/ghosts")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("/ghosts: %d: %.200s", code, body)
	}
	var doc api.Ghosts
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("/ghosts: %w", err)
	}
	if !doc.Sweep.OK {
		return nil, fmt.Errorf("/ghosts: the ghost sweep failed: %s", doc.Sweep.Error)
	}
	tokens := make([]string, len(doc.Ghosts))
	for i, g := range doc.Ghosts {
		tokens[i] = g.Token
	}
	slices.Sort(tokens)
	return tokens, nil
}

// awaitRefresh waits, after the first sweep, until every candidate of the
// latest sweep carries its contents: the first refresh is then over. It
// times the orphan sweeps meanwhile and counts the refresh's requests.
func (f *Features) awaitRefresh(ctx context.Context, o Options, b *bed, proc *process) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	var last time.Time
	for first := true; ; {
		if err := proc.alive(); err != nil {
			return err
		}
		doc, _, err := candidates(ctx, proc.url)
		if err != nil {
			return err
		}
		if doc != nil && doc.Sweep.OK && doc.GeneratedAt.After(last) {
			last = doc.GeneratedAt
			read := 0
			for _, c := range doc.Candidates {
				if c.Contents != nil {
					read++
				}
			}
			if len(doc.Candidates) > 0 && read == len(doc.Candidates) {
				break
			}
			// The first answer may be the first sweep's, which ran before the refresh.
			if !first {
				f.RefreshSweeps = append(f.RefreshSweeps, seconds(doc.Sweep.DurationSeconds))
			}
			first = false
		}
		if ctx.Err() != nil {
			return fmt.Errorf("contents: the candidates' contents were not all read within 30m; log tail:\n%s", tail(proc.logPath, 20))
		}
		time.Sleep(2 * o.Pace)
	}
	var received []time.Time
	f.RefreshRequests = map[string]int{}
	_, err := b.cp.AuditEvents(func(e testenv.AuditEvent) bool {
		// The informer lists and watches namespaces, and the first sweep
		// reads kube-system's UID; every contents read is inside one
		// candidate's namespace.
		if e.User.Username == ContentsUser && e.IsRequest() && e.ObjectRef != nil && strings.HasPrefix(e.ObjectRef.Namespace, Prefix) {
			f.RefreshRequests[e.Verb]++
			received = append(received, e.Received)
		}
		return false
	})
	if err != nil {
		return err
	}
	if len(received) > 0 {
		slices.SortFunc(received, func(a, b time.Time) int { return a.Compare(b) })
		f.Refresh = received[len(received)-1].Sub(received[0])
	}
	n, err := metricSum(ctx, proc.metricsURL, contentsRequestsMetric)
	if err != nil {
		return err
	}
	f.RefreshCounted = int(n)
	o.progress("size %s: contents refresh of %d candidates: %s in %s", b.size, f.Orphans, verbs(f.RefreshRequests), f.Refresh.Round(time.Millisecond))
	return nil
}

// readContents reads, after the contents run's window, the exporter's count
// of contents requests and what /candidates says the candidates hold, and
// checks it against the fleet.
func (f *Features) readContents(ctx context.Context, proc *process, disagree func(string, ...any)) error {
	n, err := metricSum(ctx, proc.metricsURL, contentsRequestsMetric)
	if err != nil {
		return err
	}
	f.WindowCounted = int(n) - f.RefreshCounted
	doc, _, err := candidates(ctx, proc.url)
	if err != nil {
		return err
	}
	if doc == nil {
		return fmt.Errorf("contents: /candidates did not answer 200 after the window")
	}
	var unread, failed, odd int
	for _, c := range doc.Candidates {
		switch ct := c.Contents; {
		case ct == nil:
			unread++
		case ct.Error != "":
			failed++
		default:
			f.Pods += ct.Pods
			f.PodsRunning += ct.PodsRunning
			f.PVCs += ct.PVCs
			f.StorageBytes += ct.StorageRequestedBytes
			if ct.Pods != OrphanPods || ct.PVCs != OrphanPVCs || ct.StorageRequestedBytes != OrphanPVCs*OrphanPVCBytes {
				odd++
			}
		}
	}
	if unread+failed+odd > 0 || len(doc.Candidates) != f.Orphans {
		disagree("contents of %d candidates: %d not read, %d failed, %d other than the fleet's %d pods and %d PVCs",
			len(doc.Candidates), unread, failed, odd, OrphanPods, OrphanPVCs)
	}
	return nil
}
