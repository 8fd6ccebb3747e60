package sweep

import (
	"fmt"
	"testing"
	"time"
)

// GhostsAlwaysAllowed never exceeds what the guard allows for any number of
// live tokens, and GhostsRefused refuses exactly what DecideGhosts refuses.
func TestGhostsAllowedAgreesWithTheGuard(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range []GhostPolicy{
		{MaxFraction: 0.5, GuardMin: 20}, {MaxFraction: 0.02, GuardMin: 20}, {MaxFraction: 0.3, GuardMin: 1},
		{MaxFraction: 0.99, GuardMin: 7}, {MaxFraction: 1, GuardMin: 20},
	} {
		always := GhostsAlwaysAllowed(p)
		for live := 0; live <= 60; live++ {
			for n := 0; n <= live; n++ {
				rows := make([]LiveRow, n)
				for i := range rows {
					rows[i] = LiveRow{Token: fmt.Sprint(i), CreatedAt: now.Add(-time.Hour)}
				}
				_, err := DecideGhosts(rows, live, p, nil, now)
				if refused := err != nil; refused != GhostsRefused(n, live, p) {
					t.Fatalf("%+v: %d ghosts of %d live: DecideGhosts refused %v, GhostsRefused %v", p, n, live, refused, !refused)
				}
				if n <= always && GhostsRefused(n, live, p) {
					t.Fatalf("%+v: %d ghosts of %d live refused, but %d are always allowed", p, n, live, always)
				}
			}
		}
	}
}
