package sweep

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"
)

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func policy() Policy {
	return Policy{
		Prefix:           "instant-customer-",
		ExcludePrefixes:  []string{"instant-customer-pool-"},
		Grace:            time.Hour,
		LiveStatuses:     []string{"pending", "active", "paused", "suspended"},
		TerminalStatuses: []string{"deleted", "expired", "failed", "reaped"},
		Confirmations:    3,
		MinEvidenceAge:   0,
		ReclaimTypes:     []string{"redis"},
		Enabled:          true,
		Destructive:      true,
		ContentsEnabled:  true,
	}
}

func ns(name string, age time.Duration, lbls ...string) Namespace {
	n := Namespace{Name: name, UID: "uid-" + name, CreatedAt: now.Add(-age), Labels: map[string]string{},
		Contents: Contents{Read: true, LastChangeAt: now.Add(-age)}}
	for i := 0; i+1 < len(lbls); i += 2 {
		n.Labels[lbls[i]] = lbls[i+1]
	}
	return n
}

var rowBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// row is a ledger row created hours after rowBase; extra is unset.
func row(status, typ string, hours int) Row {
	return Row{CreatedAt: rowBase.Add(time.Duration(hours) * time.Hour), Status: status, ResourceType: typ, ExtraNull: true}
}

func nullStatus(typ string, hours int) Row {
	r := row("", typ, hours)
	r.StatusNull = true
	return r
}

// uuidOf is a fixed canonical uuid for a readable label: the tables read by
// name, and every tenant's token is canonical, as only canonical tokens may
// be reclaimed.
func uuidOf(label string) string {
	sum := sha256.Sum256([]byte(label))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// tenant is the namespace of uuidOf(label).
func tenant(label string) string { return "instant-customer-" + uuidOf(label) }

func TestScope(t *testing.T) {
	p := policy()
	p.Selector = labels.SelectorFromSet(labels.Set{"tier": "tenant"})
	for _, tc := range []struct {
		name      string
		ns        Namespace
		wantToken string
		wantWhy   string
	}{
		{"in scope", ns("instant-customer-abc", 2*time.Hour, "tier", "tenant"), "abc", ""},
		{"other prefix", ns("kube-system", 2*time.Hour, "tier", "tenant"), "", WhyOutOfScope},
		{"prefix only, empty token", ns("instant-customer-", 2*time.Hour, "tier", "tenant"), "", WhyOutOfScope},
		{"pool item", ns("instant-customer-pool-7", 2*time.Hour, "tier", "tenant"), "pool-7", WhyExcluded},
		{"keep label", ns("instant-customer-abc", 2*time.Hour, "tier", "tenant", KeepLabel, "true"), "abc", WhyExcluded},
		// A keep label other than "true" or "false" still keeps: the stricter reading of a typo.
		{"keep label yes", ns("instant-customer-abc", 2*time.Hour, "tier", "tenant", KeepLabel, "yes"), "abc", WhyExcluded},
		{"keep label True", ns("instant-customer-abc", 2*time.Hour, "tier", "tenant", KeepLabel, "True"), "abc", WhyExcluded},
		{"keep label empty", ns("instant-customer-abc", 2*time.Hour, "tier", "tenant", KeepLabel, ""), "abc", WhyExcluded},
		{"keep label false", ns("instant-customer-abc", 2*time.Hour, "tier", "tenant", KeepLabel, "false"), "abc", ""},
		{"selector mismatch", ns("instant-customer-abc", 2*time.Hour), "abc", WhyOutOfScope},
		{"within grace", ns("instant-customer-abc", 59*time.Minute, "tier", "tenant"), "abc", WhyWithinGrace},
		{"exactly grace old", ns("instant-customer-abc", time.Hour, "tier", "tenant"), "abc", ""},
		{"created in the future", ns("instant-customer-abc", -time.Hour, "tier", "tenant"), "abc", WhyWithinGrace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, why := p.pastGrace(tc.ns, now)
			if tok != tc.wantToken || why != tc.wantWhy {
				t.Fatalf("pastGrace(%s) = (%q, %q), want (%q, %q)", tc.ns.Name, tok, why, tc.wantToken, tc.wantWhy)
			}
		})
	}
}

