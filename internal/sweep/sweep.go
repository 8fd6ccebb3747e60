// Package sweep is the decision at the heart of the exporter: given the tenant
// namespaces, the ledger rows of their tokens, the policy and the time, which
// namespaces are orphan candidates and which of those may be reclaimed.
//
// It does no I/O, reads no clock, keeps no globals and imports no other
// package of this project but internal/jcs, a leaf that encodes canonical
// JSON: everything it knows is in its arguments, and it returns its own types. Mapping to wire types and masking tokens happen at
// the edge.
package sweep

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
)

// KeepLabel on a namespace keeps it out of scope for good, unless its value
// is exactly "false". Any value but "true" and "false" still keeps (the
// stricter reading of a typo such as "True" or "yes") and is reported in
// Result.OddKeepLabels.
const KeepLabel = "orphans.dev/keep"

// RedisType is the resource_type whose namespaces are of kind redis_namespace.
const RedisType = "redis"

// Kinds, the values of the `kind` label.
const (
	KindRedis    = "redis_namespace"
	KindCustomer = "customer_namespace"
)

// Reasons a token is not live.
const (
	// ReasonNoRow: the ledger has no row for the token.
	ReasonNoRow = "no_row"
	// ReasonTerminal: every row of the token has a terminal status.
	ReasonTerminal = "terminal"
	// ReasonUnknownStatus: no row is live and at least one has a status that
	// is neither live nor terminal.
	ReasonUnknownStatus = "unknown_status"
)

// Why a namespace is not a candidate.
const (
	WhyLive        = "live"
	WhyNotFound    = "not_found"
	WhyOutOfScope  = "out_of_scope"
	WhyWithinGrace = "within_grace"
	WhyExcluded    = "excluded"
)

// Reclaim rules, in the order they are checked; a candidate names the first
// that fails.
const (
	NotReclaimableSweepDisabled       = "sweep_disabled"
	NotReclaimableTerminating         = "terminating"
	NotReclaimableNoncanonicalToken   = "noncanonical_token"
	NotReclaimableUnknownStatus       = "unknown_status"
	NotReclaimableNoProvenType        = "no_proven_type"
	NotReclaimableMixedTypes          = "mixed_types"
	NotReclaimableTypeNotAllowed      = "type_not_allowed"
	NotReclaimableEvidenceChanged     = "evidence_changed"
	NotReclaimableUnconfirmed         = "unconfirmed"
	NotReclaimableEvidenceTooRecent   = "evidence_too_recent"
	NotReclaimableRecentChange        = "recent_change"
	NotReclaimableDestructiveDisabled = "destructive_disabled"
)

// Namespace is what the sweep needs to know about a namespace.
type Namespace struct {
	Name        string
	UID         string
	Labels      map[string]string
	CreatedAt   time.Time
	Terminating bool
	// Contents is what the exporter last read inside the namespace.
	Contents Contents
}

// Contents is what the reclaim rules know of a namespace's contents.
type Contents struct {
	// Read is set once the contents have been read; Failed when that read
	// failed, which leaves LastChangeAt unknown.
	Read   bool
	Failed bool
	// LastChangeAt is the newest creation or non-status change of an object
	// in the namespace that no controller owns.
	LastChangeAt time.Time

	// What a reclaim would destroy, for the people who decide on it; the
	// rules read none of it.
	ReadAt                time.Time
	Pods, PodsRunning     int
	PVCs                  int
	StorageRequestedBytes int64
	// Error says why a failed read failed.
	Error string
}

// Row is one ledger row of a token, as read. A Null flag set means the
// column is NULL and the value beside it is meaningless.
type Row struct {
	CreatedAt     time.Time
	CreatedAtNull bool
	Status        string
	StatusNull    bool
	ResourceType  string
	TypeNull      bool
	// Extra is the --ledger.terminated-at-column value as text; ExtraNull
	// when it is NULL or no such column is configured.
	Extra     string
	ExtraNull bool
	// TerminatedAt is Extra as a time (zero when ExtraNull);
	// TerminatedAtInfinite when it is infinity or -infinity.
	TerminatedAt         time.Time
	TerminatedAtInfinite bool
}

