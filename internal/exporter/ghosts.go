package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/logsafe"
	"github.com/orphansweep/orphans/internal/sweep"
)

// GhostLedger is the ledger as a ghost sweep reads it: the live tokens past
// grace that match none of the known namespace tokens, streamed; and how many
// live tokens past grace there were.
type GhostLedger interface {
	Scan(ctx context.Context, cutoff time.Time, known []string, visit func(sweep.LiveRow) error) (int, error)
}

// NamespaceGetter reads one namespace from the API server now.
type NamespaceGetter interface {
	Get(ctx context.Context, name string) (sweep.Namespace, bool, error)
}

// GhostSnapshot is the immutable outcome of one ghost sweep.
type GhostSnapshot struct {
	GeneratedAt time.Time
	// Completed is false until the first ghost sweep (or the disabled notice).
	Completed bool
	Enabled   bool
	OK        bool
	Err       string
	Duration  time.Duration
	// LiveTokens is how many tokens had a live row past grace.
	LiveTokens int
	Ghosts     []sweep.Ghost
	State      sweep.GhostState
	// RowsHeld is the most ledger rows the sweep held at once.
	RowsHeld int
}

// GhostSweeper owns the ghost sweep loop and its latest snapshot. It runs
// apart from the orphan sweep: its failures never touch the candidates.
type GhostSweeper struct {
	cfg Config
	log *slog.Logger
	ns  NamespaceSource
	// getter confirms ghosts under --namespace.selector, through a limiter
	// of its own.
	getter  NamespaceGetter
	ledger  GhostLedger
	metrics *ghostMetrics
	now     func() time.Time
	redact  *logsafe.Redactor

	// mu makes ghost sweeps one at a time, so a streak counts each once.
	mu     sync.Mutex
	latest atomic.Pointer[GhostSnapshot]
}

func newGhostSweeper(cfg Config, log *slog.Logger, ns NamespaceSource, getter NamespaceGetter, led GhostLedger, m *ghostMetrics, now func() time.Time) *GhostSweeper {
	g := &GhostSweeper{cfg: cfg, log: log, ns: ns, getter: getter, ledger: led, metrics: m, now: now, redact: cfg.Redactor()}
	first := &GhostSnapshot{Enabled: true, State: sweep.GhostState{}}
	if !cfg.Ghosts.Enabled {
		first = &GhostSnapshot{GeneratedAt: now(), Completed: true, Err: cfg.Ghosts.Off, State: sweep.GhostState{}}
	}
	g.latest.Store(first)
	return g
}

// Latest returns the current ghost snapshot.
func (g *GhostSweeper) Latest() *GhostSnapshot { return g.latest.Load() }

// Run looks for ghosts every --ghosts.interval until ctx ends.
func (g *GhostSweeper) Run(ctx context.Context) {
	if !g.cfg.Ghosts.Enabled {
		return
	}
	every(ctx, g.ns, g.cfg.Ghosts.Interval, g.SweepOnce)
}

