package exporter

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/logsafe"
	"github.com/orphansweep/orphans/internal/sweep"
)

// NamespaceSource is the cluster as the exporter sees it.
type NamespaceSource interface {
	// Healthy is nil when List can be trusted.
	Healthy() error
	Synced() bool
	// List returns cached namespaces without a request.
	List() []sweep.Namespace
	// Get reads one namespace from the API server.
	Get(ctx context.Context, name string) (sweep.Namespace, bool, error)
}

// LedgerSource is the system of record as the exporter sees it.
type LedgerSource interface {
	Lookup(ctx context.Context, tokens []string) (sweep.Facts, error)
}

// Snapshot is the immutable outcome of one sweep; readers get a pointer to
// it and never see it change.
type Snapshot struct {
	GeneratedAt time.Time
	// Completed is false until the first sweep (or the disabled notice).
	Completed      bool
	Enabled        bool
	Destructive    bool
	OK             bool
	Err            string
	Stage          string
	Duration       time.Duration
	LedgerDuration time.Duration
	InScope        int
	// Candidates are in wire form, tokens masked beside them.
	Candidates []api.Candidate
	// State carries streaks, digests and first sightings to the next sweep
	// and to fresh checks.
	State       sweep.State
	LastSuccess time.Time
}

// Sweeper owns the sweep loop and the latest snapshot: it recomputes the
// candidates on a ticker and publishes each outcome atomically.
type Sweeper struct {
	cfg     Config
	log     *slog.Logger
	ns      NamespaceSource
	ledger  LedgerSource
	metrics *metrics
	now     func() time.Time
	redact  *logsafe.Redactor

	latest atomic.Pointer[Snapshot]
	// sweeping serializes sweeps: each builds on the snapshot before it.
	sweeping sync.Mutex
	// unknownLogged holds the unknown status values already logged.
	unknownLogged map[string]bool
	// oddKeep holds the namespaces whose unclear keep label was logged, as
	// of the last sweep: each is logged once while it stays unclear.
	oddKeep map[string]bool
	// contents are the candidates' contents as last read, and contentsLoop
	// (nil when contents are off) is told of each successful sweep.
	contents     *contentsBook
	contentsLoop *contentsLoop
	// clusterUID is the kube-system namespace's UID, which names the cluster
	// in /candidates; read on the first sweep that can.
	clusterUID atomic.Pointer[string]
}

func newSweeper(cfg Config, log *slog.Logger, ns NamespaceSource, led LedgerSource, m *metrics, now func() time.Time) *Sweeper {
	s := &Sweeper{cfg: cfg, log: log, ns: ns, ledger: led, metrics: m, now: now, redact: cfg.Redactor(), unknownLogged: map[string]bool{}}
	first := &Snapshot{Enabled: cfg.Enabled, Destructive: cfg.Destructive, State: sweep.State{}}
	if !cfg.Enabled {
		first = &Snapshot{GeneratedAt: now(), Completed: true, Enabled: false, Destructive: cfg.Destructive,
			Err: "sweep disabled: " + EnvEnabled + " is not \"true\"", State: sweep.State{}}
	}
	s.latest.Store(first)
	return s
}

// Latest returns the current snapshot.
func (s *Sweeper) Latest() *Snapshot { return s.latest.Load() }

// ClusterUID is the UID of the cluster's kube-system namespace, or "" until
// it was read.
func (s *Sweeper) ClusterUID() string {
	if uid := s.clusterUID.Load(); uid != nil {
		return *uid
	}
	return ""
}

// ClusterNamespace is the namespace whose UID names a cluster: it exists in
// every cluster and is never re-created.
const ClusterNamespace = "kube-system"

// learnClusterUID reads the cluster's UID once; a failure is retried on the
// next sweep and never fails this one.
func (s *Sweeper) learnClusterUID(ctx context.Context) {
	if s.clusterUID.Load() != nil {
		return
	}
	ns, found, err := s.ns.Get(ctx, ClusterNamespace)
	switch {
	case err != nil:
		s.log.Warn("cluster.uid_unknown", "err", s.redact.Redact(err.Error()))
	case !found || ns.UID == "":
		s.log.Warn("cluster.uid_unknown", "err", "namespace "+ClusterNamespace+" not found")
	default:
		s.clusterUID.Store(&ns.UID)
	}
}

// Run sweeps every interval until ctx ends.
func (s *Sweeper) Run(ctx context.Context) {
	if !s.cfg.Enabled {
		return
	}
	every(ctx, s.ns, s.cfg.Interval, s.SweepOnce)
}

// SweepOnce runs one sweep and publishes its snapshot.
func (s *Sweeper) SweepOnce(ctx context.Context) {
	if !s.cfg.Enabled {
		return
	}
	s.sweeping.Lock()
	defer s.sweeping.Unlock()
	start := s.now()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	prev := s.latest.Load()
	s.learnClusterUID(ctx)

	res, ledgerTime, stage, err := s.compute(ctx, prev, start)
	elapsed := s.now().Sub(start)
	s.metrics.duration.Observe(elapsed.Seconds())
	if err != nil {
		s.fail(prev, start, elapsed, stage, err)
		return
	}
	next := &Snapshot{
		GeneratedAt: start, Completed: true, Enabled: true, Destructive: s.cfg.Destructive,
		OK: true, Duration: elapsed, LedgerDuration: ledgerTime, InScope: res.InScope,
		Candidates: wireCandidates(res.Candidates), State: res.State, LastSuccess: start,
	}
	s.contents.attach(next.Candidates)
	s.latest.Store(next)
	s.contentsLoop.notify()

	for _, d := range res.Detected {
		s.metrics.candidatesTotal.WithLabelValues(d.Kind).Inc()
	}
	for _, r := range res.Resurrected {
		s.metrics.resurrectedTotal.WithLabelValues(r.Kind).Inc()
	}
	s.logChanges(prev, next, res)
}