func TestScopeNameNeedsNoObject(t *testing.T) {
	p := policy()
	for name, want := range map[string]string{
		"kube-system": WhyOutOfScope, "instant-customer-": WhyOutOfScope, "instant-customer-pool-1": WhyExcluded, tenant("a"): "",
	} {
		if _, why := p.ScopeName(name); why != want {
			t.Errorf("ScopeName(%s) = %q, want %q", name, why, want)
		}
	}
	p.Prefix = ""
	if _, why := p.ScopeName("anything"); why != WhyOutOfScope {
		t.Fatalf("empty prefix: why = %q, want out_of_scope", why)
	}
}

// fleet is the table the whole decision is checked against.
func fleet() ([]Namespace, Facts) {
	old := 48 * time.Hour
	terminating := ns(tenant("t-term"), old)
	terminating.Terminating = true
	nss := []Namespace{
		ns(tenant("live-pending"), old),
		ns(tenant("live-active"), old),
		ns(tenant("live-paused"), old),
		ns(tenant("live-suspended"), old),
		ns(tenant("redis-deleted"), old),
		ns(tenant("pg-expired"), old),
		ns(tenant("no-row"), old),
		ns(tenant("mixed"), old),
		ns(tenant("young"), 10*time.Minute),
		ns("instant-customer-pool-1", old),
		ns(tenant("kept"), old, KeepLabel, "true"),
		ns("other-prefix-abc", old),
		ns("instant-customer-not-a-uuid", old),
		terminating,
		ns(tenant("provisioning"), old),
		ns(tenant("case"), old),
		ns(tenant("empty-status"), old),
		ns(tenant("null-status"), old),
		ns(tenant("pg-then-redis"), old),
		ns(tenant("no-type"), old),
	}
	facts := Facts{
		uuidOf("live-pending"):   {row("pending", "postgres", 0)},
		uuidOf("live-active"):    {row("active", "redis", 0)},
		uuidOf("live-paused"):    {row("paused", "postgres", 0)},
		uuidOf("live-suspended"): {row("suspended", "postgres", 0)},
		uuidOf("redis-deleted"):  {row("failed", "redis", 0), row("deleted", "redis", 1)},
		uuidOf("pg-expired"):     {row("expired", "postgres", 0)},
		// newest row terminal, an older one still live: live wins
		uuidOf("mixed"):          {row("paused", "redis", 0), row("deleted", "redis", 1)},
		uuidOf("young"):          {row("deleted", "redis", 0)},
		"pool-1":                 {row("deleted", "redis", 0)},
		uuidOf("kept"):           {row("deleted", "redis", 0)},
		uuidOf("t-term"):         {row("failed", "redis", 0)},
		uuidOf("provisioning"):   {row("deleted", "redis", 0), row("provisioning", "redis", 1)},
		uuidOf("case"):           {row("Deleted", "redis", 0)},
		uuidOf("empty-status"):   {row("", "redis", 0)},
		uuidOf("null-status"):    {nullStatus("redis", 0)},
		uuidOf("pg-then-redis"):  {row("deleted", "postgres", 0), row("deleted", "redis", 1)},
		uuidOf("no-type"):        {row("deleted", "", 0)},
		uuidOf("unknown-prefix"): {row("deleted", "redis", 0)},
	}
	return nss, facts
}

type verdict struct {
	Kind, Type, Reason, LastStatus, NotReclaimable string
	Reclaimable, Terminating                       bool
	Streak                                         int
}

func verdicts(cs []Candidate) map[string]verdict {
	out := map[string]verdict{}
	for _, c := range cs {
		out[c.Namespace] = verdict{c.Kind, c.ResourceType, c.Reason, c.LastStatus, c.NotReclaimableReason, c.Reclaimable, c.Terminating, c.ConsecutiveSweeps}
	}
	return out
}

