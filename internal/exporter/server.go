package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/ledger"
	"github.com/orphansweep/orphans/internal/logsafe"
	"github.com/orphansweep/orphans/internal/sweep"
)

// FreshLedger is the ledger as a fresh check sees it: its own connections,
// and on a standby the proof that it is current, read in the same
// transaction as the rows.
type FreshLedger interface {
	FreshLookup(ctx context.Context, tokens []string, f ledger.Freshness) (sweep.Facts, error)
}

// Server owns the HTTP surface: the JSON documents read from the sweeper's
// latest snapshot, and the fresh check of one namespace.
type Server struct {
	cfg     Config
	log     *slog.Logger
	sweeper *Sweeper
	ghosts  *GhostSweeper
	ns      NamespaceSource
	fresh   FreshLedger
	now     func() time.Time
	redact  *logsafe.Redactor
	// slots admits FreshChecks fresh checks at once; more get 429.
	slots chan struct{}
	// contents reads a candidate's contents now, through a limiter of its
	// own; nil when contents are off.
	contents *contentsSource
	// policy is what /candidates publishes of the configuration.
	policy api.Policy
}

func newServer(cfg Config, log *slog.Logger, sw *Sweeper, ns NamespaceSource, fresh FreshLedger, now func() time.Time) *Server {
	return &Server{cfg: cfg, log: log, sweeper: sw, ns: ns, fresh: fresh, now: now, redact: cfg.Redactor(),
		slots: make(chan struct{}, FreshChecks), policy: wirePolicy(cfg)}
}

// candidates serves GET /candidates from the latest snapshot.
func (s *Server) candidates(w http.ResponseWriter, _ *http.Request) {
	snap := s.sweeper.Latest()
	switch {
	case !snap.Enabled:
		s.writeJSON(w, http.StatusOK, s.document(snap))
	case !snap.Completed:
		s.writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: "no sweep has completed yet"})
	case !snap.OK:
		// A failed sweep says so; it never looks like an empty, clean fleet.
		s.writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: "latest sweep failed: " + snap.Err})
	default:
		s.writeJSON(w, http.StatusOK, s.document(snap))
	}
}

func (s *Server) document(snap *Snapshot) api.Candidates {
	cands := snap.Candidates
	if cands == nil {
		cands = []api.Candidate{}
	}
	return api.Candidates{
		GeneratedAt:        snap.GeneratedAt.UTC(),
		ClusterUID:         s.sweeper.ClusterUID(),
		Enabled:            snap.Enabled,
		DestructiveEnabled: snap.Destructive,
		Sweep: api.Sweep{
			OK: snap.OK, Error: snap.Err, DurationSeconds: snap.Duration.Seconds(),
			LedgerQuerySeconds: snap.LedgerDuration.Seconds(), NamespacesInScope: snap.InScope,
		},
		Policy:     s.policy,
		Candidates: cands,
	}
}

// weakenedNames lists the weakened guards' names; empty, never null.
func (c Config) weakenedNames() []string {
	names := []string{}
	for _, w := range c.Weakened {
		names = append(names, w.Guard)
	}
	return names
}

// wirePolicy is the configuration's every guard as /candidates publishes it.
func wirePolicy(c Config) api.Policy {
	p := c.Policy
	list := func(l []string) []string { return append([]string{}, l...) }
	return api.Policy{
		Prefix: p.Prefix, ExcludePrefix: list(p.ExcludePrefixes), GraceSeconds: p.Grace.Seconds(),
		Confirmations: p.Confirmations, ReclaimTypes: list(p.ReclaimTypes),
		MinEvidenceAgeSeconds: p.MinEvidenceAge.Seconds(), QuietPeriodSeconds: p.QuietPeriod.Seconds(),
		MaxCandidateFraction: p.MaxCandidateFraction, GuardMinNamespaces: p.GuardMinNamespaces,
		LiveStatuses: list(p.LiveStatuses), TerminalStatuses: list(p.TerminalStatuses),
		TerminatedAtColumn: c.Ledger.TerminatedAtColumn, MaxReplicaLagSeconds: c.MaxReplicaLag.Seconds(),
		IgnoreManagers: list(c.Contents.IgnoreManagers), Weakened: c.weakenedNames(),
	}
}

