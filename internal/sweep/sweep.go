// Package sweep is the decision at the heart of the exporter: given the tenant
// namespaces, what the ledger says about their tokens, the policy and the time,
// which namespaces are orphan candidates and which of those may be reclaimed.
//
// It does no I/O, reads no clock and keeps no globals: everything it knows is
// in its arguments, so every rule is tested here with plain values.
package sweep

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/logsafe"
)

// KeepLabel on a namespace, set to "true", keeps it out of scope for good.
const KeepLabel = "orphans.dev/keep"

// RedisType is the resource_type whose namespaces are of kind redis_namespace.
const RedisType = "redis"

// Namespace is what the sweep needs to know about a namespace.
type Namespace struct {
	Name        string
	Labels      map[string]string
	CreatedAt   time.Time
	Terminating bool
}

// Record is the ledger's verdict on one token.
type Record struct {
	// Live is true when any row of the token has a live status.
	Live bool
	// LastStatus and ResourceType come from the token's newest row.
	LastStatus   string
	ResourceType string
}

// Facts maps a token to its ledger record. A token absent from Facts has no
// row at all.
type Facts map[string]Record

// Policy is everything configurable that shapes a verdict.
type Policy struct {
	// Prefix a tenant namespace name starts with; the rest of the name is the token.
	Prefix string
	// ExcludePrefixes take namespaces out of scope (pre-provisioned pool items).
	ExcludePrefixes []string
	// Selector, when not nil, must match a namespace's labels for it to be in scope.
	Selector labels.Selector
	// Grace is the minimum namespace age before it can be a candidate.
	Grace time.Duration
	// Confirmations is how many consecutive sweeps must see a candidate before
	// it may be reclaimed.
	Confirmations int
	// ReclaimTypes are the proven resource types that may be reclaimed.
	ReclaimTypes []string
	// Enabled and DestructiveEnabled are the two safety flags.
	Enabled            bool
	DestructiveEnabled bool
	// MaxCandidateFraction guards against a misread ledger (a wrong table, an
	// empty replica): when more than this fraction of the namespaces past grace
	// are candidates, and there are at least GuardMinNamespaces of them, the
	// sweep is refused instead of reporting a fleet of orphans. 0 or 1 turns
	// the guard off.
	MaxCandidateFraction float64
	GuardMinNamespaces   int
}

// Seen is what one sweep remembers of a candidate for the next.
type Seen struct {
	Token       string
	Kind        string
	FirstSeenAt time.Time
	// Streak is the number of consecutive successful sweeps that saw it.
	Streak int
}

// State is the memory carried from one sweep to the next, by namespace name.
// Decide never modifies the State it is given.
type State map[string]Seen

// AfterFailure is the State to carry past a failed sweep: nothing was
// confirmed, so every streak starts again, while first sightings are kept so
// that a candidate is not counted as new a second time.
func (s State) AfterFailure() State {
	out := make(State, len(s))
	for ns, seen := range s {
		seen.Streak = 0
		out[ns] = seen
	}
	return out
}

// Change is a candidate that appeared or resurrected in a sweep.
type Change struct {
	Namespace string
	Token     string
	Kind      string
}

// Result is the outcome of one sweep.
type Result struct {
	// Candidates, sorted by namespace.
	Candidates []api.Candidate
	// InScope counts namespaces in scope, within grace or not.
	InScope int
	// PastGrace counts namespaces in scope and past grace: those whose token
	// needed a ledger verdict.
	PastGrace int
	// Detected are candidates not in the previous State.
	Detected []Change
	// Resurrected are previous candidates whose token is live again.
	Resurrected []Change
	// State to pass to the next Decide.
	State State
}

// ErrImplausible is returned when the guard of Policy.MaxCandidateFraction trips.
var ErrImplausible = errors.New("implausible sweep")

// Scope says whether ns is a tenant namespace this policy looks at. It returns
// the token and "" when the namespace is in scope and past grace; otherwise the
// token (possibly empty) and why not: api.WhyOutOfScope, api.WhyExcluded or
// api.WhyWithinGrace.
func (p Policy) Scope(ns Namespace, now time.Time) (token, why string) {
	if p.Prefix == "" || !strings.HasPrefix(ns.Name, p.Prefix) {
		return "", api.WhyOutOfScope
	}
	token = ns.Name[len(p.Prefix):]
	if token == "" {
		return "", api.WhyOutOfScope
	}
	for _, ex := range p.ExcludePrefixes {
		if ex != "" && strings.HasPrefix(ns.Name, ex) {
			return token, api.WhyExcluded
		}
	}
	if ns.Labels[KeepLabel] == "true" {
		return token, api.WhyExcluded
	}
	if p.Selector != nil && !p.Selector.Matches(labels.Set(ns.Labels)) {
		return token, api.WhyOutOfScope
	}
	// A namespace stamped in the future (clock skew) is treated as brand new.
	if now.Sub(ns.CreatedAt) < p.Grace {
		return token, api.WhyWithinGrace
	}
	return token, ""
}

// Tokens returns the distinct tokens of the namespaces in scope and past
// grace, sorted: the only tokens a sweep asks the ledger about.
func (p Policy) Tokens(nss []Namespace, now time.Time) []string {
	seen := make(map[string]struct{}, len(nss))
	out := make([]string, 0, len(nss))
	for i := range nss {
		tok, why := p.Scope(nss[i], now)
		if why != "" {
			continue
		}
		if _, dup := seen[tok]; dup {
			continue
		}
		seen[tok] = struct{}{}
		out = append(out, tok)
	}
	sort.Strings(out)
	return out
}

