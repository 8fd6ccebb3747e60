package sweep

import (
	"fmt"
	"testing"
	"time"
)

// benchFleet is a platform-shaped fleet of n tenant namespaces: 1% orphaned
// (half with a terminal redis row, half with no row at all), the rest live,
// plus a few pool items and system namespaces the policy must skip. prev is
// the state of the sweep before, so Decide runs as in a steady state: every
// orphan already tracked.
func benchFleet(b testing.TB, n int) ([]Namespace, Facts, Policy, State) {
	b.Helper()
	p := policy()
	nss := make([]Namespace, 0, n+n/100+3)
	facts := make(Facts, n)
	created := now.Add(-30 * 24 * time.Hour)
	for i := 0; i < n; i++ {
		tok := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		nss = append(nss, Namespace{Name: p.Prefix + tok, CreatedAt: created, Labels: map[string]string{"tier": "tenant"}})
		switch {
		case i%100 == 0:
			facts[tok] = []Row{row("deleted", "redis", 0)}
		case i%100 == 50:
			// no row
		default:
			facts[tok] = []Row{row("active", "postgres", 0)}
		}
	}
	for i := 0; i < n/100; i++ {
		nss = append(nss, Namespace{Name: fmt.Sprintf("instant-customer-pool-%d", i), CreatedAt: created})
	}
	nss = append(nss, Namespace{Name: "default", CreatedAt: created}, Namespace{Name: "kube-system", CreatedAt: created},
		Namespace{Name: "kube-public", CreatedAt: created})
	first, err := Decide(nss, facts, p, State{}, now.Add(-time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	if want := 2 * ((n + 99) / 100); len(first.Candidates) < want-2 || len(first.Candidates) > want {
		b.Fatalf("fleet of %d has %d candidates, want about %d", n, len(first.Candidates), want)
	}
	return nss, facts, p, first.State
}

var benchSizes = []int{1_000, 10_000, 100_000}

// BenchmarkDecide is the pure decision of one sweep.
func BenchmarkDecide(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("namespaces=%d", n), func(b *testing.B) {
			nss, facts, p, prev := benchFleet(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := Decide(nss, facts, p, prev, now); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/namespace")
		})
	}
}

// BenchmarkTokensAndDecide is all the CPU work of a sweep outside I/O: the
// tokens to ask the ledger about, then the decision.
func BenchmarkTokensAndDecide(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("namespaces=%d", n), func(b *testing.B) {
			nss, facts, p, prev := benchFleet(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if toks := p.Tokens(nss, now); len(toks) != n {
					b.Fatalf("%d tokens, want %d", len(toks), n)
				}
				if _, err := Decide(nss, facts, p, prev, now); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/namespace")
		})
	}
}

// TestDecideAllocationsGrowLinearly guards what the benchmark shows:
// allocations count per sweep grows no faster than the fleet. Allocation
// counts do not depend on the machine, so this is not a timing test.
func TestDecideAllocationsGrowLinearly(t *testing.T) {
	allocs := func(n int) float64 {
		nss, facts, p, prev := benchFleet(t, n)
		return testing.AllocsPerRun(3, func() {
			_ = p.Tokens(nss, now)
			if _, err := Decide(nss, facts, p, prev, now); err != nil {
				t.Fatal(err)
			}
		})
	}
	small, large := allocs(1_000), allocs(10_000)
	// Ten times the namespaces; map and slice growth adds a few doublings.
	if large > 12*small {
		t.Fatalf("allocations: %.0f at 1 000 namespaces, %.0f at 10 000 (%.1f×): more than linear", small, large, large/small)
	}
	t.Logf("allocations per sweep: %.0f at 1 000 namespaces, %.0f at 10 000", small, large)
}
