package plugin

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/exporterclient"
)

// judge is reclaim's decision on a listed target: the plugin's rules, then
// the evidence shown.
func judge(r claimRules, ns, shown string, v exporterclient.Verdict) *skip {
	if s := r.check(ns, v); s != nil {
		return s
	}
	return sameEvidence(shown, v.Candidate.EvidenceDigest)
}

func TestJudge(t *testing.T) {
	rules := mustRules(t, defaultRuleFlags())
	ns := "instant-customer-" + tokB
	good := candidate(tokB, api.KindRedis, "redis", true, 72*time.Hour)
	shown := good.EvidenceDigest
	claim := func(mod func(c *api.Candidate)) exporterclient.Verdict {
		c := good
		held := *good.Contents
		c.Contents = &held
		mod(&c)
		return exporterclient.Verdict{Candidate: &c}
	}
	for _, tc := range []struct {
		name   string
		v      exporterclient.Verdict
		shown  string
		why    string
		detail string
	}{
		{"verified", claim(func(*api.Candidate) {}), shown, "", ""},
		{"live", exporterclient.Verdict{Not: &api.NotCandidate{Why: api.WhyLive}}, shown, WhyLive, "live row"},
		{"no longer a candidate", exporterclient.Verdict{Not: &api.NotCandidate{Why: api.WhyNotFound}}, shown, WhyNotReclaimable, "not_found"},
		{"not reclaimable", claim(func(c *api.Candidate) {
			c.Reclaimable, c.NotReclaimableReason = false, api.NotReclaimableEvidenceChanged
		}), shown, WhyNotReclaimable, "evidence_changed"},
		{"another namespace", claim(func(c *api.Candidate) { c.Namespace = "instant-customer-" + tokA }), shown, WhyUnverifiedClaim, "another namespace"},
		{"token not the namespace's", claim(func(c *api.Candidate) { c.Token = tokA }), shown, WhyUnverifiedClaim, "followed by the candidate's token"},
		{"no token", claim(func(c *api.Candidate) { c.Token = "" }), shown, WhyUnverifiedClaim, "followed by the candidate's token"},
		{"no_row", claim(func(c *api.Candidate) { c.Reason = api.ReasonNoRow }), shown, WhyUnverifiedClaim, `reason is "no_row"`},
		{"unknown status", claim(func(c *api.Candidate) { c.Reason = api.ReasonUnknownStatus }), shown, WhyUnverifiedClaim, "unknown_status"},
		{"young evidence", claim(func(c *api.Candidate) { c.EvidenceSince = time.Now().Add(-23 * time.Hour) }), shown, WhyBelowFloor, "--min-evidence-age 24h"},
		{"no evidence age", claim(func(c *api.Candidate) { c.EvidenceSince = time.Time{} }), shown, WhyBelowFloor, "--min-evidence-age"},
		{"recent change", claim(func(c *api.Candidate) { c.Contents.LastChangeAt = time.Now().Add(-23 * time.Hour) }), shown, WhyBelowFloor, "--quiet-period 24h"},
		{"few confirmations", claim(func(c *api.Candidate) { c.ConsecutiveSweeps = 2 }), shown, WhyBelowFloor, "--min-confirmations 3"},
		{"young namespace", claim(func(c *api.Candidate) { c.NamespaceCreatedAt = time.Now().Add(-59 * time.Minute) }), shown, WhyBelowFloor, "--min-namespace-age 1h"},
		{"type not ours", claim(func(c *api.Candidate) { c.ResourceType = "postgres" }), shown, WhyUnverifiedClaim, `"postgres" is not one of --types redis`},
		{"terminating", claim(func(c *api.Candidate) { c.Terminating = true }), shown, WhyUnverifiedClaim, "terminating"},
		{"no uid", claim(func(c *api.Candidate) { c.NamespaceUID = "" }), shown, WhyUnverifiedClaim, "namespace_uid"},
		{"no digest", claim(func(c *api.Candidate) { c.EvidenceDigest = "" }), shown, WhyUnverifiedClaim, "evidence_digest"},
		{"digest changed", claim(func(c *api.Candidate) { c.EvidenceDigest = digestOf("other rows") }), shown, WhyChanged, "differs"},
		{"nothing shown", claim(func(*api.Candidate) {}), "", WhyChanged, "did not list it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := judge(rules, ns, tc.shown, tc.v)
			if (s == nil) != (tc.why == "") || (s != nil && (s.why != tc.why || !strings.Contains(s.detail, tc.detail))) {
				t.Fatalf("judge = %+v, want why %q, detail with %q", s, tc.why, tc.detail)
			}
			if s != nil && (strings.Contains(s.detail, tokA) || strings.Contains(s.detail, tokB)) {
				t.Fatalf("detail shows a token: %s", s.detail)
			}
		})
	}
	// The prefix is the plugin's own, not the exporter's.
	f := defaultRuleFlags()
	f.NamespacePrefix, f.Types = "tenant-", []string{"redis", "postgres"}
	other := mustRules(t, f)
	c := good
	c.Namespace, c.ResourceType = "tenant-"+tokB, "postgres"
	if s := judge(other, "tenant-"+tokB, shown, exporterclient.Verdict{Candidate: &c}); s != nil {
		t.Fatalf("--namespace-prefix tenant- --types redis,postgres: %+v", s)
	}
	if s := judge(rules, "tenant-"+tokB, shown, exporterclient.Verdict{Candidate: &c}); s == nil || s.why != WhyUnverifiedClaim {
		t.Fatalf("default prefix accepted tenant-: %+v", s)
	}
}