func decideN(t *testing.T, nss []Namespace, facts Facts, p Policy, sweeps int) Result {
	t.Helper()
	var state State
	var res Result
	for i := 1; i <= sweeps; i++ {
		var err error
		if res, err = Decide(nss, facts, p, state, now.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
		state = res.State
	}
	return res
}

func TestDecideFleet(t *testing.T) {
	nss, facts := fleet()
	res := decideN(t, nss, facts, policy(), 3)
	want := map[string]verdict{
		tenant("redis-deleted"): {KindRedis, "redis", ReasonTerminal, "deleted", "", true, false, 3},
		tenant("pg-expired"):    {KindCustomer, "postgres", ReasonTerminal, "expired", NotReclaimableTypeNotAllowed, false, false, 3},
		tenant("no-row"):        {KindCustomer, "", ReasonNoRow, "", NotReclaimableNoProvenType, false, false, 3},
		// not a canonical uuid: never reclaimable, whatever the ledger says
		"instant-customer-not-a-uuid": {KindCustomer, "", ReasonNoRow, "", NotReclaimableNoncanonicalToken, false, false, 3},
		tenant("t-term"):              {KindRedis, "redis", ReasonTerminal, "failed", NotReclaimableTerminating, false, true, 3},
		tenant("provisioning"):        {KindRedis, "redis", ReasonUnknownStatus, "provisioning", NotReclaimableUnknownStatus, false, false, 3},
		tenant("case"):                {KindRedis, "redis", ReasonUnknownStatus, "Deleted", NotReclaimableUnknownStatus, false, false, 3},
		tenant("empty-status"):        {KindRedis, "redis", ReasonUnknownStatus, "", NotReclaimableUnknownStatus, false, false, 3},
		tenant("null-status"):         {KindRedis, "redis", ReasonUnknownStatus, "", NotReclaimableUnknownStatus, false, false, 3},
		tenant("pg-then-redis"):       {KindRedis, "redis", ReasonTerminal, "deleted", NotReclaimableMixedTypes, false, false, 3},
		tenant("no-type"):             {KindCustomer, "", ReasonTerminal, "deleted", NotReclaimableNoProvenType, false, false, 3},
	}
	if got := verdicts(res.Candidates); !reflect.DeepEqual(got, want) {
		t.Fatalf("candidates:\n got %+v\nwant %+v", got, want)
	}
	for i := 1; i < len(res.Candidates); i++ {
		if res.Candidates[i-1].Namespace >= res.Candidates[i].Namespace {
			t.Fatalf("candidates not sorted: %s before %s", res.Candidates[i-1].Namespace, res.Candidates[i].Namespace)
		}
	}
	// in scope: everything with the prefix but the pool item and the kept one
	if res.InScope != 17 || res.PastGrace != 16 {
		t.Fatalf("InScope=%d PastGrace=%d, want 17 and 16", res.InScope, res.PastGrace)
	}
	if want := []string{"", NullStatus, "Deleted", "provisioning"}; !reflect.DeepEqual(res.UnknownStatuses, want) {
		t.Fatalf("unknown statuses %q, want %q", res.UnknownStatuses, want)
	}
	for _, c := range res.Candidates {
		if c.FirstSeenAt != now.Add(time.Minute) {
			t.Errorf("%s first seen %v, want the first sweep's time", c.Namespace, c.FirstSeenAt)
		}
		if c.NamespaceUID != "uid-"+c.Namespace || len(c.EvidenceDigest) != 64 {
			t.Errorf("%s: uid %q digest %q", c.Namespace, c.NamespaceUID, c.EvidenceDigest)
		}
	}
	var null Candidate
	for _, c := range res.Candidates {
		if c.Namespace == tenant("null-status") {
			null = c
		}
	}
	if !null.LastStatusNull {
		t.Fatalf("a NULL status must be flagged: %+v", null)
	}
}

func TestReclaimRules(t *testing.T) {
	nss, facts := fleet()
	redis := tenant("redis-deleted")
	pick := func(res Result) Candidate {
		t.Helper()
		for _, c := range res.Candidates {
			if c.Namespace == redis {
				return c
			}
		}
		t.Fatalf("%s is not a candidate", redis)
		return Candidate{}
	}
	for _, tc := range []struct {
		name   string
		mod    func(*Policy)
		sweeps int
		want   string
	}{
		{"all rules hold", func(*Policy) {}, 3, ""},
		{"destructive off", func(p *Policy) { p.Destructive = false }, 3, NotReclaimableDestructiveDisabled},
		{"sweep off", func(p *Policy) { p.Enabled = false }, 3, NotReclaimableSweepDisabled},
		{"streak short", func(*Policy) {}, 2, NotReclaimableUnconfirmed},
		{"type not listed", func(p *Policy) { p.ReclaimTypes = []string{"postgres"} }, 3, NotReclaimableTypeNotAllowed},
		{"no types listed", func(p *Policy) { p.ReclaimTypes = nil }, 3, NotReclaimableTypeNotAllowed},
		{"zero confirmations never confirms", func(p *Policy) { p.Confirmations = 0 }, 3, NotReclaimableUnconfirmed},
		{"one confirmation", func(p *Policy) { p.Confirmations = 1 }, 1, ""},
		{"evidence too young", func(p *Policy) { p.MinEvidenceAge = time.Hour }, 3, NotReclaimableEvidenceTooRecent},
		{"evidence old enough", func(p *Policy) { p.MinEvidenceAge = time.Minute }, 3, ""},
		// with the column configured, rows without a value never date the evidence
		{"terminated-at missing", func(p *Policy) { p.TerminatedAtColumn = true }, 3, NotReclaimableEvidenceTooRecent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := policy()
			tc.mod(&p)
			c := pick(decideN(t, nss, facts, p, tc.sweeps))
			if c.Reclaimable != (tc.want == "") || c.NotReclaimableReason != tc.want {
				t.Fatalf("reclaimable=%v reason=%q, want reason %q", c.Reclaimable, c.NotReclaimableReason, tc.want)
			}
		})
	}
}

