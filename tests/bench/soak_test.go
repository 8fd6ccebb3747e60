package bench

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/api"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

var t0 = time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)

// sweepDoc is a successful sweep that started at start, ran for 100 ms and
// listed names, those in reclaimable marked so.
func sweepDoc(start time.Time, names []string, reclaimable ...string) *api.Candidates {
	doc := &api.Candidates{GeneratedAt: start, Sweep: api.Sweep{OK: true, DurationSeconds: 0.1}}
	for _, n := range names {
		doc.Candidates = append(doc.Candidates, api.Candidate{Namespace: n, Reclaimable: slices.Contains(reclaimable, n)})
	}
	return doc
}

func TestJudgeSettledFleet(t *testing.T) {
	clock := &fakeClock{now: t0}
	tr := NewTruth(clock.Now)
	tr.Add("ns-orphan", "t1", "redis", NSState{Exists: true})
	tr.Add("ns-live", "t2", "redis", NSState{Exists: true, Live: true})
	tr.Add("ns-gone", "t3", "redis", NSState{Live: true})

	c := tr.Judge(sweepDoc(t0.Add(time.Minute), []string{"ns-orphan"}, "ns-orphan"), 2*time.Second)
	if !c.Exact() || c.Expected != 1 || c.Listed != 1 || c.Unsettled != 0 || c.Reclaimable != 1 || c.ReclaimableFalse() != 0 {
		t.Fatalf("exact sweep judged %+v", c)
	}

	c = tr.Judge(sweepDoc(t0.Add(time.Minute), []string{"ns-live", "ns-unknown"}, "ns-live"), 2*time.Second)
	if c.Exact() || !slices.Equal(c.Missing, []string{"ns-orphan"}) || !slices.Equal(c.Extra, []string{"ns-live", "ns-unknown"}) {
		t.Fatalf("wrong sweep judged %+v", c)
	}
	if !slices.Equal(c.FalseNotOrphan, []string{"ns-live"}) || c.Why["ns-live"] != "live" || c.Why["ns-unknown"] != "never created" {
		t.Fatalf("a reclaimable live namespace is a false positive: %+v", c)
	}
}

func TestJudgeTransitions(t *testing.T) {
	clock := &fakeClock{now: t0}
	tr := NewTruth(clock.Now)
	tr.Add("ns-a", "ta", "redis", NSState{Exists: true, Live: true})

	// ns-a's rows turn terminal from t0+10s to t0+10.5s.
	clock.now = t0.Add(10 * time.Second)
	finish := tr.Begin("ns-a", "ta", "redis", NSState{Exists: true})
	clock.now = t0.Add(10*time.Second + 500*time.Millisecond)
	finish(true)

	settle := 2 * time.Second
	cases := []struct {
		name     string
		start    time.Duration
		listed   []string
		exact    bool
		expected int
	}{
		{"long before: live, listing it is wrong", 5 * time.Second, []string{"ns-a"}, false, 0},
		{"long before: live, not listed", 5 * time.Second, nil, true, 0},
		{"sweep overlaps the change: either answer", 10*time.Second + 200*time.Millisecond, nil, true, 0},
		{"sweep overlaps the change: either answer, listed", 10*time.Second + 200*time.Millisecond, []string{"ns-a"}, true, 0},
		{"within settle after the change: either answer", 12 * time.Second, nil, true, 0},
		{"settled orphan must be listed", 13 * time.Second, nil, false, 1},
		{"settled orphan listed", 13 * time.Second, []string{"ns-a"}, true, 1},
	}
	for _, tc := range cases {
		c := tr.Judge(sweepDoc(t0.Add(tc.start), tc.listed), settle)
		if c.Exact() != tc.exact || c.Expected != tc.expected {
			t.Errorf("%s: exact %v, expected %d: %+v", tc.name, c.Exact(), c.Expected, c)
		}
	}

	// A reclaimable candidate that changed during the sweep is counted apart.
	c := tr.Judge(sweepDoc(t0.Add(10*time.Second), []string{"ns-a"}, "ns-a"), settle)
	if !c.Exact() || !slices.Equal(c.FalseUnsettle, []string{"ns-a"}) || len(c.FalseNotOrphan) != 0 {
		t.Fatalf("reclaimable while changing: %+v", c)
	}
}

func TestJudgeFailedAndPendingChanges(t *testing.T) {
	clock := &fakeClock{now: t0}
	tr := NewTruth(clock.Now)
	tr.Add("ns-a", "ta", "redis", NSState{Exists: true})
	tr.Add("ns-b", "tb", "redis", NSState{Exists: true})

	// ns-a's deletion fails: its state is unknown from then on.
	clock.now = t0.Add(time.Second)
	tr.Begin("ns-a", "ta", "redis", NSState{})(false)
	// ns-b's change is still in flight when the sweep is judged.
	tr.Begin("ns-b", "tb", "redis", NSState{Exists: true, Live: true})

	clock.now = t0.Add(time.Hour)
	c := tr.Judge(sweepDoc(t0.Add(time.Hour), nil), 2*time.Second)
	if !c.Exact() || c.Unsettled != 2 || c.Expected != 0 {
		t.Fatalf("unsure and pending namespaces are not held to an answer: %+v", c)
	}
	if tr.Unsure() != 2 {
		t.Fatalf("Unsure = %d, want 2 (a failed change and one in flight for an hour)", tr.Unsure())
	}
	if got := tr.Pick(func(NSState) bool { return true }); len(got) != 0 {
		t.Fatalf("Pick offered namespaces with an unfinished change: %v", got)
	}

	// A change issued after the sweep ended does not unsettle it.
	tr.Add("ns-c", "tc", "redis", NSState{Exists: true})
	tr.Begin("ns-c", "tc", "redis", NSState{})(true)
	c = tr.Judge(sweepDoc(t0.Add(time.Hour-time.Minute), []string{"ns-c"}), 2*time.Second)
	if !c.Exact() || c.Expected != 1 {
		t.Fatalf("ns-c was an orphan before its later deletion: %+v", c)
	}
}