// Facts maps a token to its rows. A token absent from Facts has no row.
type Facts map[string][]Row

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
	// LiveStatuses and TerminalStatuses are matched exactly as stored; every
	// other value, NULL included, is unknown.
	LiveStatuses     []string
	TerminalStatuses []string
	// Confirmations is how many consecutive sweeps must see the same
	// evidence before a candidate may be reclaimed.
	Confirmations int
	// MinEvidenceAge is how long the evidence must have held.
	MinEvidenceAge time.Duration
	// ContentsEnabled says that contents are read at all; without them
	// nothing is reclaimable.
	ContentsEnabled bool
	// QuietPeriod is how long nothing may have changed inside a namespace
	// before it may be reclaimed; 0 for no minimum.
	QuietPeriod time.Duration
	// TerminatedAtColumn says that rows carry a terminated-at value (Row.Extra),
	// which then dates the evidence instead of this process's first sighting.
	TerminatedAtColumn bool
	// ReclaimTypes are the proven resource types that may be reclaimed.
	ReclaimTypes []string
	// Enabled is the master flag; Destructive is the effective destructive
	// state (both flags on).
	Enabled     bool
	Destructive bool
	// MaxCandidateFraction guards against a misread ledger (a wrong table, an
	// empty replica): when more than this fraction of the namespaces past grace
	// are candidates, and there are at least GuardMinNamespaces of them, the
	// sweep is refused instead of reporting a fleet of orphans. 0 or 1 turns
	// the guard off.
	MaxCandidateFraction float64
	GuardMinNamespaces   int
}

// Candidate is one orphan candidate and its verdict.
type Candidate struct {
	Namespace          string
	NamespaceUID       string
	Token              string
	Kind               string
	ResourceType       string
	Reason             string
	LastStatus         string
	LastStatusNull     bool
	NamespaceCreatedAt time.Time
	FirstSeenAt        time.Time
	EvidenceDigest     string
	EvidenceSince      time.Time
	ConsecutiveSweeps  int
	Terminating        bool
	// MixedTypes: every row is terminal with a non-empty type, more than one distinct.
	MixedTypes bool
	// ProvenType: every row terminal, one and the same non-empty type.
	ProvenType           bool
	Reclaimable          bool
	NotReclaimableReason string
}

// Seen is what this process remembers of a candidate between sweeps.
type Seen struct {
	Token       string
	Kind        string
	FirstSeenAt time.Time
	// Digest is the evidence last seen, DigestSince when this process first
	// saw it, and Changed whether it saw a different digest before.
	Digest      string
	DigestSince time.Time
	Changed     bool
	// Streak is the number of consecutive successful sweeps that saw Digest.
	Streak int
}

// State is the memory carried from one sweep to the next, by namespace name.
// Decide never modifies the State it is given.
type State map[string]Seen

// AfterFailure is the State to carry past a failed sweep: nothing was
// confirmed, so every streak starts again, while first sightings and digests
// are kept, so that a candidate is not counted as new a second time and its
// evidence keeps its age.
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
	Candidates []Candidate
	// InScope counts namespaces in scope, within grace or not.
	InScope int
	// PastGrace counts namespaces in scope and past grace: those whose token
	// needed a ledger verdict.
	PastGrace int
	// Detected are candidates not in the previous State.
	Detected []Change
	// Resurrected are previous candidates whose token is live again.
	Resurrected []Change
	// UnknownStatuses are the distinct unknown status values the candidates'
	// rows carry, sorted; NULL is reported as NullStatus.
	UnknownStatuses []string
	// OddKeepLabels are the tenant namespaces kept out of scope by a keep
	// label that is neither "true" nor "false", sorted.
	OddKeepLabels []string
	// State to pass to the next Decide.
	State State
}

// NullStatus stands for a NULL status in Result.UnknownStatuses.
const NullStatus = "<NULL>"

// ErrImplausible is returned when the guard of Policy.MaxCandidateFraction trips.
var ErrImplausible = errors.New("implausible sweep")

// Scope says whether ns is a tenant namespace this policy looks at, by its
// name and labels alone. It returns the token and "" when the namespace is in
// scope; otherwise the token (possibly empty) and why not: WhyOutOfScope or
// WhyExcluded.
func (p Policy) Scope(ns Namespace) (token, why string) {
	token, why = p.ScopeName(ns.Name)
	if why != "" {
		return token, why
	}
	if keep, set := ns.Labels[KeepLabel]; set && keep != "false" {
		return token, WhyExcluded
	}
	if p.Selector != nil && !p.Selector.Matches(labels.Set(ns.Labels)) {
		return token, WhyOutOfScope
	}
	return token, ""
}

