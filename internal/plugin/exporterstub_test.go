package plugin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/orphansweep/orphans/internal/api"
)

// fresh is one scripted answer of the stub exporter's fresh check.
type fresh struct {
	status int
	body   any
	// retryAfter, when set, is sent as the Retry-After header.
	retryAfter string
}

// exporterStub is an exporter that says what a test tells it to, lies
// included: /candidates serves doc, and /candidates/{ns} the scripted
// answers for ns (one per request, the last repeating), or else doc's
// candidate for ns, or 404 not_found.
type exporterStub struct {
	*httptest.Server

	mu     sync.Mutex
	doc    api.Candidates
	script map[string][]fresh
	checks map[string]int
}

func newExporterStub(t *testing.T, doc api.Candidates) *exporterStub {
	t.Helper()
	e := &exporterStub{doc: doc, script: map[string][]fresh{}, checks: map[string]int{}}
	e.Server = httptest.NewServer(e)
	t.Cleanup(e.Close)
	return e
}

// answer scripts the fresh checks of ns.
func (e *exporterStub) answer(ns string, fs ...fresh) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.script[ns] = fs
}

// list replaces the listed candidates.
func (e *exporterStub) list(cands ...api.Candidate) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.doc.Candidates = cands
}

// claim scripts ns's fresh check to answer 200 with c.
func (e *exporterStub) claim(ns string, c api.Candidate) { e.answer(ns, fresh{status: 200, body: c}) }

// freshChecks counts the fresh checks asked for ns.
func (e *exporterStub) freshChecks(ns string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.checks[ns]
}

func (e *exporterStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/candidates" {
		_ = json.NewEncoder(w).Encode(e.doc)
		return
	}
	ns, ok := strings.CutPrefix(r.URL.Path, "/candidates/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	e.checks[ns]++
	f := fresh{status: http.StatusNotFound, body: api.NotCandidate{Why: api.WhyNotFound}}
	for _, c := range e.doc.Candidates {
		if c.Namespace == ns {
			f = fresh{status: http.StatusOK, body: c}
		}
	}
	if fs := e.script[ns]; len(fs) > 0 {
		f = fs[0]
		if len(fs) > 1 {
			e.script[ns] = fs[1:]
		}
	}
	if f.retryAfter != "" {
		w.Header().Set("Retry-After", f.retryAfter)
	}
	w.WriteHeader(f.status)
	_ = json.NewEncoder(w).Encode(f.body)
}