// SweepOnce runs one ghost sweep and publishes its snapshot.
func (g *GhostSweeper) SweepOnce(ctx context.Context) {
	if !g.cfg.Ghosts.Enabled {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	start := g.now()
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Ghosts.Timeout)
	defer cancel()
	prev := g.latest.Load()

	held := &heldRows{}
	res, live, stage, err := g.compute(ctx, prev, start, held)
	elapsed := g.now().Sub(start)
	g.metrics.duration.Observe(elapsed.Seconds())
	if err != nil {
		msg := g.redact.Redact(stage + ": " + err.Error())
		g.latest.Store(&GhostSnapshot{GeneratedAt: start, Completed: true, Enabled: true, Err: msg, Duration: elapsed,
			State: prev.State.AfterFailure(), RowsHeld: held.peak})
		g.log.Error("ghosts.failed", "stage", stage, "err", msg, "duration", elapsed, "rows_held", held.peak)
		return
	}
	g.latest.Store(&GhostSnapshot{GeneratedAt: start, Completed: true, Enabled: true, OK: true, Duration: elapsed,
		LiveTokens: live, Ghosts: res.Ghosts, State: res.State, RowsHeld: held.peak})

	ns := func(name string) logsafe.Namespace { return logsafe.Namespace{Name: name, Prefix: g.cfg.Policy.Prefix} }
	// One line per change, up to a bound: a first sweep over a misconfigured
	// ledger may find every live token a ghost, and /ghosts lists them all.
	detected := res.Detected[:min(len(res.Detected), maxGhostChangesLogged)]
	wanted := make(map[string]bool, len(detected))
	for _, d := range detected {
		wanted[d.Token] = true
	}
	for _, gh := range res.Ghosts {
		if wanted[gh.Token] {
			g.log.Warn("ghost.detected", "namespace", ns(gh.Namespace), "token", logsafe.Token(gh.Token), "kind", gh.Kind,
				"resource_type", gh.ResourceType, "status", gh.Status, "row_created_at", gh.RowCreatedAt)
		}
	}
	if more := len(res.Detected) - len(detected); more > 0 {
		g.log.Warn("ghost.detected_more", "not_logged", more, "see", "/ghosts")
	}
	for _, r := range res.Resolved[:min(len(res.Resolved), maxGhostChangesLogged)] {
		g.log.Info("ghost.resolved", "namespace", ns(r.Namespace), "token", logsafe.Token(r.Token), "kind", r.Kind)
	}
	if more := len(res.Resolved) - maxGhostChangesLogged; more > 0 {
		g.log.Info("ghost.resolved_more", "not_logged", more)
	}
	g.log.Info("ghosts.completed", "ghosts", len(res.Ghosts), "live_tokens", live, "detected", len(res.Detected),
		"resolved", len(res.Resolved), "duration", elapsed, "rows_held", held.peak)
}

// maxGhostChangesLogged bounds the ghost.detected and ghost.resolved lines
// of one ghost sweep; a summary line counts the rest.
const maxGhostChangesLogged = 20

func (g *GhostSweeper) compute(ctx context.Context, prev *GhostSnapshot, now time.Time, held *heldRows) (sweep.GhostResult, int, string, error) {
	// An unsynced or broken cache would make every live token a ghost.
	if err := g.ns.Healthy(); err != nil {
		return sweep.GhostResult{}, 0, StageKubernetes, err
	}
	prefix := g.cfg.Policy.Prefix
	var known []string
	for _, n := range g.ns.List() {
		// Any namespace of the token counts, whatever its state or labels.
		if tok, ok := strings.CutPrefix(n.Name, prefix); ok && tok != "" {
			known = append(known, tok)
		}
	}
	cutoff := now.Add(-g.cfg.Ghosts.Policy.Grace)
	var (
		live int
		err  error
	)
	if g.cfg.Selector == "" {
		live, err = g.scan(ctx, cutoff, known, held)
	} else {
		live, err = g.scanConfirming(ctx, cutoff, known, held)
	}
	var confirming *confirmError
	switch {
	case errors.Is(err, sweep.ErrImplausible):
		return sweep.GhostResult{}, 0, StageGuard, err
	case errors.As(err, &confirming):
		return sweep.GhostResult{}, 0, StageKubernetes, confirming.err
	case err != nil:
		return sweep.GhostResult{}, 0, StageLedger, err
	}
	// The watch may have broken while the ledger answered.
	if err := g.ns.Healthy(); err != nil {
		return sweep.GhostResult{}, 0, StageKubernetes, err
	}
	res, err := sweep.DecideGhosts(held.rows, live, g.cfg.Ghosts.Policy, prev.State, now)
	if err != nil {
		stage := StageLedger
		if errors.Is(err, sweep.ErrImplausible) {
			stage = StageGuard
		}
		return sweep.GhostResult{}, 0, stage, err
	}
	return res, live, "", nil
}

// heldRows are the live rows a ghost sweep holds in memory, and the most it
// held at once.
type heldRows struct {
	rows []sweep.LiveRow
	peak int
}

