package bench

import (
	"slices"
	"sync"
	"time"

	"github.com/orphansweep/orphans/internal/api"
)

// NSState is what the soak driver knows of a tenant namespace at a moment:
// whether it exists and whether its token has a live ledger row.
type NSState struct{ Exists, Live bool }

// Orphan is true for a namespace that exists and whose token has no live row.
func (s NSState) Orphan() bool { return s.Exists && !s.Live }

// change is one of the driver's changes to a namespace or its rows: issued
// before the first request, done after the last one answered. A change that
// failed keeps a zero done: whether it took effect is unknown, so the
// namespace stays in transition from then on.
type change struct {
	issued, done time.Time
	after        NSState
}

type history struct {
	initial NSState
	// changes in the order issued; the driver changes one namespace at a time.
	changes []change
	// token and resourceType of the namespace's rows.
	token, resourceType string
}

// during returns the namespace's state over [from, to] and whether it held
// throughout: false when a change was issued before to and not done before
// from.
func (h *history) during(from, to time.Time) (NSState, bool) {
	st := h.initial
	for _, c := range h.changes {
		switch {
		case !c.done.IsZero() && c.done.Before(from):
			st = c.after
		case c.issued.After(to):
			return st, true
		default:
			return st, false
		}
	}
	return st, true
}

func (h *history) now() NSState {
	if n := len(h.changes); n > 0 {
		return h.changes[n-1].after
	}
	return h.initial
}

// Truth is the driver's knowledge of every tenant namespace it created or
// changed, and of the fleet it started from, over time. It is safe for
// concurrent use.
type Truth struct {
	mu    sync.Mutex
	names map[string]*history
	clock func() time.Time
}

// NewTruth starts from the fleet's namespaces and their liveness.
func NewTruth(clock func() time.Time) *Truth {
	if clock == nil {
		clock = time.Now
	}
	return &Truth{names: map[string]*history{}, clock: clock}
}

// Add records a namespace that exists, or not, from the start.
func (t *Truth) Add(name, token, resourceType string, st NSState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.names[name] = &history{initial: st, token: token, resourceType: resourceType}
}

// Begin records that a change of name to after is being issued now; call
// the returned function once it is done, with ok false if it failed.
func (t *Truth) Begin(name, token, resourceType string, after NSState) func(ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h, ok := t.names[name]
	if !ok {
		h = &history{token: token, resourceType: resourceType}
		t.names[name] = h
	}
	h.changes = append(h.changes, change{issued: t.clock(), after: after})
	i := len(h.changes) - 1
	return func(ok bool) {
		if !ok {
			return
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		h.changes[i].done = t.clock()
	}
}

// Resolve ends the failed change of name, if it has one, with the state
// the driver read back now: the namespace was in transition from the
// change's issue until now.
func (t *Truth) Resolve(name string, actual NSState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h, ok := t.names[name]
	if !ok || len(h.changes) == 0 {
		return
	}
	last := &h.changes[len(h.changes)-1]
	if last.done.IsZero() {
		last.done, last.after = t.clock(), actual
	}
}

// Pick returns the names whose latest known state satisfies keep, sorted,
// leaving out those with a change that failed or is in flight.
func (t *Truth) Pick(keep func(NSState) bool) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for name, h := range t.names {
		if n := len(h.changes); n > 0 && h.changes[n-1].done.IsZero() {
			continue
		}
		if keep(h.now()) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Lookup returns a namespace's token and resource type.
func (t *Truth) Lookup(name string) (token, resourceType string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h, ok := t.names[name]
	if !ok {
		return "", "", false
	}
	return h.token, h.resourceType, true
}

// Unsure counts the namespaces with a change that failed: the driver does not
// know their state, and no check judges them.
func (t *Truth) Unsure() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, h := range t.names {
		for _, c := range h.changes {
			if c.done.IsZero() && t.clock().Sub(c.issued) > time.Minute {
				n++
				break
			}
		}
	}
	return n
}

// Check is one sweep's candidates judged against the truth.
//
// A namespace is settled at a sweep when the driver changed neither it nor
// its rows from settle before the sweep started to the sweep's end: the
// exporter read its namespaces from a watch cache that may lag the API
// server by a moment, and the ledger during the sweep. A settled orphan must
// be listed (else Missing), and a listed namespace must be a settled orphan
// or unsettled (else Extra). The check is exact when both are empty.
// Reclaimable candidates that are not settled orphans are false positives:
// NotOrphan when the driver knows the namespace was not an orphan
// throughout, InTransition when it changed during the sweep.
type Check struct {
	// Sweep is when the sweep started, Duration how long it ran.
	Sweep    time.Time
	Duration time.Duration
	// Listed candidates, Expected settled orphans, Unsettled namespaces.
	Listed, Expected, Unsettled int
	Missing, Extra              []string
	// Reclaimable candidates, and those that were no settled orphan.
	Reclaimable                   int
	FalseNotOrphan, FalseUnsettle []string
	// Why says, for each name in Extra and FalseNotOrphan, what the driver
	// knew of it: "deleted", "live" or "never created".
	Why map[string]string
}

// Exact is true when the sweep listed every settled orphan and nothing that
// was settled and not an orphan.
func (c Check) Exact() bool { return len(c.Missing) == 0 && len(c.Extra) == 0 }

// ReclaimableFalse counts the reclaimable candidates that were not settled orphans.
func (c Check) ReclaimableFalse() int { return len(c.FalseNotOrphan) + len(c.FalseUnsettle) }

// Judge checks one successful sweep's document against the truth.
func (t *Truth) Judge(doc *api.Candidates, settle time.Duration) Check {
	d := time.Duration(doc.Sweep.DurationSeconds * float64(time.Second))
	c := Check{Sweep: doc.GeneratedAt, Duration: d, Listed: len(doc.Candidates)}
	from, to := doc.GeneratedAt.Add(-settle), doc.GeneratedAt.Add(d)
	t.mu.Lock()
	defer t.mu.Unlock()
	type verdict struct {
		state           NSState
		orphan, settled bool
	}
	verdicts := make(map[string]verdict, len(t.names))
	for name, h := range t.names {
		st, settled := h.during(from, to)
		verdicts[name] = verdict{st, st.Orphan(), settled}
		switch {
		case !settled:
			c.Unsettled++
		case st.Orphan():
			c.Expected++
		}
	}
	listed := make(map[string]bool, len(doc.Candidates))
	for _, cand := range doc.Candidates {
		listed[cand.Namespace] = true
		v, known := verdicts[cand.Namespace]
		if !known || v.settled && !v.orphan {
			c.Extra = append(c.Extra, cand.Namespace)
			if c.Why == nil {
				c.Why = map[string]string{}
			}
			switch {
			case !known:
				c.Why[cand.Namespace] = "never created"
			case !v.state.Exists:
				c.Why[cand.Namespace] = "deleted"
			default:
				c.Why[cand.Namespace] = "live"
			}
		}
		if !cand.Reclaimable {
			continue
		}
		c.Reclaimable++
		switch {
		case !known || v.settled && !v.orphan:
			c.FalseNotOrphan = append(c.FalseNotOrphan, cand.Namespace)
		case !v.settled:
			c.FalseUnsettle = append(c.FalseUnsettle, cand.Namespace)
		}
	}
	for name, v := range verdicts {
		if v.settled && v.orphan && !listed[name] {
			c.Missing = append(c.Missing, name)
		}
	}
	slices.Sort(c.Missing)
	slices.Sort(c.Extra)
	slices.Sort(c.FalseNotOrphan)
	slices.Sort(c.FalseUnsettle)
	return c
}