// candidate serves GET /candidates/{namespace}: a fresh verdict read from
// the API server and the ledger now, not from the cache. The plugin asks it
// right before each deprovision.
func (s *Server) candidate(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("namespace")
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		s.writeJSON(w, http.StatusBadRequest, api.Error{Error: "invalid namespace name: " + errs[0]})
		return
	}
	// The name alone decides scope, before any request: the endpoint must not
	// tell who may read it which other namespaces exist.
	if _, why := s.cfg.Policy.ScopeName(name); why != "" {
		s.writeJSON(w, http.StatusNotFound, api.NotCandidate{Candidate: false, Why: why})
		return
	}
	if !s.cfg.Enabled {
		off := false
		s.writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: "sweep disabled: " + EnvEnabled + " is not \"true\"", Enabled: &off})
		return
	}
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		w.Header().Set("Retry-After", "1")
		s.writeJSON(w, http.StatusTooManyRequests, api.Error{Error: "too many fresh checks at once; retry"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	c, why, err := s.Check(ctx, name)
	if err != nil {
		msg := s.redact.Redact(err.Error())
		s.log.Warn("check.failed", "namespace", logsafe.Namespace{Name: name, Prefix: s.cfg.Policy.Prefix}, "err", msg)
		s.writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: "fresh check failed: " + msg})
		return
	}
	if why != "" {
		s.writeJSON(w, http.StatusNotFound, api.NotCandidate{Candidate: false, Why: why})
		return
	}
	s.writeJSON(w, http.StatusOK, c)
}

// Check gives a fresh verdict on one namespace. It returns the candidate, or
// why it is not one; an error means no verdict could be reached. The
// contents are read last, for a candidate only: a live, missing or young
// namespace costs no contents request.
func (s *Server) Check(ctx context.Context, name string) (api.Candidate, string, error) {
	now := s.now()
	ns, found, err := s.ns.Get(ctx, name)
	if err != nil {
		return api.Candidate{}, "", err
	}
	if !found {
		return api.Candidate{}, sweep.WhyNotFound, nil
	}
	token, why := s.cfg.Policy.Scope(ns)
	if why != "" {
		return api.Candidate{}, why, nil
	}
	facts, err := s.fresh.FreshLookup(ctx, []string{token}, ledger.Freshness{MaxReplicaLag: s.cfg.MaxReplicaLag, MaxReceiverSilence: s.cfg.MaxReceiverSilence})
	if err != nil {
		return api.Candidate{}, "", err
	}
	// Streaks count only sweeps that succeeded; after a failure they restart.
	state := s.sweeper.Latest().State
	c, why := sweep.Evaluate(ns, facts[token], s.cfg.Policy, state, now)
	if why != "" {
		return api.Candidate{}, why, nil
	}
	if s.contents == nil {
		// Contents off: never reclaimable (recent_change).
		return wireCandidate(c), "", nil
	}
	// The verdict is pure: decided again with the contents, only whether
	// the candidate may be reclaimed can change.
	got := s.contents.read(ctx, name)
	ns.Contents = got
	c, _ = sweep.Evaluate(ns, facts[token], s.cfg.Policy, state, now)
	wc := wireCandidate(c)
	wc.Contents = wireContents(got)
	return wc, "", nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz is ready when the namespace cache has synced and one sweep has
// completed (successful or not); with the sweep disabled, at once.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.cfg.Enabled {
		if !s.ns.Synced() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("namespace cache not synced\n"))
			return
		}
		if !s.sweeper.Latest().Completed {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("no sweep completed yet\n"))
			return
		}
	}
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil && !errors.Is(err, context.Canceled) {
		s.log.Debug("http.write_failed", "err", err)
	}
}
