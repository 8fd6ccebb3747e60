package sweep

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/orphansweep/orphans/internal/api"
)

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func policy() Policy {
	return Policy{
		Prefix:             "instant-customer-",
		ExcludePrefixes:    []string{"instant-customer-pool-"},
		Grace:              time.Hour,
		Confirmations:      3,
		ReclaimTypes:       []string{"redis"},
		Enabled:            true,
		DestructiveEnabled: true,
	}
}

func ns(name string, age time.Duration, lbls ...string) Namespace {
	n := Namespace{Name: name, CreatedAt: now.Add(-age), Labels: map[string]string{}}
	for i := 0; i+1 < len(lbls); i += 2 {
		n.Labels[lbls[i]] = lbls[i+1]
	}
	return n
}

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
		{"other prefix", ns("kube-system", 2*time.Hour, "tier", "tenant"), "", api.WhyOutOfScope},
		{"prefix only, empty token", ns("instant-customer-", 2*time.Hour, "tier", "tenant"), "", api.WhyOutOfScope},
		{"pool item", ns("instant-customer-pool-7", 2*time.Hour, "tier", "tenant"), "pool-7", api.WhyExcluded},
		{"keep label", ns("instant-customer-abc", 2*time.Hour, "tier", "tenant", KeepLabel, "true"), "abc", api.WhyExcluded},
		{"keep label not true", ns("instant-customer-abc", 2*time.Hour, "tier", "tenant", KeepLabel, "yes"), "abc", ""},
		{"selector mismatch", ns("instant-customer-abc", 2*time.Hour), "abc", api.WhyOutOfScope},
		{"within grace", ns("instant-customer-abc", 59*time.Minute, "tier", "tenant"), "abc", api.WhyWithinGrace},
		{"exactly grace old", ns("instant-customer-abc", time.Hour, "tier", "tenant"), "abc", ""},
		{"created in the future", ns("instant-customer-abc", -time.Hour, "tier", "tenant"), "abc", api.WhyWithinGrace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, why := p.Scope(tc.ns, now)
			if tok != tc.wantToken || why != tc.wantWhy {
				t.Fatalf("Scope(%s) = (%q, %q), want (%q, %q)", tc.ns.Name, tok, why, tc.wantToken, tc.wantWhy)
			}
		})
	}
}

func TestScopeEmptyPrefixMatchesNothing(t *testing.T) {
	p := policy()
	p.Prefix = ""
	if _, why := p.Scope(ns("anything", 2*time.Hour), now); why != api.WhyOutOfScope {
		t.Fatalf("empty prefix: why = %q, want out_of_scope", why)
	}
}

// fleet is the table the whole decision is checked against.
func fleet() ([]Namespace, Facts) {
	old := 48 * time.Hour
	terminating := ns("instant-customer-t-term", old)
	terminating.Terminating = true
	nss := []Namespace{
		ns("instant-customer-live-pending", old),
		ns("instant-customer-live-active", old),
		ns("instant-customer-live-paused", old),
		ns("instant-customer-live-suspended", old),
		ns("instant-customer-redis-deleted", old),
		ns("instant-customer-pg-expired", old),
		ns("instant-customer-no-row", old),
		ns("instant-customer-mixed", old),
		ns("instant-customer-young", 10*time.Minute),
		ns("instant-customer-pool-1", old),
		ns("instant-customer-kept", old, KeepLabel, "true"),
		ns("other-prefix-abc", old),
		ns("instant-customer-not-a-uuid", old),
		terminating,
	}
	facts := Facts{
		"live-pending":   {Live: true, LastStatus: "pending", ResourceType: "postgres"},
		"live-active":    {Live: true, LastStatus: "active", ResourceType: "redis"},
		"live-paused":    {Live: true, LastStatus: "paused", ResourceType: "postgres"},
		"live-suspended": {Live: true, LastStatus: "suspended", ResourceType: "postgres"},
		"redis-deleted":  {LastStatus: "deleted", ResourceType: "redis"},
		"pg-expired":     {LastStatus: "expired", ResourceType: "postgres"},
		// newest row terminal, an older one still live: live wins
		"mixed":   {Live: true, LastStatus: "deleted", ResourceType: "redis"},
		"young":   {LastStatus: "deleted", ResourceType: "redis"},
		"pool-1":  {LastStatus: "deleted", ResourceType: "redis"},
		"kept":    {LastStatus: "deleted", ResourceType: "redis"},
		"t-term":  {LastStatus: "failed", ResourceType: "redis"},
		"unknown": {LastStatus: "deleted", ResourceType: "redis"},
	}
	return nss, facts
}

