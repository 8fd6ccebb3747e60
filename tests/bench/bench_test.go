package bench

import (
	"slices"
	"testing"
	"time"
)

func TestParseSizes(t *testing.T) {
	got, err := ParseSizes("1000x100000, 10_000x1_000_000")
	if err != nil || len(got) != 2 || got[0] != (Size{1000, 100000}) || got[1] != (Size{10000, 1000000}) {
		t.Fatalf("ParseSizes = %v, %v", got, err)
	}
	for _, bad := range []string{"", "1000", "0x10", "ax1", "10x-1"} {
		if _, err := ParseSizes(bad); err == nil {
			t.Errorf("ParseSizes(%q) accepted", bad)
		}
	}
}

func TestFleetLayout(t *testing.T) {
	f, err := NewFleet(1000, 100_000, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Orphans) != 10 {
		t.Fatalf("%d orphans in 1000 namespaces, want 10", len(f.Orphans))
	}
	seen := map[string]bool{}
	for _, tok := range f.Tokens {
		if seen[tok] || len(tok) != 36 || tok[14] != '4' {
			t.Fatalf("token %q: duplicate or not a v4 uuid", tok)
		}
		seen[tok] = true
	}
	if _, err := NewFleet(1000, 1000, 7); err == nil {
		t.Fatal("a ledger smaller than the namespaces' own rows was accepted")
	}
}

func TestPercentile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5}, {0.95, 10}, {0.99, 10}, {0.1, 1}, {1, 10}} {
		if got := percentile(ds, tc.q); got != tc.want {
			t.Errorf("percentile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if percentile(nil, 0.5) != 0 {
		t.Error("percentile of nothing")
	}
}

// TestFleetGhosts checks the fleet's ghosts and its shared ledger: about
// one ghost per hundred namespaces, each a token of this cluster without a
// namespace with a live row; other clusters' rows live with odds 11 to 9,
// this cluster's other history terminal; about half the rows live; and the
// same ones for the same fleet.
func TestFleetGhosts(t *testing.T) {
	f, err := NewFleet(1000, 100_000, 7)
	if err != nil {
		t.Fatal(err)
	}
	ghosts := f.Ghosts()
	ns := map[string]bool{}
	for _, tok := range f.Tokens {
		ns[tok] = true
	}
	extra := map[string]bool{}
	src := f.rows(time.Now())
	own, live, total := 0, 0, 0
	for {
		r, isOwn, ok := src.next()
		if !ok {
			break
		}
		total++
		if slices.Contains(liveStatuses, r.Status) {
			live++
		}
		if isOwn {
			own++
			if !ns[r.Token] || r.Cluster != Cluster {
				t.Fatalf("a namespace's row has token %q of no namespace, or cluster %q", r.Token, r.Cluster)
			}
			continue
		}
		extra[r.Token] = true
		if age := time.Since(r.CreatedAt); age < GhostMinAge {
			t.Fatalf("a row without a namespace is %s old, younger than %s", age, GhostMinAge)
		}
	}
	if own != f.namespaceRows() || total != f.M {
		t.Fatalf("%d rows of namespaces of %d, want %d of %d", own, total, f.namespaceRows(), f.M)
	}
	if frac := float64(live) / float64(total); frac < 0.45 || frac > 0.55 {
		t.Fatalf("%d of %d rows live (%.3f), want about half", live, total, frac)
	}
	if n := len(ghosts); n < 5 || n > 20 {
		t.Fatalf("%d ghosts for %d namespaces, want about %d", n, f.N, f.N/100)
	}
	if l, other := f.LiveRows(); l != live || other <= live*9/10 {
		t.Fatalf("LiveRows says %d live, %d of the other cluster; counted %d live", l, other, live)
	}
	for i, g := range ghosts {
		if ns[g] || !extra[g] || i > 0 && ghosts[i-1] >= g {
			t.Fatalf("ghost %q: has a namespace, is not in the ledger, or is out of order", g)
		}
	}
	if again := f.Ghosts(); !equal(again, ghosts) {
		t.Fatal("the same fleet has other ghosts the second time")
	}
}
