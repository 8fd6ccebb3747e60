package sweep

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// LiveRow is the oldest live ledger row of a token, as a ghost sweep read
// it. Token is spelled as the ledger prints it (canonical for a uuid column).
type LiveRow struct {
	Token        string
	Status       string
	ResourceType string
	CreatedAt    time.Time
}

// GhostPolicy shapes the ghost verdict.
type GhostPolicy struct {
	// Prefix makes a token's namespace name: Prefix + token.
	Prefix string
	// Grace is the minimum age of a live row, by its created_at.
	Grace time.Duration
	// MaxFraction and GuardMin are the implausibility guard: when more than
	// MaxFraction of the live tokens past grace have no namespace, and there
	// are at least GuardMin such tokens, the ghost sweep is refused. 0 or 1
	// turns the guard off.
	MaxFraction float64
	GuardMin    int
}

// Ghost is a token with a live ledger row past grace and no namespace in the
// cluster: the platform bills or serves a resource the cluster does not run.
type Ghost struct {
	Token             string
	Namespace         string
	Kind              string
	ResourceType      string
	Status            string
	RowCreatedAt      time.Time
	FirstSeenAt       time.Time
	ConsecutiveSweeps int
}

// GhostSeen is what this process remembers of a ghost between ghost sweeps.
type GhostSeen struct {
	Namespace   string
	Kind        string
	FirstSeenAt time.Time
	// Streak is the number of consecutive successful ghost sweeps that saw it.
	Streak int
}

// GhostState is the memory carried from one ghost sweep to the next, by token.
// DecideGhosts never modifies the GhostState it is given.
type GhostState map[string]GhostSeen

// AfterFailure is the GhostState to carry past a failed ghost sweep: every
// streak starts again, first sightings are kept.
func (s GhostState) AfterFailure() GhostState {
	out := make(GhostState, len(s))
	for tok, seen := range s {
		seen.Streak = 0
		out[tok] = seen
	}
	return out
}

// GhostResult is the outcome of one successful ghost sweep.
type GhostResult struct {
	// Ghosts, sorted by namespace.
	Ghosts []Ghost
	// Detected are ghosts not in the previous GhostState; Resolved are
	// previous ghosts this sweep did not see.
	Detected []Change
	Resolved []Change
	State    GhostState
}

// DecideGhosts turns the live rows a ghost sweep found without a namespace
// into ghosts, with their streaks. liveTokens is how many tokens had a live
// row past grace at all, for the guard.
func DecideGhosts(rows []LiveRow, liveTokens int, p GhostPolicy, prev GhostState, now time.Time) (GhostResult, error) {
	oldest := make(map[string]LiveRow, len(rows))
	for _, r := range rows {
		if r.Token == "" || now.Sub(r.CreatedAt) < p.Grace {
			continue
		}
		if o, dup := oldest[r.Token]; !dup || r.CreatedAt.Before(o.CreatedAt) {
			oldest[r.Token] = r
		}
	}
	if frac, over := overFraction(len(oldest), liveTokens, p.MaxFraction, p.GuardMin); over {
		return GhostResult{}, fmt.Errorf("%w: %d of %d live tokens past grace (%.0f%%) have no namespace, above the limit of %.0f%%; "+
			"check that the namespace cache, --namespace.prefix and the ledger belong to this cluster (--sweep.max-candidate-fraction)",
			ErrImplausible, len(oldest), liveTokens, frac*100, p.MaxFraction*100)
	}
	res := GhostResult{Ghosts: make([]Ghost, 0, len(oldest)), State: make(GhostState, len(oldest))}
	for tok, r := range oldest {
		g := Ghost{
			Token: tok, Namespace: p.Prefix + tok, Kind: KindOf(r.ResourceType), ResourceType: r.ResourceType,
			Status: r.Status, RowCreatedAt: r.CreatedAt.UTC(), FirstSeenAt: now, ConsecutiveSweeps: 1,
		}
		if was, ok := prev[tok]; ok {
			g.FirstSeenAt = was.FirstSeenAt
			g.ConsecutiveSweeps = was.Streak + 1
		} else {
			res.Detected = append(res.Detected, Change{Namespace: g.Namespace, Token: tok, Kind: g.Kind})
		}
		res.State[tok] = GhostSeen{Namespace: g.Namespace, Kind: g.Kind, FirstSeenAt: g.FirstSeenAt, Streak: g.ConsecutiveSweeps}
		res.Ghosts = append(res.Ghosts, g)
	}
	for tok, was := range prev {
		if _, still := oldest[tok]; !still {
			res.Resolved = append(res.Resolved, Change{Namespace: was.Namespace, Token: tok, Kind: was.Kind})
		}
	}
	sort.Slice(res.Ghosts, func(i, j int) bool { return res.Ghosts[i].Namespace < res.Ghosts[j].Namespace })
	sortChanges(res.Detected)
	sortChanges(res.Resolved)
	return res, nil
}

// GhostsSurelyImplausible tells, while a ghost sweep still reads the
// ledger, that the guard will refuse it whatever the rest holds: n tokens
// without a namespace already reach GuardMin and are more than MaxFraction
// even if each of the cluster's namespaces tokens had a live row. Reading
// on would only hold more ghosts in memory for a sweep that fails anyway.
func GhostsSurelyImplausible(n, namespaces int, p GhostPolicy) bool {
	if n < p.GuardMin {
		return false
	}
	_, over := overFraction(n, n+namespaces, p.MaxFraction, p.GuardMin)
	return over
}

// GhostsRefused tells whether the guard refuses n ghosts among liveTokens
// live tokens past grace, as DecideGhosts would.
func GhostsRefused(n, liveTokens int, p GhostPolicy) bool {
	_, over := overFraction(n, liveTokens, p.MaxFraction, p.GuardMin)
	return over
}

// GhostsAlwaysAllowed is how many ghosts the guard lets through whatever
// the number of live tokens: below GuardMin live tokens it does not apply
// (and there are fewer ghosts than live tokens), from GuardMin on it allows
// MaxFraction of them. With the guard off, any number.
func GhostsAlwaysAllowed(p GhostPolicy) int {
	if p.MaxFraction <= 0 || p.MaxFraction >= 1 {
		return math.MaxInt
	}
	return int(p.MaxFraction * float64(p.GuardMin))
}

// overFraction is the implausibility guard: n of total is more than max, and
// total is at least min. A max of 0 or 1 turns it off.
func overFraction(n, total int, max float64, min int) (float64, bool) {
	if max <= 0 || max >= 1 || total == 0 || total < min {
		return 0, false
	}
	frac := float64(n) / float64(total)
	return frac, frac > max
}