type verdict struct {
	Kind, Type, Reason, LastStatus, NotReclaimable string
	Reclaimable, Terminating                       bool
	Streak                                         int
}

func verdicts(cs []api.Candidate) map[string]verdict {
	out := map[string]verdict{}
	for _, c := range cs {
		out[c.Namespace] = verdict{c.Kind, c.ResourceType, c.Reason, c.LastStatus, c.NotReclaimableReason, c.Reclaimable, c.Terminating, c.ConsecutiveSweeps}
	}
	return out
}

func TestDecideFleet(t *testing.T) {
	nss, facts := fleet()
	p := policy()

	var state State
	var res Result
	var err error
	for sweep := 1; sweep <= 3; sweep++ {
		res, err = Decide(nss, facts, p, state, now.Add(time.Duration(sweep)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		state = res.State
	}
	want := map[string]verdict{
		"instant-customer-redis-deleted": {api.KindRedis, "redis", api.ReasonTerminal, "deleted", "", true, false, 3},
		"instant-customer-pg-expired":    {api.KindCustomer, "postgres", api.ReasonTerminal, "expired", api.NotReclaimableTypeNotAllowed, false, false, 3},
		"instant-customer-no-row":        {api.KindCustomer, "", api.ReasonNoRow, "", api.NotReclaimableNoProvenType, false, false, 3},
		"instant-customer-not-a-uuid":    {api.KindCustomer, "", api.ReasonNoRow, "", api.NotReclaimableNoProvenType, false, false, 3},
		"instant-customer-t-term":        {api.KindRedis, "redis", api.ReasonTerminal, "failed", api.NotReclaimableTerminating, false, true, 3},
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
	if res.InScope != 11 || res.PastGrace != 10 {
		t.Fatalf("InScope=%d PastGrace=%d, want 11 and 10", res.InScope, res.PastGrace)
	}
	for _, c := range res.Candidates {
		if c.FirstSeenAt != now.Add(time.Minute) {
			t.Errorf("%s first seen %v, want the first sweep's time", c.Namespace, c.FirstSeenAt)
		}
		if strings.Contains(c.TokenMasked, c.Token) {
			t.Errorf("%s: masked token %q shows the token", c.Namespace, c.TokenMasked)
		}
	}
}

func TestReclaimRules(t *testing.T) {
	nss, facts := fleet()
	redis := "instant-customer-redis-deleted"
	run := func(p Policy, sweeps int) api.Candidate {
		t.Helper()
		var state State
		var res Result
		for i := 0; i < sweeps; i++ {
			var err error
			if res, err = Decide(nss, facts, p, state, now); err != nil {
				t.Fatal(err)
			}
			state = res.State
		}
		for _, c := range res.Candidates {
			if c.Namespace == redis {
				return c
			}
		}
		t.Fatalf("%s is not a candidate", redis)
		return api.Candidate{}
	}
	for _, tc := range []struct {
		name   string
		mod    func(*Policy)
		sweeps int
		want   string
	}{
		{"all rules hold", func(*Policy) {}, 3, ""},
		{"destructive off", func(p *Policy) { p.DestructiveEnabled = false }, 3, api.NotReclaimableDestructiveDisabled},
		{"streak short", func(*Policy) {}, 2, api.NotReclaimableUnconfirmed},
		{"type not listed", func(p *Policy) { p.ReclaimTypes = []string{"postgres"} }, 3, api.NotReclaimableTypeNotAllowed},
		{"no types listed", func(p *Policy) { p.ReclaimTypes = nil }, 3, api.NotReclaimableTypeNotAllowed},
		{"zero confirmations never confirms", func(p *Policy) { p.Confirmations = 0 }, 3, api.NotReclaimableUnconfirmed},
		{"one confirmation", func(p *Policy) { p.Confirmations = 1 }, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := policy()
			tc.mod(&p)
			c := run(p, tc.sweeps)
			if c.Reclaimable != (tc.want == "") || c.NotReclaimableReason != tc.want {
				t.Fatalf("reclaimable=%v reason=%q, want reason %q", c.Reclaimable, c.NotReclaimableReason, tc.want)
			}
		})
	}
}

func TestStreakAndCounting(t *testing.T) {
	nss, facts := fleet()
	p := policy()
	res, err := Decide(nss, facts, p, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Detected) != 5 {
		t.Fatalf("first sweep detected %d, want 5", len(res.Detected))
	}
	res2, err := Decide(nss, facts, p, res.State, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(res2.Detected) != 0 {
		t.Fatalf("second sweep detected %v, want none", res2.Detected)
	}

	// A failed sweep resets streaks but not first sightings.
	after := res2.State.AfterFailure()
	if res2.State["instant-customer-no-row"].Streak != 2 {
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
		if c.ConsecutiveSweeps != 1 || !c.FirstSeenAt.Equal(now) {
			t.Fatalf("%s: streak %d first seen %v, want 1 and %v", c.Namespace, c.ConsecutiveSweeps, c.FirstSeenAt, now)
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
	revived["redis-deleted"] = Record{Live: true, LastStatus: "active", ResourceType: "redis"}
	res2, err := Decide(nss, revived, p, res.State, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{{Namespace: "instant-customer-redis-deleted", Token: "redis-deleted", Kind: api.KindRedis}}
	if !reflect.DeepEqual(res2.Resurrected, want) {
		t.Fatalf("resurrected %v, want %v", res2.Resurrected, want)
	}
	if _, ok := res2.State["instant-customer-redis-deleted"]; ok {
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
	n := ns("instant-customer-redis-deleted", 48*time.Hour)
	rec := Record{LastStatus: "deleted", ResourceType: "redis"}
	prev := State{n.Name: {Token: "redis-deleted", Kind: api.KindRedis, FirstSeenAt: now.Add(-time.Hour), Streak: 4}}

	c, why := Evaluate(n, rec, true, p, prev, now)
	if why != "" || !c.Reclaimable || c.ConsecutiveSweeps != 4 || !c.FirstSeenAt.Equal(now.Add(-time.Hour)) {
		t.Fatalf("fresh verdict %+v why %q", c, why)
	}
	if _, why := Evaluate(n, Record{Live: true}, true, p, prev, now); why != api.WhyLive {
		t.Fatalf("live token: why %q", why)
	}
	c, why = Evaluate(n, rec, true, p, nil, now)
	if why != "" || c.Reclaimable || c.NotReclaimableReason != api.NotReclaimableUnconfirmed {
		t.Fatalf("unseen namespace must not be reclaimable: %+v", c)
	}
	if _, why := Evaluate(ns("instant-customer-pool-x", 48*time.Hour), rec, true, p, prev, now); why != api.WhyExcluded {
		t.Fatalf("pool: why %q", why)
	}
	if _, why := Evaluate(ns("instant-customer-x", time.Minute), rec, true, p, prev, now); why != api.WhyWithinGrace {
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
	live := Record{Live: true, LastStatus: "active"}
	// 2 of 5 orphaned: fine
	if _, err := Decide(nss, Facts{"a": live, "b": live, "c": live}, p, nil, now); err != nil {
		t.Fatalf("2 of 5: %v", err)
	}
	// 5 of 5 orphaned (an empty ledger): refused
	_, err := Decide(nss, Facts{}, p, nil, now)
	if !errors.Is(err, ErrImplausible) {
		t.Fatalf("5 of 5: err %v, want ErrImplausible", err)
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
	want := []string{"live-active", "live-paused", "live-pending", "live-suspended", "mixed", "no-row", "not-a-uuid", "pg-expired", "redis-deleted", "t-term"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Tokens = %v\nwant %v", got, want)
	}
}

func TestKindOf(t *testing.T) {
	if KindOf("redis") != api.KindRedis || KindOf("postgres") != api.KindCustomer || KindOf("") != api.KindCustomer || KindOf("Redis") != api.KindCustomer {
		t.Fatal("KindOf")
	}
}