// ScopeName applies the rules that need only the name: the prefix, a
// non-empty token and the excluded prefixes.
func (p Policy) ScopeName(name string) (token, why string) {
	if p.Prefix == "" || !strings.HasPrefix(name, p.Prefix) {
		return "", WhyOutOfScope
	}
	token = name[len(p.Prefix):]
	if token == "" {
		return "", WhyOutOfScope
	}
	for _, ex := range p.ExcludePrefixes {
		if ex != "" && strings.HasPrefix(name, ex) {
			return token, WhyExcluded
		}
	}
	return token, ""
}

// oddKeepLabel reports a keep label that is neither "true" nor "false".
func oddKeepLabel(ns Namespace) bool {
	v, set := ns.Labels[KeepLabel]
	return set && v != "true" && v != "false"
}

// CanonicalToken reports whether token is a uuid in its canonical spelling,
// lower-case 8-4-4-4-12 hex: the only spelling that may be reclaimed, so that
// other spellings of one uuid, which the ledger reads as the same rows, can
// never make one tenant reclaimable under several names.
func CanonicalToken(token string) bool {
	if len(token) != 36 {
		return false
	}
	for i, r := range token {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
				return false
			}
		}
	}
	return true
}

// pastGrace is Scope plus the grace period: "" when ns needs a ledger verdict.
func (p Policy) pastGrace(ns Namespace, now time.Time) (token, why string) {
	token, why = p.Scope(ns)
	if why != "" {
		return token, why
	}
	// A namespace stamped in the future (clock skew) is treated as brand new.
	if now.Sub(ns.CreatedAt) < p.Grace {
		return token, WhyWithinGrace
	}
	return token, ""
}

// Tokens returns the distinct tokens of the namespaces in scope and past
// grace, sorted: the only tokens a sweep asks the ledger about.
func (p Policy) Tokens(nss []Namespace, now time.Time) []string {
	seen := make(map[string]struct{}, len(nss))
	out := make([]string, 0, len(nss))
	for i := range nss {
		tok, why := p.pastGrace(nss[i], now)
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
		return KindRedis
	}
	return KindCustomer
}

// Decide computes the candidates of one successful sweep.
func Decide(nss []Namespace, facts Facts, p Policy, prev State, now time.Time) (Result, error) {
	res := Result{State: make(State)}
	cls := p.classifier()
	unknown := map[string]bool{}
	for i := range nss {
		ns := &nss[i]
		token, why := p.pastGrace(*ns, now)
		if why == WhyExcluded && oddKeepLabel(*ns) {
			if _, nameWhy := p.ScopeName(ns.Name); nameWhy == "" {
				res.OddKeepLabels = append(res.OddKeepLabels, ns.Name)
			}
		}
		if why == WhyOutOfScope || why == WhyExcluded {
			continue
		}
		res.InScope++
		if why == WhyWithinGrace {
			continue
		}
		res.PastGrace++
		rows := facts[token]
		ev := cls.evidence(rows)
		if ev.live {
			if was, ok := prev[ns.Name]; ok {
				res.Resurrected = append(res.Resurrected, Change{Namespace: ns.Name, Token: token, Kind: was.Kind})
			}
			continue
		}
		for _, s := range ev.unknown {
			unknown[s] = true
		}
		c := p.candidate(*ns, token, ev)
		was, tracked := prev[ns.Name]
		seen := Seen{Token: token, Kind: c.Kind, FirstSeenAt: now, Digest: c.EvidenceDigest, DigestSince: now, Streak: 1}
		if tracked {
			seen.FirstSeenAt = was.FirstSeenAt
			seen.Changed = was.Changed
			if was.Digest == seen.Digest {
				seen.DigestSince = was.DigestSince
				seen.Streak = was.Streak + 1
			} else {
				seen.Changed = true
			}
		} else {
			res.Detected = append(res.Detected, Change{Namespace: ns.Name, Token: token, Kind: c.Kind})
		}
		res.State[ns.Name] = seen
		c.FirstSeenAt = seen.FirstSeenAt
		c.ConsecutiveSweeps = seen.Streak
		c.EvidenceSince = p.evidenceSince(*ns, ev, seen, now)
		c.Reclaimable, c.NotReclaimableReason = p.reclaimable(c, ev, ns.Contents, now)
		res.Candidates = append(res.Candidates, c)
	}
	sort.Slice(res.Candidates, func(i, j int) bool { return res.Candidates[i].Namespace < res.Candidates[j].Namespace })
	sortChanges(res.Detected)
	sortChanges(res.Resurrected)
	for s := range unknown {
		res.UnknownStatuses = append(res.UnknownStatuses, s)
	}
	sort.Strings(res.UnknownStatuses)
	sort.Strings(res.OddKeepLabels)
	if err := p.plausible(len(res.Candidates), res.PastGrace); err != nil {
		return Result{}, err
	}
	return res, nil
}