func TestMinEvidenceAgeHeldThenEarned(t *testing.T) {
	p := policy()
	p.MinEvidenceAge = 24 * time.Hour
	nss := []Namespace{ns(tenant("r"), 48*time.Hour)}
	facts := Facts{uuidOf("r"): {row("deleted", "redis", 0)}}
	var state State
	at := func(d time.Duration) Candidate {
		t.Helper()
		res, err := Decide(nss, facts, p, state, now.Add(d))
		if err != nil {
			t.Fatal(err)
		}
		state = res.State
		return res.Candidates[0]
	}
	for i, d := range []time.Duration{0, time.Minute, 2 * time.Minute, 23 * time.Hour} {
		want := NotReclaimableEvidenceTooRecent
		if i < 2 {
			want = NotReclaimableUnconfirmed
		}
		if c := at(d); c.Reclaimable || c.NotReclaimableReason != want || !c.EvidenceSince.Equal(now) {
			t.Fatalf("after %s: %+v, want %s since %v", d, c, want, now)
		}
	}
	if c := at(24 * time.Hour); !c.Reclaimable {
		t.Fatalf("after 24h: %+v, want reclaimable", c)
	}
	// A restarted process has no memory: the age is earned again.
	state = nil
	if c := at(25 * time.Hour); c.Reclaimable || c.NotReclaimableReason != NotReclaimableUnconfirmed {
		t.Fatalf("after a restart: %+v", c)
	}
	at(25*time.Hour + time.Minute)
	if c := at(25*time.Hour + 2*time.Minute); c.NotReclaimableReason != NotReclaimableEvidenceTooRecent || !c.EvidenceSince.Equal(now.Add(25*time.Hour)) {
		t.Fatalf("after a restart, confirmed again: %+v, want evidence_too_recent", c)
	}
}

