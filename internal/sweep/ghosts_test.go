package sweep

import (
	"errors"
	"testing"
	"time"
)

var ghostNow = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func ghostPolicy() GhostPolicy {
	return GhostPolicy{Prefix: "instant-customer-", Grace: time.Hour, MaxFraction: 0.5, GuardMin: 4}
}

func live(token, status, typ string, age time.Duration) LiveRow {
	return LiveRow{Token: token, Status: status, ResourceType: typ, CreatedAt: ghostNow.Add(-age)}
}

func TestDecideGhosts(t *testing.T) {
	rows := []LiveRow{
		live("b", "active", "redis", 2*time.Hour),
		live("a", "paused", "postgres", 3*time.Hour),
		live("a", "active", "redis", 2*time.Hour), // not the oldest: a stays a paused postgres
		live("young", "active", "redis", 59*time.Minute),
		live("", "active", "redis", 5*time.Hour),
	}
	res, err := DecideGhosts(rows, 10, ghostPolicy(), nil, ghostNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Ghosts) != 2 {
		t.Fatalf("ghosts %+v, want a and b", res.Ghosts)
	}
	a, b := res.Ghosts[0], res.Ghosts[1]
	if a.Namespace != "instant-customer-a" || a.Status != "paused" || a.ResourceType != "postgres" || a.Kind != KindCustomer ||
		!a.RowCreatedAt.Equal(ghostNow.Add(-3*time.Hour)) || a.ConsecutiveSweeps != 1 || !a.FirstSeenAt.Equal(ghostNow) {
		t.Errorf("a: %+v", a)
	}
	if b.Namespace != "instant-customer-b" || b.Kind != KindRedis {
		t.Errorf("b: %+v", b)
	}
	if len(res.Detected) != 2 || res.Detected[0].Token != "a" || len(res.Resolved) != 0 {
		t.Errorf("detected %+v resolved %+v", res.Detected, res.Resolved)
	}

	// The next sweep: a is still a ghost, b has its namespace now.
	later := ghostNow.Add(10 * time.Minute)
	res2, err := DecideGhosts(rows[1:2], 10, ghostPolicy(), res.State, later)
	if err != nil {
		t.Fatal(err)
	}
	if len(res2.Ghosts) != 1 || res2.Ghosts[0].ConsecutiveSweeps != 2 || !res2.Ghosts[0].FirstSeenAt.Equal(ghostNow) {
		t.Fatalf("second sweep: %+v", res2.Ghosts)
	}
	if len(res2.Detected) != 0 || len(res2.Resolved) != 1 || res2.Resolved[0].Namespace != "instant-customer-b" {
		t.Fatalf("detected %+v resolved %+v", res2.Detected, res2.Resolved)
	}
	if res.State["a"].Streak != 1 {
		t.Fatal("DecideGhosts modified the state it was given")
	}

	// A failed sweep in between restarts the streak, keeps the first sighting,
	// and does not detect the ghost a second time.
	res3, err := DecideGhosts(rows[1:2], 10, ghostPolicy(), res2.State.AfterFailure(), later.Add(20*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if g := res3.Ghosts[0]; g.ConsecutiveSweeps != 1 || !g.FirstSeenAt.Equal(ghostNow) || len(res3.Detected) != 0 {
		t.Fatalf("after a failure: %+v detected %+v", g, res3.Detected)
	}
}

// The early verdict never refuses a sweep the guard would let through, and
// refuses as soon as the guard's refusal is certain.
func TestGhostsSurelyImplausible(t *testing.T) {
	p := ghostPolicy()
	p.MaxFraction, p.GuardMin = 0.5, 10
	for _, tc := range []struct {
		n, namespaces int
		want          bool
	}{
		{9, 0, false},   // below the minimum
		{10, 9, true},   // 10 of at most 19
		{10, 10, false}, // 10 of at most 20: half, not above
		{1000, 10_000, false},
		{10_001, 10_000, true},
	} {
		if got := GhostsSurelyImplausible(tc.n, tc.namespaces, p); got != tc.want {
			t.Errorf("%d ghosts, %d namespaces: %v, want %v", tc.n, tc.namespaces, got, tc.want)
		}
		if !tc.want {
			continue
		}
		// Whatever the live tokens with a namespace (0 to namespaces), the
		// whole sweep's guard refuses.
		for withNS := 0; withNS <= tc.namespaces; withNS += max(1, tc.namespaces/7) {
			if _, over := overFraction(tc.n, tc.n+withNS, p.MaxFraction, p.GuardMin); !over {
				t.Errorf("%d ghosts, %d with a namespace: the guard would pass what was stopped", tc.n, withNS)
			}
		}
	}
	p.MaxFraction = 1
	if GhostsSurelyImplausible(1_000_000, 0, p) {
		t.Error("a guard turned off stopped a sweep")
	}
}

func TestDecideGhostsGuard(t *testing.T) {
	var rows []LiveRow
	for _, tok := range []string{"a", "b", "c"} {
		rows = append(rows, live(tok, "active", "redis", 2*time.Hour))
	}
	for _, tc := range []struct {
		name     string
		live     int
		fraction float64
		min      int
		fails    bool
	}{
		{"3 of 4 is above half", 4, 0.5, 4, true},
		{"3 of 6 is half, not above", 6, 0.5, 4, false},
		{"below the minimum the guard is off", 3, 0.5, 4, false},
		{"a fraction of 1 turns it off", 4, 1, 4, false},
		// an empty namespace cache makes every live token a ghost
		{"every live token", 3, 0.5, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ghostPolicy()
			p.MaxFraction, p.GuardMin = tc.fraction, tc.min
			res, err := DecideGhosts(rows, tc.live, p, nil, ghostNow)
			if tc.fails {
				if !errors.Is(err, ErrImplausible) || len(res.Ghosts) != 0 {
					t.Fatalf("want the guard to trip, got %v with %d ghosts", err, len(res.Ghosts))
				}
				return
			}
			if err != nil || len(res.Ghosts) != 3 {
				t.Fatalf("%v with %d ghosts", err, len(res.Ghosts))
			}
		})
	}
}
