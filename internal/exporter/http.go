package exporter

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/logsafe"
	"github.com/orphansweep/orphans/internal/sweep"
)

// candidatesHandler serves GET /candidates from the latest snapshot.
func (s *Sweeper) candidatesHandler(w http.ResponseWriter, _ *http.Request) {
	snap := s.Latest()
	switch {
	case !snap.Enabled:
		writeJSON(w, http.StatusOK, s.document(snap))
	case !snap.Completed:
		writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: "no sweep has completed yet"})
	case !snap.OK:
		// A failed sweep says so; it never looks like an empty, clean fleet.
		writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: "latest sweep failed: " + snap.Err})
	default:
		writeJSON(w, http.StatusOK, s.document(snap))
	}
}

func (s *Sweeper) document(snap *Snapshot) api.Candidates {
	p := s.cfg.Policy
	types := p.ReclaimTypes
	if types == nil {
		types = []string{}
	}
	cands := snap.Candidates
	if cands == nil {
		cands = []api.Candidate{}
	}
	return api.Candidates{
		GeneratedAt:        snap.GeneratedAt.UTC(),
		Enabled:            snap.Enabled,
		DestructiveEnabled: snap.Enabled && snap.DestructiveEnabled,
		Sweep: api.Sweep{
			OK: snap.OK, Error: snap.Err, DurationSeconds: snap.Duration.Seconds(),
			LedgerQuerySeconds: snap.LedgerDuration.Seconds(), NamespacesInScope: snap.InScope,
		},
		Policy: api.Policy{
			Prefix: p.Prefix, GraceSeconds: p.Grace.Seconds(), Confirmations: p.Confirmations, ReclaimTypes: types,
		},
		Candidates: cands,
	}
}

// candidateHandler serves GET /candidates/{namespace}: a fresh verdict read
// from the API server and the ledger now, not from the cache. The plugin asks
// it right before each deprovision.
func (s *Sweeper) candidateHandler(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("namespace")
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "invalid namespace name: " + errs[0]})
		return
	}
	if !s.cfg.Enabled {
		off := false
		writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: "sweep disabled: " + EnvEnabled + " is not \"true\"", Enabled: &off})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	c, why, err := s.Check(ctx, name)
	if err != nil {
		msg := s.redact.Redact(err.Error())
		s.log.Warn("check.failed", "namespace", logsafe.Namespace{Name: name, Prefix: s.cfg.Policy.Prefix}, "err", msg)
		writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: "fresh check failed: " + msg})
		return
	}
	if why != "" {
		writeJSON(w, http.StatusNotFound, api.NotCandidate{Candidate: false, Why: why})
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// Check gives a fresh verdict on one namespace. It returns the candidate, or
// why it is not one; an error means no verdict could be reached.
func (s *Sweeper) Check(ctx context.Context, name string) (api.Candidate, string, error) {
	now := s.now()
	ns, found, err := s.ns.Get(ctx, name)
	if err != nil {
		return api.Candidate{}, "", err
	}
	if !found {
		return api.Candidate{}, api.WhyNotFound, nil
	}
	token, why := s.cfg.Policy.Scope(ns, now)
	if why != "" {
		return api.Candidate{}, why, nil
	}
	facts, err := s.ledger.Lookup(ctx, []string{token})
	if err != nil {
		return api.Candidate{}, "", err
	}
	rec, hasRow := facts[token]
	snap := s.Latest()
	// Streaks count only sweeps that succeeded; after a failure they restart.
	c, why := sweep.Evaluate(ns, rec, hasRow, s.cfg.Policy, snap.State, now)
	return c, why, nil
}

func (s *Sweeper) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz is ready when the namespace cache has synced and one sweep has
// completed (successful or not); with the sweep disabled, at once.
func (s *Sweeper) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.cfg.Enabled {
		if !s.ns.Synced() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("namespace cache not synced\n"))
			return
		}
		if !s.Latest().Completed {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("no sweep completed yet\n"))
			return
		}
	}
	_, _ = w.Write([]byte("ok\n"))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	if err := enc.Encode(v); err != nil {
		slog.Default().Debug("http.write_failed", "err", err)
	}
}