func TestTerminatedAtColumnDatesTheEvidence(t *testing.T) {
	p := policy()
	p.MinEvidenceAge = 24 * time.Hour
	p.TerminatedAtColumn = true
	nss := []Namespace{ns(tenant("r"), 30*24*time.Hour)}
	terminated := func(at time.Time) Facts {
		r := row("deleted", "redis", 0)
		r.Extra, r.ExtraNull, r.TerminatedAt = at.Format(time.RFC3339), false, at
		return Facts{uuidOf("r"): {r}}
	}
	for _, tc := range []struct {
		name  string
		at    time.Time
		want  string
		since time.Time
	}{
		{"two days ago", now.Add(-48 * time.Hour), "", now.Add(-48 * time.Hour)},
		{"an hour ago", now.Add(-time.Hour), NotReclaimableEvidenceTooRecent, now.Add(-time.Hour)},
		{"in the future", now.Add(time.Hour), NotReclaimableEvidenceTooRecent, now.Add(time.Hour)},
		// older than the namespace: the namespace's creation wins
		{"before the namespace", now.Add(-60 * 24 * time.Hour), "", now.Add(-30 * 24 * time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The column survives restarts: a fresh state needs only the confirmations.
			var state State
			var c Candidate
			for i := 0; i < 3; i++ {
				res, err := Decide(nss, terminated(tc.at), p, state, now)
				if err != nil {
					t.Fatal(err)
				}
				state, c = res.State, res.Candidates[0]
			}
			if c.NotReclaimableReason != tc.want || !c.EvidenceSince.Equal(tc.since) {
				t.Fatalf("%+v, want reason %q since %v", c, tc.want, tc.since)
			}
		})
	}
}

func TestStreakBoundToEvidence(t *testing.T) {
	p := policy()
	nss := []Namespace{ns(tenant("r"), 48*time.Hour)}
	var state State
	step := func(facts Facts, at time.Duration) Candidate {
		t.Helper()
		res, err := Decide(nss, facts, p, state, now.Add(at))
		if err != nil {
			t.Fatal(err)
		}
		state = res.State
		return res.Candidates[0]
	}
	// Three sweeps of no row...
	for i := 0; i < 3; i++ {
		step(Facts{}, time.Duration(i)*time.Minute)
	}
	// ...then a terminal redis row: the evidence changed, the streak restarts.
	terminal := Facts{uuidOf("r"): {row("deleted", "redis", 0)}}
	c := step(terminal, 3*time.Minute)
	if c.Reclaimable || c.ConsecutiveSweeps != 1 || c.NotReclaimableReason != NotReclaimableUnconfirmed {
		t.Fatalf("first sweep of new evidence: %+v", c)
	}
	if !c.EvidenceSince.Equal(now.Add(3*time.Minute)) || !c.FirstSeenAt.Equal(now) {
		t.Fatalf("evidence since %v first seen %v", c.EvidenceSince, c.FirstSeenAt)
	}
	step(terminal, 4*time.Minute)
	if c := step(terminal, 5*time.Minute); !c.Reclaimable || c.ConsecutiveSweeps != 3 {
		t.Fatalf("third sweep of the same evidence: %+v", c)
	}
	// Another row for the token changes the digest again.
	more := Facts{uuidOf("r"): {row("deleted", "redis", 0), row("failed", "redis", 2)}}
	if c := step(more, 6*time.Minute); c.ConsecutiveSweeps != 1 || c.Reclaimable {
		t.Fatalf("after a new row: %+v", c)
	}
}