// Evaluate gives a fresh verdict on one namespace from rows read now, with
// the memory of the sweeps. It returns the candidate, or "" and why not. A
// fresh check confirms what sweeps saw and never adds to a streak: with no
// digest confirmed yet the candidate is unconfirmed, and with a different
// one its evidence has changed.
func Evaluate(ns Namespace, rows []Row, p Policy, prev State, now time.Time) (Candidate, string) {
	token, why := p.pastGrace(ns, now)
	if why != "" {
		return Candidate{}, why
	}
	ev := p.classifier().evidence(rows)
	if ev.live {
		return Candidate{}, WhyLive
	}
	c := p.candidate(ns, token, ev)
	seen := Seen{Token: token, FirstSeenAt: now, Digest: c.EvidenceDigest, DigestSince: now}
	if was, ok := prev[ns.Name]; ok && was.Token == token {
		seen.FirstSeenAt = was.FirstSeenAt
		seen.Changed = was.Changed
		if was.Digest == c.EvidenceDigest {
			seen.DigestSince, seen.Streak = was.DigestSince, was.Streak
		} else {
			ev.changed = true
		}
	}
	c.FirstSeenAt = seen.FirstSeenAt
	c.ConsecutiveSweeps = seen.Streak
	c.EvidenceSince = p.evidenceSince(ns, ev, seen, now)
	c.Reclaimable, c.NotReclaimableReason = p.reclaimable(c, ev, ns.Contents, now)
	return c, ""
}

// evidence is what a token's rows say, in the terms of the rules.
type evidence struct {
	rows    []Row // canonical order
	live    bool
	unknown []string // distinct unknown statuses (NullStatus for NULL)
	// newest is the newest row (last in canonical order); hasRow is false
	// for a token without rows.
	newest Row
	hasRow bool
	// typeMissing: some row has a NULL or empty type.
	typeMissing bool
	// types is the number of distinct non-empty types.
	types int
	// changed is set by a fresh check whose digest differs from the sweeps'.
	changed bool
}

type classifier struct {
	live, terminal map[string]bool
}

func (p Policy) classifier() classifier {
	c := classifier{live: make(map[string]bool, len(p.LiveStatuses)), terminal: make(map[string]bool, len(p.TerminalStatuses))}
	for _, s := range p.LiveStatuses {
		c.live[s] = true
	}
	for _, s := range p.TerminalStatuses {
		c.terminal[s] = true
	}
	return c
}

