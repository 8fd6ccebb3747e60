package sweep

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"
)

// FuzzDecide feeds odd names, empty tokens and large label sets to Decide.
// It must never panic, never report a namespace whose token is live, never
// report a namespace out of scope, and never let an unproven type be reclaimed.
func FuzzDecide(f *testing.F) {
	f.Add("instant-customer-", "abc", uint8(3), int64(7200), true, "redis", "deleted", uint16(4))
	f.Add("instant-customer-", "", uint8(0), int64(0), false, "", "", uint16(0))
	f.Add("instant-customer-", "pool-1", uint8(200), int64(-5), true, "redis", "active", uint16(1000))
	f.Add("", "x", uint8(1), int64(1), false, "postgres", "expired", uint16(2))
	f.Add("a", "\x00\xff", uint8(9), int64(1<<40), true, "redis", "", uint16(7))
	f.Fuzz(func(t *testing.T, prefix, token string, n uint8, ageSeconds int64, live bool, rtype, status string, nLabels uint16) {
		p := policy()
		p.Prefix = prefix
		p.Confirmations = 1
		p.MaxCandidateFraction = 0 // the guard has its own test
		if nLabels%3 == 0 {
			p.Selector = labels.SelectorFromSet(labels.Set{"l0": "v"})
		}
		lbls := map[string]string{}
		for i := 0; i < int(nLabels)%2048; i++ {
			lbls[fmt.Sprintf("l%d", i)] = "v"
		}
		if nLabels%5 == 0 {
			lbls[KeepLabel] = "true"
		}
		var nss []Namespace
		facts := Facts{}
		for i := 0; i < int(n)%64+1; i++ {
			tok := token
			if i%2 == 1 {
				tok = fmt.Sprintf("%s%d", token, i)
			}
			nss = append(nss, Namespace{
				Name:        prefix + tok,
				Labels:      lbls,
				CreatedAt:   now.Add(-time.Duration(ageSeconds) * time.Second),
				Terminating: i%3 == 0,
			})
			if i%4 != 3 {
				facts[tok] = Record{Live: live && i%2 == 0, LastStatus: status, ResourceType: rtype}
			}
		}
		var state State
		for round := 0; round < 2; round++ {
			res, err := Decide(nss, facts, p, state, now)
			if err != nil {
				t.Fatalf("guard is off, but Decide failed: %v", err)
			}
			state = res.State
			for _, c := range res.Candidates {
				if rec, ok := facts[c.Token]; ok && rec.Live {
					t.Fatalf("live token %q reported as a candidate", c.Token)
				}
				if prefix == "" || !strings.HasPrefix(c.Namespace, prefix) || c.Token == "" {
					t.Fatalf("out-of-scope namespace %q reported", c.Namespace)
				}
				if c.Reclaimable && (c.Reason != "terminal" || c.ResourceType == "" || c.Terminating) {
					t.Fatalf("unproven or terminating candidate reclaimable: %+v", c)
				}
				if _, why := p.Scope(Namespace{Name: c.Namespace, Labels: lbls, CreatedAt: c.NamespaceCreatedAt}, now); why != "" {
					t.Fatalf("candidate %q is not in scope: %s", c.Namespace, why)
				}
			}
			if res.PastGrace > res.InScope || len(res.Candidates) > res.PastGrace {
				t.Fatalf("counts: in scope %d, past grace %d, candidates %d", res.InScope, res.PastGrace, len(res.Candidates))
			}
		}
	})
}