func (s *Sweeper) compute(ctx context.Context, prev *Snapshot, now time.Time) (sweep.Result, time.Duration, string, error) {
	if err := s.ns.Healthy(); err != nil {
		return sweep.Result{}, 0, StageKubernetes, err
	}
	nss := s.ns.List()
	s.contents.annotate(nss)
	tokens := s.cfg.Policy.Tokens(nss, now)
	qstart := s.now()
	facts, err := s.ledger.Lookup(ctx, tokens)
	ledgerTime := s.now().Sub(qstart)
	s.metrics.ledgerDuration.Observe(ledgerTime.Seconds())
	if err != nil {
		return sweep.Result{}, ledgerTime, StageLedger, err
	}
	// The watch may have broken while the ledger answered; a stale cache
	// would turn deleted namespaces into candidates.
	if err := s.ns.Healthy(); err != nil {
		return sweep.Result{}, ledgerTime, StageKubernetes, err
	}
	res, err := sweep.Decide(nss, facts, s.cfg.Policy, prev.State, now)
	if err != nil {
		stage := StageLedger
		if errors.Is(err, sweep.ErrImplausible) {
			stage = StageGuard
		}
		return sweep.Result{}, ledgerTime, stage, err
	}
	return res, ledgerTime, "", nil
}

// fail publishes a failed sweep: no candidates, streaks reset; digests and
// first sightings are kept.
func (s *Sweeper) fail(prev *Snapshot, start time.Time, elapsed time.Duration, stage string, err error) {
	msg := s.redact.Redact(stage + ": " + err.Error())
	s.latest.Store(&Snapshot{
		GeneratedAt: start, Completed: true, Enabled: true, Destructive: s.cfg.Destructive,
		OK: false, Err: msg, Stage: stage, Duration: elapsed, Candidates: []api.Candidate{},
		State: prev.State.AfterFailure(), LastSuccess: prev.LastSuccess,
	})
	s.metrics.errorsTotal.WithLabelValues(stage).Inc()
	s.log.Error("sweep.failed", "stage", stage, "err", msg, "duration", elapsed)
}

func (s *Sweeper) logChanges(prev, next *Snapshot, res sweep.Result) {
	ns := func(name string) logsafe.Namespace { return logsafe.Namespace{Name: name, Prefix: s.cfg.Policy.Prefix} }
	byName := make(map[string]api.Candidate, len(next.Candidates))
	for _, c := range next.Candidates {
		byName[c.Namespace] = c
	}
	for _, d := range res.Detected {
		c := byName[d.Namespace]
		s.log.Info("candidate.detected", "namespace", ns(c.Namespace), "token", logsafe.Token(c.Token), "kind", c.Kind,
			"reason", c.Reason, "resource_type", c.ResourceType, "last_status", c.LastStatus, "terminating", c.Terminating)
	}
	for _, r := range res.Resurrected {
		s.log.Warn("candidate.resurrected", "namespace", ns(r.Namespace), "token", logsafe.Token(r.Token), "kind", r.Kind)
	}
	oddKeep := make(map[string]bool, len(res.OddKeepLabels))
	for _, name := range res.OddKeepLabels {
		oddKeep[name] = true
		if !s.oddKeep[name] {
			s.log.Warn("namespace.keep_label_unclear", "namespace", ns(name), "label", sweep.KeepLabel,
				"hint", "kept out of scope: only \"false\" lets a labelled namespace be a candidate; write \"true\" or \"false\"")
		}
	}
	s.oddKeep = oddKeep
	for _, st := range res.UnknownStatuses {
		if !s.unknownLogged[st] {
			s.unknownLogged[st] = true
			s.log.Warn("ledger.unknown_status", "status", st,
				"hint", "neither in --ledger.live-statuses nor in --ledger.terminal-statuses: its candidates are never reclaimable")
		}
	}
	resurrected := make(map[string]bool, len(res.Resurrected))
	for _, r := range res.Resurrected {
		resurrected[r.Namespace] = true
	}
	for name, seen := range prev.State {
		if _, still := next.State[name]; !still && !resurrected[name] {
			s.log.Info("candidate.resolved", "namespace", ns(name), "token", logsafe.Token(seen.Token), "kind", seen.Kind)
		}
	}
	level := slog.LevelDebug
	if !prev.OK && prev.Completed {
		level = slog.LevelInfo // first success after a failure
	}
	s.log.Log(context.Background(), level, "sweep.completed", "candidates", len(next.Candidates),
		"in_scope", next.InScope, "detected", len(res.Detected), "resurrected", len(res.Resurrected), "duration", next.Duration)
}