// KindOf returns the kind label for a resource type.
func KindOf(resourceType string) string {
	if resourceType == RedisType {
		return api.KindRedis
	}
	return api.KindCustomer
}

// Decide computes the candidates of one successful sweep.
func Decide(nss []Namespace, facts Facts, p Policy, prev State, now time.Time) (Result, error) {
	res := Result{State: make(State)}
	for i := range nss {
		ns := &nss[i]
		token, why := p.Scope(*ns, now)
		if why == api.WhyOutOfScope {
			continue
		}
		if why == api.WhyExcluded {
			continue
		}
		res.InScope++
		if why == api.WhyWithinGrace {
			continue
		}
		res.PastGrace++
		rec, hasRow := facts[token]
		if hasRow && rec.Live {
			if was, ok := prev[ns.Name]; ok {
				res.Resurrected = append(res.Resurrected, Change{Namespace: ns.Name, Token: token, Kind: was.Kind})
			}
			continue
		}
		c := p.candidate(*ns, token, rec, hasRow)
		was, tracked := prev[ns.Name]
		seen := Seen{Token: token, Kind: c.Kind, FirstSeenAt: now, Streak: 1}
		if tracked {
			seen.FirstSeenAt = was.FirstSeenAt
			seen.Streak = was.Streak + 1
		} else {
			res.Detected = append(res.Detected, Change{Namespace: ns.Name, Token: token, Kind: c.Kind})
		}
		res.State[ns.Name] = seen
		c.FirstSeenAt = seen.FirstSeenAt
		c.ConsecutiveSweeps = seen.Streak
		c.Reclaimable, c.NotReclaimableReason = p.reclaimable(c)
		res.Candidates = append(res.Candidates, c)
	}
	sort.Slice(res.Candidates, func(i, j int) bool { return res.Candidates[i].Namespace < res.Candidates[j].Namespace })
	sortChanges(res.Detected)
	sortChanges(res.Resurrected)
	if err := p.plausible(len(res.Candidates), res.PastGrace); err != nil {
		return Result{}, err
	}
	return res, nil
}

// Evaluate gives a fresh verdict on one namespace, as Decide would, with the
// memory of the latest sweep. It returns the candidate, or "" and why not.
// hasRow is false when the ledger has no row for the token.
func Evaluate(ns Namespace, rec Record, hasRow bool, p Policy, prev State, now time.Time) (api.Candidate, string) {
	token, why := p.Scope(ns, now)
	if why != "" {
		return api.Candidate{}, why
	}
	if hasRow && rec.Live {
		return api.Candidate{}, api.WhyLive
	}
	c := p.candidate(ns, token, rec, hasRow)
	c.FirstSeenAt = now
	// A namespace the latest sweep did not see has not been confirmed yet;
	// a fresh check confirms what sweeps saw, it never adds to the streak.
	if was, ok := prev[ns.Name]; ok && was.Token == token {
		c.FirstSeenAt = was.FirstSeenAt
		c.ConsecutiveSweeps = was.Streak
	}
	c.Reclaimable, c.NotReclaimableReason = p.reclaimable(c)
	return c, ""
}

func (p Policy) candidate(ns Namespace, token string, rec Record, hasRow bool) api.Candidate {
	c := api.Candidate{
		Namespace:          ns.Name,
		Token:              token,
		TokenMasked:        logsafe.Mask(token),
		Reason:             api.ReasonNoRow,
		NamespaceCreatedAt: ns.CreatedAt.UTC(),
		Terminating:        ns.Terminating,
	}
	if hasRow {
		c.Reason = api.ReasonTerminal
		c.LastStatus = rec.LastStatus
		c.ResourceType = rec.ResourceType
	}
	c.Kind = KindOf(c.ResourceType)
	return c
}

// reclaimable applies the reclaim rules in a fixed order and names the first
// that fails. A type is proven only by a terminal row; no proven type, no reclaim.
func (p Policy) reclaimable(c api.Candidate) (bool, string) {
	switch {
	case !p.Enabled:
		return false, api.NotReclaimableSweepDisabled
	case c.Terminating:
		return false, api.NotReclaimableTerminating
	case c.Reason != api.ReasonTerminal || c.ResourceType == "":
		return false, api.NotReclaimableNoProvenType
	case !slices.Contains(p.ReclaimTypes, c.ResourceType):
		return false, api.NotReclaimableTypeNotAllowed
	case p.Confirmations < 1 || c.ConsecutiveSweeps < p.Confirmations:
		return false, api.NotReclaimableUnconfirmed
	case !p.DestructiveEnabled:
		return false, api.NotReclaimableDestructiveDisabled
	}
	return true, ""
}

func (p Policy) plausible(candidates, pastGrace int) error {
	if p.MaxCandidateFraction <= 0 || p.MaxCandidateFraction >= 1 || pastGrace < p.GuardMinNamespaces || pastGrace == 0 {
		return nil
	}
	if frac := float64(candidates) / float64(pastGrace); frac > p.MaxCandidateFraction {
		return fmt.Errorf("%w: %d of %d namespaces past grace (%.0f%%) look orphaned, above the limit of %.0f%%; "+
			"check the ledger DSN, table and columns (--sweep.max-candidate-fraction)",
			ErrImplausible, candidates, pastGrace, frac*100, p.MaxCandidateFraction*100)
	}
	return nil
}

func sortChanges(cs []Change) {
	sort.Slice(cs, func(i, j int) bool { return cs[i].Namespace < cs[j].Namespace })
}