func TestStreakAndCounting(t *testing.T) {
	nss, facts := fleet()
	p := policy()
	res, err := Decide(nss, facts, p, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Detected) != 11 {
		t.Fatalf("first sweep detected %d, want 11", len(res.Detected))
	}
	res2, err := Decide(nss, facts, p, res.State, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(res2.Detected) != 0 {
		t.Fatalf("second sweep detected %v, want none", res2.Detected)
	}

	// A failed sweep resets streaks but not first sightings or evidence age.
	after := res2.State.AfterFailure()
	if res2.State[tenant("no-row")].Streak != 2 {
		t.Fatal("AfterFailure modified the state it was given")
	}
	res3, err := Decide(nss, facts, p, after, now.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(res3.Detected) != 0 {
		t.Fatalf("after a failure, detected %v again", res3.Detected)
	}
	for _, c := range res3.Candidates {
		if c.ConsecutiveSweeps != 1 || !c.FirstSeenAt.Equal(now) || !c.EvidenceSince.Equal(now) {
			t.Fatalf("%s: streak %d first seen %v since %v, want 1 and %v", c.Namespace, c.ConsecutiveSweeps, c.FirstSeenAt, c.EvidenceSince, now)
		}
	}
}

func TestResurrection(t *testing.T) {
	nss, facts := fleet()
	p := policy()
	res, _ := Decide(nss, facts, p, nil, now)

	revived := Facts{}
	for k, v := range facts {
		revived[k] = v
	}
	revived[uuidOf("redis-deleted")] = append(revived[uuidOf("redis-deleted")], row("active", "redis", 5))
	res2, err := Decide(nss, revived, p, res.State, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{{Namespace: tenant("redis-deleted"), Token: uuidOf("redis-deleted"), Kind: KindRedis}}
	if !reflect.DeepEqual(res2.Resurrected, want) {
		t.Fatalf("resurrected %v, want %v", res2.Resurrected, want)
	}
	if _, ok := res2.State[tenant("redis-deleted")]; ok {
		t.Fatal("a resurrected candidate is still remembered")
	}
	// A candidate whose namespace goes away is forgotten without resurrection.
	res3, _ := Decide(nss[:1], revived, p, res2.State, now.Add(2*time.Minute))
	if len(res3.Resurrected) != 0 || len(res3.State) != 0 {
		t.Fatalf("gone namespaces: resurrected %v state %v", res3.Resurrected, res3.State)
	}
}

func TestEvaluate(t *testing.T) {
	p := policy()
	n := ns(tenant("redis-deleted"), 48*time.Hour)
	rows := []Row{row("deleted", "redis", 0)}
	digest := Digest(n.UID, uuidOf("redis-deleted"), rows)
	prev := State{n.Name: {Token: uuidOf("redis-deleted"), Kind: KindRedis, FirstSeenAt: now.Add(-time.Hour), Digest: digest, DigestSince: now.Add(-time.Hour), Streak: 4}}

	c, why := Evaluate(n, rows, p, prev, now)
	if why != "" || !c.Reclaimable || c.ConsecutiveSweeps != 4 || !c.FirstSeenAt.Equal(now.Add(-time.Hour)) || c.EvidenceDigest != digest {
		t.Fatalf("fresh verdict %+v why %q", c, why)
	}
	if _, why := Evaluate(n, append(rows, row("active", "redis", 1)), p, prev, now); why != WhyLive {
		t.Fatalf("live token: why %q", why)
	}
	c, why = Evaluate(n, rows, p, nil, now)
	if why != "" || c.Reclaimable || c.NotReclaimableReason != NotReclaimableUnconfirmed {
		t.Fatalf("unseen namespace must not be reclaimable: %+v", c)
	}
	// rows read now differ from what the sweeps confirmed
	c, _ = Evaluate(n, []Row{row("deleted", "redis", 0), row("expired", "redis", 1)}, p, prev, now)
	if c.Reclaimable || c.NotReclaimableReason != NotReclaimableEvidenceChanged {
		t.Fatalf("changed evidence: %+v", c)
	}
	// the same name with another UID is another namespace
	other := n
	other.UID = "recreated"
	if c, _ := Evaluate(other, rows, p, prev, now); c.NotReclaimableReason != NotReclaimableEvidenceChanged {
		t.Fatalf("recreated namespace: %+v", c)
	}
	if _, why := Evaluate(ns("instant-customer-pool-x", 48*time.Hour), rows, p, prev, now); why != WhyExcluded {
		t.Fatalf("pool: why %q", why)
	}
	if _, why := Evaluate(ns(tenant("x"), time.Minute), rows, p, prev, now); why != WhyWithinGrace {
		t.Fatalf("young: why %q", why)
	}
}

func TestGuard(t *testing.T) {
	p := policy()
	p.MaxCandidateFraction = 0.5
	p.GuardMinNamespaces = 4
	var nss []Namespace
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		nss = append(nss, ns("instant-customer-"+name, 48*time.Hour))
	}
	live := []Row{row("active", "redis", 0)}
	// 2 of 5 orphaned: fine
	if _, err := Decide(nss, Facts{"a": live, "b": live, "c": live}, p, nil, now); err != nil {
		t.Fatalf("2 of 5: %v", err)
	}
	// 5 of 5 orphaned (an empty ledger): refused
	_, err := Decide(nss, Facts{}, p, nil, now)
	if !errors.Is(err, ErrImplausible) {
		t.Fatalf("5 of 5: err %v, want ErrImplausible", err)
	}
	// unknown statuses count toward the guard
	unknown := []Row{row("provisioning", "redis", 0)}
	if _, err := Decide(nss, Facts{"a": live, "b": live, "c": unknown, "d": unknown}, p, nil, now); !errors.Is(err, ErrImplausible) {
		t.Fatalf("3 of 5 with unknown statuses: err %v, want ErrImplausible", err)
	}
	// below the minimum fleet size the guard stays quiet
	if _, err := Decide(nss[:3], Facts{}, p, nil, now); err != nil {
		t.Fatalf("3 namespaces: %v", err)
	}
	p.MaxCandidateFraction = 1
	if _, err := Decide(nss, Facts{}, p, nil, now); err != nil {
		t.Fatalf("guard off: %v", err)
	}
}

func TestTokens(t *testing.T) {
	nss, _ := fleet()
	nss = append(nss, nss[4]) // a duplicate name must not duplicate its token
	got := policy().Tokens(nss, now)
	want := []string{"not-a-uuid"}
	for _, l := range []string{"case", "empty-status", "live-active", "live-paused", "live-pending", "live-suspended", "mixed", "no-row", "no-type",
		"null-status", "pg-expired", "pg-then-redis", "provisioning", "redis-deleted", "t-term"} {
		want = append(want, uuidOf(l))
	}
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Tokens = %v\nwant %v", got, want)
	}
}

func TestKindOf(t *testing.T) {
	if KindOf("redis") != KindRedis || KindOf("postgres") != KindCustomer || KindOf("") != KindCustomer || KindOf("Redis") != KindCustomer {
		t.Fatal("KindOf")
	}
}

// With a terminated-at column, every row dates the evidence: the latest
// value over all rows, and any NULL, infinite or future value keeps the
// candidate too recent.
func TestTerminatedAtOverAllRows(t *testing.T) {
	p := policy()
	p.MinEvidenceAge = 24 * time.Hour
	p.TerminatedAtColumn = true
	n := ns(tenant("r"), 30*24*time.Hour)
	at := func(status string, hours int, terminated time.Time) Row {
		r := row(status, "redis", hours)
		r.Extra, r.ExtraNull, r.TerminatedAt = terminated.Format(time.RFC3339), false, terminated
		return r
	}
	infinite := func(status string, hours int, text string) Row {
		r := row(status, "redis", hours)
		r.Extra, r.ExtraNull, r.TerminatedAtInfinite = text, false, true
		return r
	}
	null := row("failed", "redis", 0) // ExtraNull
	twoDays := now.Add(-48 * time.Hour)
	for _, tc := range []struct {
		name  string
		rows  []Row
		want  string
		since time.Time
	}{
		{"every row two days old", []Row{at("failed", 0, twoDays.Add(-time.Hour)), at("deleted", 1, twoDays)}, "", twoDays},
		// the newest row is old, an older row was terminated a minute ago
		{"an older row terminated a minute ago", []Row{at("failed", 0, now.Add(-time.Minute)), at("deleted", 1, twoDays)}, NotReclaimableEvidenceTooRecent, now.Add(-time.Minute)},
		{"an older row without a value", []Row{null, at("deleted", 1, twoDays)}, NotReclaimableEvidenceTooRecent, now},
		{"infinity", []Row{at("failed", 0, twoDays), infinite("deleted", 1, "infinity")}, NotReclaimableEvidenceTooRecent, now},
		{"-infinity is no older than anything", []Row{infinite("failed", 0, "-infinity"), at("deleted", 1, twoDays)}, NotReclaimableEvidenceTooRecent, now},
		{"an older row in the future", []Row{at("failed", 0, now.Add(time.Hour)), at("deleted", 1, twoDays)}, NotReclaimableEvidenceTooRecent, now.Add(time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			facts := Facts{uuidOf("r"): tc.rows}
			var state State
			var c Candidate
			for i := 0; i < 3; i++ {
				res, err := Decide([]Namespace{n}, facts, p, state, now)
				if err != nil {
					t.Fatal(err)
				}
				state, c = res.State, res.Candidates[0]
			}
			if c.NotReclaimableReason != tc.want || c.Reclaimable != (tc.want == "") || !c.EvidenceSince.Equal(tc.since) {
				t.Fatalf("%+v, want reason %q since %v", c, tc.want, tc.since)
			}
			if fresh, _ := Evaluate(n, tc.rows, p, state, now); fresh.NotReclaimableReason != tc.want {
				t.Fatalf("fresh check: %+v, want reason %q", fresh, tc.want)
			}
		})
	}
}

// PostgreSQL reads several spellings of one uuid as the same value, so they
// share the same rows; only the canonical spelling may be reclaimed, the
// others stay candidates, right after terminating in the order.
func TestNoncanonicalTokens(t *testing.T) {
	canonical := "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
	rows := []Row{row("deleted", "redis", 0)}
	var nss []Namespace
	facts := Facts{}
	for _, tok := range []string{canonical, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "a0eebc999c0b4ef8bb6d6bb9bd380a11",
		"{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11"} {
		nss = append(nss, ns("instant-customer-"+tok, 48*time.Hour))
		facts[tok] = rows
	}
	terminating := ns("instant-customer-A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A12", 48*time.Hour)
	terminating.Terminating = true
	nss = append(nss, terminating)
	facts["A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A12"] = rows
	res := decideN(t, nss, facts, policy(), 3)
	if len(res.Candidates) != len(nss) {
		t.Fatalf("%d candidates, want every spelling listed: %+v", len(res.Candidates), res.Candidates)
	}
	for _, c := range res.Candidates {
		switch {
		case c.Token == canonical:
			if !c.Reclaimable {
				t.Errorf("canonical token not reclaimable: %+v", c)
			}
		case c.Terminating:
			if c.NotReclaimableReason != NotReclaimableTerminating {
				t.Errorf("terminating comes first: %+v", c)
			}
		case c.Reclaimable || c.NotReclaimableReason != NotReclaimableNoncanonicalToken:
			t.Errorf("spelling %q: reclaimable %v (%s), want noncanonical_token", c.Token, c.Reclaimable, c.NotReclaimableReason)
		}
	}
	for tok, want := range map[string]bool{canonical: true, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11": false, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1": false,
		"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g": false, "a0eebc99_9c0b-4ef8-bb6d-6bb9bd380a11": false, "": false} {
		if CanonicalToken(tok) != want {
			t.Errorf("CanonicalToken(%q) = %v", tok, !want)
		}
	}
}

// A keep label that says neither "true" nor "false" keeps the namespace out
// of scope and is reported, once per sweep, for the exporter to warn about.
func TestOddKeepLabels(t *testing.T) {
	old := 48 * time.Hour
	nss := []Namespace{
		ns(tenant("yes"), old, KeepLabel, "yes"),
		ns(tenant("True"), old, KeepLabel, "True"),
		ns(tenant("true"), old, KeepLabel, "true"),
		ns(tenant("false"), old, KeepLabel, "false"),
		ns(tenant("none"), old),
		ns("other-prefix-x", old, KeepLabel, "maybe"),
	}
	res, err := Decide(nss, Facts{}, policy(), nil, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{tenant("True"), tenant("yes")}
	slices.Sort(want)
	if !reflect.DeepEqual(res.OddKeepLabels, want) {
		t.Fatalf("odd keep labels %v, want %v", res.OddKeepLabels, want)
	}
	var names []string
	for _, c := range res.Candidates {
		names = append(names, c.Namespace)
	}
	wantCands := []string{tenant("false"), tenant("none")}
	slices.Sort(wantCands)
	if !reflect.DeepEqual(names, wantCands) {
		t.Fatalf("candidates %v, want only the unlabelled and the \"false\" one %v", names, wantCands)
	}
}
