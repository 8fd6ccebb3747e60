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
	rules := claimRules{prefix: "instant-customer-", types: []string{"redis"}}
	ns := "instant-customer-" + tokB
	good := candidate(tokB, api.KindRedis, "redis", true, 72*time.Hour)
	shown := good.EvidenceDigest
	claim := func(mod func(c *api.Candidate)) exporterclient.Verdict {
		c := good
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
	other := claimRules{prefix: "tenant-", types: []string{"redis", "postgres"}}
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
	if err := checkTargets(nil, 1, newClaimRules("instant-customer-", []string{" ", ""})); err == nil || !strings.Contains(err.Error(), "--types") {
		t.Fatalf("blank --types: %v", err)
	}
}
