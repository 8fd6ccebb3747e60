package sweep

import (
	"testing"
	"time"
)

func TestRecentChangeRule(t *testing.T) {
	facts := Facts{uuidOf("r"): {row("deleted", "redis", 0)}}
	for _, tc := range []struct {
		name     string
		mod      func(*Policy)
		contents Contents
		want     string
	}{
		{"quiet for a day", func(p *Policy) { p.QuietPeriod = 24 * time.Hour }, Contents{Read: true, LastChangeAt: now.Add(-25 * time.Hour)}, ""},
		{"changed an hour ago", func(p *Policy) { p.QuietPeriod = 24 * time.Hour }, Contents{Read: true, LastChangeAt: now.Add(-time.Hour)}, NotReclaimableRecentChange},
		{"quiet exactly the period", func(p *Policy) { p.QuietPeriod = time.Hour }, Contents{Read: true, LastChangeAt: now.Add(-time.Hour)}, ""},
		{"change in the future", func(p *Policy) { p.QuietPeriod = time.Hour }, Contents{Read: true, LastChangeAt: now.Add(time.Hour)}, NotReclaimableRecentChange},
		{"no quiet period", func(p *Policy) { p.QuietPeriod = 0 }, Contents{Read: true, LastChangeAt: now}, ""},
		{"not read yet", func(p *Policy) { p.QuietPeriod = 0 }, Contents{}, NotReclaimableRecentChange},
		{"read failed", func(p *Policy) { p.QuietPeriod = 0 }, Contents{Read: true, Failed: true}, NotReclaimableRecentChange},
		{"contents off", func(p *Policy) { p.ContentsEnabled = false }, Contents{Read: true, LastChangeAt: now.Add(-48 * time.Hour)}, NotReclaimableRecentChange},
		// the order: evidence_too_recent comes first, destructive_disabled after
		{"evidence too young first", func(p *Policy) { p.MinEvidenceAge = 100 * time.Hour }, Contents{}, NotReclaimableEvidenceTooRecent},
		{"destructive after", func(p *Policy) { p.Destructive = false }, Contents{Read: true, LastChangeAt: now.Add(-48 * time.Hour)}, NotReclaimableDestructiveDisabled},
		{"recent change before destructive", func(p *Policy) { p.Destructive = false }, Contents{}, NotReclaimableRecentChange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := policy()
			tc.mod(&p)
			n := ns(tenant("r"), 48*time.Hour)
			n.Contents = tc.contents
			res := decideN(t, []Namespace{n}, facts, p, 3)
			c := res.Candidates[0]
			if c.Reclaimable != (tc.want == "") || c.NotReclaimableReason != tc.want {
				t.Fatalf("Decide: reclaimable=%v reason=%q, want reason %q", c.Reclaimable, c.NotReclaimableReason, tc.want)
			}
			fresh, why := Evaluate(n, facts[uuidOf("r")], p, res.State, now.Add(3*time.Minute))
			if why != "" || fresh.Reclaimable != (tc.want == "") || fresh.NotReclaimableReason != tc.want {
				t.Fatalf("Evaluate: why=%q reclaimable=%v reason=%q, want reason %q", why, fresh.Reclaimable, fresh.NotReclaimableReason, tc.want)
			}
		})
	}
}