func TestSoakOutcomesAndMarkdown(t *testing.T) {
	down, up := t0.Add(5*time.Minute), t0.Add(5*time.Minute+30*time.Second)
	s := &Soak{
		Options: SoakOptions{Size: Size{5000, 500000}, Duration: 20 * time.Minute, Interval: 2 * time.Second, Churn: 2 * time.Second, Outage: 30 * time.Second, Settle: 2 * time.Second},
		Outages: []Outage{{What: "PostgreSQL", Down: down, Up: up}},
		Checks: []Check{
			{Sweep: t0, Duration: 50 * time.Millisecond, Listed: 50, Expected: 50},
			{Sweep: down.Add(-2 * time.Second), Duration: 50 * time.Millisecond, Listed: 50, Expected: 50},
			{Sweep: up.Add(3 * time.Second), Duration: 50 * time.Millisecond, Listed: 51, Expected: 50, Extra: []string{"ns-x"}, Why: map[string]string{"ns-x": "deleted"}},
		},
		Failed:   []time.Time{down.Add(time.Second), up.Add(time.Second), up.Add(time.Minute)},
		Finished: t0.Add(20 * time.Minute),
		Changes:  map[string]int{"tokens turned live": 3},
	}
	oc := s.Outcomes()
	if len(oc) != 1 || oc[0].Failed != 2 || len(oc[0].During) != 0 || !oc[0].Recovered.Equal(up.Add(3*time.Second+50*time.Millisecond)) {
		t.Fatalf("Outcomes = %+v", oc)
	}
	tot := Totals(s.Checks)
	if tot.Checks != 3 || tot.Exact != 2 || tot.Extra != 1 || tot.MaxListed != 51 {
		t.Fatalf("Totals = %+v", tot)
	}
	md := s.Markdown()
	for _, want := range []string{SoakHeading + "\n", "| exact | 2 of 3 (**1 not exact**) |", "`ns-x` (deleted)", "| PostgreSQL | 30.0 s | 2 | 0 (0) | 3.05 s after |"} {
		if !strings.Contains(md, want) {
			t.Errorf("soak section lacks %q:\n%s", want, md)
		}
	}
	doc := "# Benchmarks\n\n## Ghosts and contents\n\nx\n\n" + PureDecisionHeading + "\n\ny\n"
	got := ReplaceSection(doc, md, PureDecisionHeading, TargetsHeading)
	if sec, ok := Section(got, SoakHeading); !ok || sec != md {
		t.Fatalf("the soak section does not round-trip through the report")
	}
	if !strings.Contains(got, "## Ghosts and contents\n\nx\n\n"+SoakHeading) || !strings.HasSuffix(got, PureDecisionHeading+"\n\ny\n") {
		t.Fatalf("the soak section is not placed before the pure decision:\n%s", got)
	}
}

func TestCountPeers(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:D431 0100007F:1538 01 00000000:00000000 00:00000000 00000000     0        0 111 1 0000000000000000 20 4 30 10 -1
   1: 0100007F:D432 0100007F:1538 01 00000000:00000000 00:00000000 00000000     0        0 222 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:D433 0100007F:1538 06 00000000:00000000 00:00000000 00000000     0        0 333 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:D434 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 444 1 0000000000000000 20 4 30 10 -1
   4: 0100007F:1538 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 555 1 0000000000000000 20 4 30 10 -1
`
	mine := map[string]bool{"111": true, "333": true, "444": true, "555": true}
	// 0x1538 = 5432: 111 is ours and established; 222 is another process's,
	// 333 is in TIME_WAIT, 444 goes to another port, 555 is the server side.
	if n := countPeers(table, 5432, mine); n != 1 {
		t.Fatalf("countPeers = %d, want 1", n)
	}
}

func TestResolveEndsAFailedChange(t *testing.T) {
	clock := &fakeClock{now: t0}
	tr := NewTruth(clock.Now)
	tr.Add("ns-a", "ta", "redis", NSState{Exists: true, Live: true})
	clock.now = t0.Add(10 * time.Second)
	tr.Begin("ns-a", "ta", "redis", NSState{Exists: true})(false)
	clock.now = t0.Add(40 * time.Second)
	// The update did not take: the token is still live.
	tr.Resolve("ns-a", NSState{Exists: true, Live: true})

	if c := tr.Judge(sweepDoc(t0.Add(30*time.Second), []string{"ns-a"}), 2*time.Second); !c.Exact() || c.Unsettled != 1 {
		t.Fatalf("before the read-back ns-a is unsettled: %+v", c)
	}
	c := tr.Judge(sweepDoc(t0.Add(time.Minute), []string{"ns-a"}, "ns-a"), 2*time.Second)
	if c.Exact() || !slices.Equal(c.FalseNotOrphan, []string{"ns-a"}) || c.Why["ns-a"] != "live" {
		t.Fatalf("after the read-back ns-a is known live: %+v", c)
	}
	if tr.Unsure() != 0 || len(tr.Pick(func(s NSState) bool { return s.Live })) != 1 {
		t.Fatalf("a resolved change is done: unsure %d", tr.Unsure())
	}
}