func (h *heldRows) add(r sweep.LiveRow) {
	h.rows = append(h.rows, r)
	h.peak = max(h.peak, len(h.rows))
}

// scan reads the ledger when the cache holds every namespace: each row it
// hands over is a ghost. Once the guard's refusal is certain it stops
// reading, so that a ledger read without its filter never holds millions of
// rows in memory.
func (g *GhostSweeper) scan(ctx context.Context, cutoff time.Time, known []string, held *heldRows) (int, error) {
	return g.ledger.Scan(ctx, cutoff, known, func(r sweep.LiveRow) error {
		held.add(r)
		if sweep.GhostsSurelyImplausible(len(held.rows), len(known), g.cfg.Ghosts.Policy) {
			return fmt.Errorf("%w: %d live tokens past grace without a namespace against %d namespaces, above the limit of %.0f%% "+
				"whatever the rest of the ledger holds; stopped reading. Check that the namespace cache, --namespace.prefix and "+
				"the ledger belong to this cluster (--ghosts.filter-column, --sweep.max-candidate-fraction)",
				sweep.ErrImplausible, len(held.rows), len(known), g.cfg.Ghosts.Policy.MaxFraction*100)
		}
		return nil
	})
}

// scanConfirming reads the ledger under --namespace.selector. The cache
// holds only the selected namespaces: a row without one there may yet have
// its namespace, unselected, and is a ghost only once a GET says there is
// none. How many ghosts the guard allows depends on how many live tokens
// the ledger holds, which only a whole read tells, so:
//
//   - the first read counts the live tokens, holding the rows without a
//     cached namespace only while they are no more than the guard allows
//     whatever that count (GhostsAlwaysAllowed: 10 with the defaults);
//   - if it held them all, each is confirmed by a GET;
//   - else a second read confirms each row as it comes and holds only the
//     ghosts.
//
// Either way the GETs stop, and the sweep is refused, as soon as the ghosts
// confirmed are more than the guard allows of the live tokens counted, and
// the sweep never holds more rows than the guard allows.
func (g *GhostSweeper) scanConfirming(ctx context.Context, cutoff time.Time, known []string, held *heldRows) (int, error) {
	p := g.cfg.Ghosts.Policy
	always, unheld := sweep.GhostsAlwaysAllowed(p), 0
	live, err := g.ledger.Scan(ctx, cutoff, known, func(r sweep.LiveRow) error {
		if len(held.rows) < always {
			held.add(r)
		} else {
			unheld++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if unheld == 0 {
		// The ghosts are kept in place, in the rows' own array.
		rows := held.rows
		held.rows = rows[:0]
		for _, r := range rows {
			if err := g.confirm(ctx, r, live, held); err != nil {
				return 0, err
			}
		}
		return live, nil
	}
	held.rows = nil
	return g.ledger.Scan(ctx, cutoff, known, func(r sweep.LiveRow) error { return g.confirm(ctx, r, live, held) })
}

// confirm holds r when its namespace does not exist, and refuses the sweep
// once the ghosts held are more than the guard allows of live tokens.
func (g *GhostSweeper) confirm(ctx context.Context, r sweep.LiveRow, live int, held *heldRows) error {
	// A token that makes no namespace name has no namespace: no request.
	if name := g.cfg.Policy.Prefix + r.Token; len(validation.IsDNS1123Label(name)) == 0 {
		_, found, err := g.getter.Get(ctx, name)
		if err != nil {
			return &confirmError{err}
		}
		if found {
			return nil
		}
	}
	held.add(r)
	if sweep.GhostsRefused(len(held.rows), live, g.cfg.Ghosts.Policy) {
		return fmt.Errorf("%w: %d of %d live tokens past grace have no namespace, above the limit of %.0f%% whatever the rest holds; "+
			"stopped confirming. Check that the namespace cache, --namespace.prefix and the ledger belong to this cluster "+
			"(--ghosts.filter-column, --sweep.max-candidate-fraction)",
			sweep.ErrImplausible, len(held.rows), live, g.cfg.Ghosts.Policy.MaxFraction*100)
	}
	return nil
}

// confirmError is a GET confirming a ghost that failed: a failure of the
// Kubernetes stage, though it may come out of the ledger's read.
type confirmError struct{ err error }

func (e *confirmError) Error() string { return e.err.Error() }
func (e *confirmError) Unwrap() error { return e.err }

// ghostsDoc serves GET /ghosts from the latest ghost snapshot.
func (s *Server) ghostsDoc(w http.ResponseWriter, _ *http.Request) {
	snap := s.ghosts.Latest()
	switch {
	case !snap.Enabled:
		s.writeJSON(w, http.StatusOK, ghostsDocument(snap))
	case !snap.Completed:
		s.writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: "no ghost sweep has completed yet"})
	case !snap.OK:
		// A failed ghost sweep says so; it never looks like a ledger without ghosts.
		s.writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: "latest ghost sweep failed: " + snap.Err})
	default:
		s.writeJSON(w, http.StatusOK, ghostsDocument(snap))
	}
}

