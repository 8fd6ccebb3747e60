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
}

// GhostSweeper owns the ghost sweep loop and its latest snapshot. It runs
// apart from the orphan sweep: its failures never touch the candidates.
type GhostSweeper struct {
	cfg     Config
	log     *slog.Logger
	ns      NamespaceSource
	ledger  GhostLedger
	metrics *ghostMetrics
	now     func() time.Time
	redact  *logsafe.Redactor

	// mu makes ghost sweeps one at a time, so a streak counts each once.
	mu     sync.Mutex
	latest atomic.Pointer[GhostSnapshot]
}

func newGhostSweeper(cfg Config, log *slog.Logger, ns NamespaceSource, led GhostLedger, m *ghostMetrics, now func() time.Time) *GhostSweeper {
	g := &GhostSweeper{cfg: cfg, log: log, ns: ns, ledger: led, metrics: m, now: now, redact: cfg.Redactor()}
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

	res, live, stage, err := g.compute(ctx, prev, start)
	elapsed := g.now().Sub(start)
	g.metrics.duration.Observe(elapsed.Seconds())
	if err != nil {
		msg := g.redact.Redact(stage + ": " + err.Error())
		g.latest.Store(&GhostSnapshot{GeneratedAt: start, Completed: true, Enabled: true, Err: msg, Duration: elapsed,
			State: prev.State.AfterFailure()})
		g.log.Error("ghosts.failed", "stage", stage, "err", msg, "duration", elapsed)
		return
	}
	g.latest.Store(&GhostSnapshot{GeneratedAt: start, Completed: true, Enabled: true, OK: true, Duration: elapsed,
		LiveTokens: live, Ghosts: res.Ghosts, State: res.State})

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
		"resolved", len(res.Resolved), "duration", elapsed)
}

// maxGhostChangesLogged bounds the ghost.detected and ghost.resolved lines
// of one ghost sweep; a summary line counts the rest.
const maxGhostChangesLogged = 20

func (g *GhostSweeper) compute(ctx context.Context, prev *GhostSnapshot, now time.Time) (sweep.GhostResult, int, string, error) {
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
	var found []sweep.LiveRow
	live, err := g.ledger.Scan(ctx, now.Add(-g.cfg.Ghosts.Policy.Grace), known, func(r sweep.LiveRow) error {
		found = append(found, r)
		// Without a selector every row found is a ghost: once the guard's
		// refusal is certain, stop reading, so that a ledger read without
		// its filter never holds millions of rows in memory. (With one,
		// the API server may yet find their namespaces.)
		if g.cfg.Selector == "" && sweep.GhostsSurelyImplausible(len(found), len(known), g.cfg.Ghosts.Policy) {
			return fmt.Errorf("%w: %d live tokens past grace without a namespace against %d namespaces, above the limit of %.0f%% "+
				"whatever the rest of the ledger holds; stopped reading. Check that the namespace cache, --namespace.prefix and "+
				"the ledger belong to this cluster (--ghosts.filter-column, --sweep.max-candidate-fraction)",
				sweep.ErrImplausible, len(found), len(known), g.cfg.Ghosts.Policy.MaxFraction*100)
		}
		return nil
	})
	if errors.Is(err, sweep.ErrImplausible) {
		return sweep.GhostResult{}, 0, StageGuard, err
	}
	if err != nil {
		return sweep.GhostResult{}, 0, StageLedger, err
	}
	// The watch may have broken while the ledger answered.
	if err := g.ns.Healthy(); err != nil {
		return sweep.GhostResult{}, 0, StageKubernetes, err
	}
	if g.cfg.Selector != "" {
		if found, err = g.confirm(ctx, found); err != nil {
			return sweep.GhostResult{}, 0, StageKubernetes, err
		}
	}
	res, err := sweep.DecideGhosts(found, live, g.cfg.Ghosts.Policy, prev.State, now)
	if err != nil {
		stage := StageLedger
		if errors.Is(err, sweep.ErrImplausible) {
			stage = StageGuard
		}
		return sweep.GhostResult{}, 0, stage, err
	}
	return res, live, "", nil
}

// confirm keeps the rows whose namespace the API server does not have. The
// cache holds only the namespaces --namespace.selector selects; a tenant's
// namespace may exist without its labels.
func (g *GhostSweeper) confirm(ctx context.Context, rows []sweep.LiveRow) ([]sweep.LiveRow, error) {
	out := rows[:0]
	for _, r := range rows {
		name := g.cfg.Policy.Prefix + r.Token
		if len(validation.IsDNS1123Label(name)) == 0 {
			_, found, err := g.ns.Get(ctx, name)
			if err != nil {
				return nil, err
			}
			if found {
				continue
			}
		}
		out = append(out, r)
	}
	return out, nil
}

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