func (c classifier) evidence(rows []Row) evidence {
	ev := evidence{rows: canonical(rows), hasRow: len(rows) > 0}
	if !ev.hasRow {
		return ev
	}
	ev.newest = ev.rows[len(ev.rows)-1]
	var firstType string
	for _, r := range ev.rows {
		switch {
		case !r.StatusNull && c.live[r.Status]:
			ev.live = true
		case r.StatusNull:
			ev.unknown = appendNew(ev.unknown, NullStatus)
		case !c.terminal[r.Status]:
			ev.unknown = appendNew(ev.unknown, r.Status)
		}
		if r.TypeNull || r.ResourceType == "" {
			ev.typeMissing = true
		} else if ev.types == 0 {
			firstType, ev.types = r.ResourceType, 1
		} else if r.ResourceType != firstType && ev.types == 1 {
			ev.types = 2
		}
	}
	return ev
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func (ev evidence) reason() string {
	switch {
	case !ev.hasRow:
		return ReasonNoRow
	case len(ev.unknown) > 0:
		return ReasonUnknownStatus
	}
	return ReasonTerminal
}

func (p Policy) candidate(ns Namespace, token string, ev evidence) Candidate {
	c := Candidate{
		Namespace:          ns.Name,
		NamespaceUID:       ns.UID,
		Token:              token,
		Reason:             ev.reason(),
		NamespaceCreatedAt: ns.CreatedAt.UTC(),
		Terminating:        ns.Terminating,
		EvidenceDigest:     Digest(ns.UID, token, ev.rows),
	}
	if ev.hasRow {
		c.LastStatus, c.LastStatusNull = ev.newest.Status, ev.newest.StatusNull
		if c.LastStatusNull {
			c.LastStatus = ""
		}
		if !ev.newest.TypeNull {
			c.ResourceType = ev.newest.ResourceType
		}
	}
	terminalOnly := ev.hasRow && len(ev.unknown) == 0
	c.ProvenType = terminalOnly && !ev.typeMissing && ev.types == 1
	c.MixedTypes = terminalOnly && !ev.typeMissing && ev.types > 1
	c.Kind = KindOf(c.ResourceType)
	return c
}

// evidenceSince is the latest of: the namespace's creation; when the
// terminated-at column is configured, the latest terminated-at value over
// all of the token's rows (now when any cannot date it), or else this
// process's first sighting of the digest; and, when this process saw a
// different digest before, its first sighting of the current one.
func (p Policy) evidenceSince(ns Namespace, ev evidence, seen Seen, now time.Time) time.Time {
	since := ns.CreatedAt.UTC()
	later := func(t time.Time) {
		if t.After(since) {
			since = t.UTC()
		}
	}
	if p.TerminatedAtColumn {
		for _, r := range ev.rows {
			if r.ExtraNull || r.TerminatedAtInfinite {
				later(now)
			} else {
				later(r.TerminatedAt)
			}
		}
		if !ev.hasRow {
			later(now)
		}
	} else {
		later(seen.DigestSince)
	}
	if seen.Changed || ev.changed {
		later(seen.DigestSince)
	}
	return since
}

// evidenceDated reports whether the evidence age can be trusted: with a
// terminated-at column, every row's value must be present, finite and not
// in the future. An older row terminated a minute ago dates the evidence as
// surely as the newest row does.
func (p Policy) evidenceDated(ev evidence, now time.Time) bool {
	if !p.TerminatedAtColumn {
		return true
	}
	if !ev.hasRow {
		return false
	}
	for _, r := range ev.rows {
		if r.ExtraNull || r.TerminatedAtInfinite || r.TerminatedAt.After(now) {
			return false
		}
	}
	return true
}

// reclaimable applies the reclaim rules in a fixed order and names the first
// that fails. No proven type, no reclaim.
func (p Policy) reclaimable(c Candidate, ev evidence, contents Contents, now time.Time) (bool, string) {
	switch {
	case !p.Enabled:
		return false, NotReclaimableSweepDisabled
	case c.Terminating:
		return false, NotReclaimableTerminating
	case !CanonicalToken(c.Token):
		return false, NotReclaimableNoncanonicalToken
	case c.Reason == ReasonUnknownStatus:
		return false, NotReclaimableUnknownStatus
	case c.Reason != ReasonTerminal || ev.typeMissing:
		return false, NotReclaimableNoProvenType
	case c.MixedTypes:
		return false, NotReclaimableMixedTypes
	case !c.ProvenType:
		return false, NotReclaimableNoProvenType
	case !slices.Contains(p.ReclaimTypes, c.ResourceType):
		return false, NotReclaimableTypeNotAllowed
	case ev.changed:
		return false, NotReclaimableEvidenceChanged
	case p.Confirmations < 1 || c.ConsecutiveSweeps < p.Confirmations:
		return false, NotReclaimableUnconfirmed
	case !p.evidenceDated(ev, now) || now.Sub(c.EvidenceSince) < p.MinEvidenceAge:
		return false, NotReclaimableEvidenceTooRecent
	case !p.quiet(contents, now):
		return false, NotReclaimableRecentChange
	case !p.Destructive:
		return false, NotReclaimableDestructiveDisabled
	}
	return true, ""
}

// quiet reports whether a namespace's contents are known and have not
// changed for the quiet period. Unread or unreadable contents are never quiet.
func (p Policy) quiet(c Contents, now time.Time) bool {
	if !p.ContentsEnabled || !c.Read || c.Failed {
		return false
	}
	return p.QuietPeriod <= 0 || now.Sub(c.LastChangeAt) >= p.QuietPeriod
}

func (p Policy) plausible(candidates, pastGrace int) error {
	if frac, over := overFraction(candidates, pastGrace, p.MaxCandidateFraction, p.GuardMinNamespaces); over {
		return fmt.Errorf("%w: %d of %d namespaces past grace (%.0f%%) look orphaned, above the limit of %.0f%%; "+
			"check the ledger DSN, table and columns (--sweep.max-candidate-fraction)",
			ErrImplausible, candidates, pastGrace, frac*100, p.MaxCandidateFraction*100)
	}
	return nil
}

func sortChanges(cs []Change) {
	sort.Slice(cs, func(i, j int) bool { return cs[i].Namespace < cs[j].Namespace })
}