func ghostsDocument(snap *GhostSnapshot) api.Ghosts {
	ghosts := make([]api.Ghost, len(snap.Ghosts))
	for i, g := range snap.Ghosts {
		ghosts[i] = api.Ghost{
			Token: g.Token, TokenMasked: logsafe.Mask(g.Token), Namespace: g.Namespace, Kind: sweep.KindOf(g.ResourceType),
			ResourceType: g.ResourceType, Status: g.Status, RowCreatedAt: g.RowCreatedAt.UTC(),
			FirstSeenAt: g.FirstSeenAt.UTC(), ConsecutiveSweeps: g.ConsecutiveSweeps,
		}
	}
	return api.Ghosts{
		GeneratedAt: snap.GeneratedAt.UTC(), Enabled: snap.Enabled,
		Sweep:  api.GhostSweep{OK: snap.OK, Error: snap.Err, DurationSeconds: snap.Duration.Seconds()},
		Ghosts: ghosts,
	}
}

// ghostMetrics are the ghost series: the duration histogram, and the gauges
// read from the latest ghost snapshot at scrape time.
type ghostMetrics struct {
	duration  prometheus.Histogram
	collector *ghostCollector
}

func newGhostMetrics(ns string, latest func() *GhostSnapshot) *ghostMetrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, subsystem, name), help, labels, nil)
	}
	return &ghostMetrics{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: subsystem, Name: "ghosts_duration_seconds",
			Help:    "Duration of ghost sweeps, failed ones included.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}),
		collector: &ghostCollector{
			latest:  latest,
			current: d("ghosts_current", "Tokens with a live ledger row past --ghosts.grace and no namespace, in the latest ghost sweep; 0 when it failed or ghosts are off.", "kind"),
			oldest:  d("oldest_ghost_age_seconds", "Age of the oldest ghost's live row (since its created column) in the latest ghost sweep; 0 when there is none.", "kind"),
			up:      d("ghosts_up", "1 when the latest ghost sweep succeeded, 0 when it failed, none has completed or ghosts are off."),
		},
	}
}

func (m *ghostMetrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.duration, m.collector} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

type ghostCollector struct {
	latest              func() *GhostSnapshot
	current, oldest, up *prometheus.Desc
}

func (c *ghostCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.current
	ch <- c.oldest
	ch <- c.up
}

func (c *ghostCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.latest()
	current := map[string]float64{}
	oldest := map[string]float64{}
	if s.OK {
		for _, g := range s.Ghosts {
			current[g.Kind]++
			if age := s.GeneratedAt.Sub(g.RowCreatedAt).Seconds(); age > oldest[g.Kind] {
				oldest[g.Kind] = age
			}
		}
	}
	for _, k := range api.Kinds {
		ch <- prometheus.MustNewConstMetric(c.current, prometheus.GaugeValue, current[k], k)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, oldest[k], k)
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, boolf(s.OK))
}

func (disabledSource) Scan(context.Context, time.Time, []string, func(sweep.LiveRow) error) (int, error) {
	return 0, errDisabled
}