func TestNewClaimRulesTrimsTypes(t *testing.T) {
	r := newClaimRules("instant-customer-", []string{" redis", "", "redis ", "memcached"})
	if r.prefix != "instant-customer-" || !slices.Equal(r.types, []string{"redis", "memcached"}) {
		t.Fatalf("rules %+v", r)
	}
	f := defaultRuleFlags()
	f.Types = []string{" ", ""}
	if _, err := f.claimRules(time.Now); err == nil || !strings.Contains(err.Error(), "--types") {
		t.Fatalf("blank --types: %v", err)
	}
}

func mustRules(t *testing.T, f RuleFlags) claimRules {
	t.Helper()
	r, err := f.claimRules(time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFloors(t *testing.T) {
	if r := mustRules(t, defaultRuleFlags()); r.loweredFloors() != nil || strings.Contains(r.floorsText(), "LOWERED") {
		t.Fatalf("default floors reported lowered: %s", r.floorsText())
	}
	f := defaultRuleFlags()
	f.MinEvidenceAge, f.MinConfirmations = time.Hour, 1
	r := mustRules(t, f)
	lf := r.loweredFloors()
	if lf == nil || !slices.Equal(lf.Lowered, []string{"min-evidence-age", "min-confirmations"}) || lf.MinEvidenceAgeSeconds != 3600 || lf.MinConfirmations != 1 || lf.QuietPeriodSeconds != 86400 {
		t.Fatalf("lowered floors %+v", lf)
	}
	if !strings.Contains(r.floorsText(), "LOWERED") {
		t.Fatalf("floors text %q", r.floorsText())
	}
	raised := defaultRuleFlags()
	raised.MinEvidenceAge = 48 * time.Hour
	if r := mustRules(t, raised); r.loweredFloors() != nil {
		t.Fatalf("a raised floor reported lowered: %+v", r.loweredFloors())
	}
	for _, bad := range []func(f *RuleFlags){
		func(f *RuleFlags) { f.MinEvidenceAge = -time.Second },
		func(f *RuleFlags) { f.QuietPeriod = -time.Second },
		func(f *RuleFlags) { f.MinConfirmations = 0 },
		func(f *RuleFlags) { f.MinNamespaceAge = -time.Second },
		func(f *RuleFlags) { f.NamespacePrefix = "" },
	} {
		f := defaultRuleFlags()
		bad(&f)
		if _, err := f.claimRules(time.Now); err == nil {
			t.Errorf("%+v accepted", f)
		}
	}
}
