package sweep

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/labels"
)

// fuzzStatuses are the status values the fuzzer picks from: live, terminal,
// and the unknown ones that must never be mistaken for terminal.
var fuzzStatuses = []string{"active", "pending", "paused", "suspended", "deleted", "expired", "failed", "reaped",
	"Deleted", "DELETED", " deleted", "provisioning", "restoring", "", "<null>"}

var fuzzTypes = []string{"redis", "postgres", "", "Redis", "<null>"}

// FuzzDecide feeds odd names, rows of every status class, flags and
// policies to Decide and Evaluate. Its oracle states the safety rules: never
// panic, never report a live token or a namespace out of scope, and a
// reclaimable candidate satisfies every reclaim rule on its own rows.
func FuzzDecide(f *testing.F) {
	f.Add("instant-customer-", "abc", uint8(3), int64(7200), []byte{4, 0, 5, 1}, uint8(0xff), uint8(3), int64(0), uint8(4))
	f.Add("instant-customer-", "", uint8(0), int64(0), []byte{}, uint8(0), uint8(0), int64(0), uint8(1))
	f.Add("instant-customer-", "pool-1", uint8(200), int64(-5), []byte{0, 0}, uint8(0x0f), uint8(1), int64(60), uint8(2))
	f.Add("", "x", uint8(1), int64(1), []byte{8, 2}, uint8(0x3), uint8(2), int64(1), uint8(3))
	f.Add("a", "\x00\xff", uint8(9), int64(1<<40), []byte{13, 14, 12}, uint8(0x7f), uint8(1), int64(0), uint8(5))
	f.Add("instant-customer-", "r", uint8(2), int64(1<<20), []byte{4, 5, 4, 0x15}, uint8(0xfe), uint8(1), int64(30), uint8(6))
	f.Add("instant-customer-", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", uint8(2), int64(1<<20), []byte{4, 5, 0x84, 0x95}, uint8(0xfb), uint8(1), int64(30), uint8(6))
	f.Add("instant-customer-", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", uint8(2), int64(1<<20), []byte{4, 5, 4, 0x15}, uint8(0xfb), uint8(1), int64(30), uint8(6))
	f.Fuzz(func(t *testing.T, prefix, token string, n uint8, ageSeconds int64, rowSpec []byte, flags uint8, confirmations uint8, minAgeSeconds int64, rounds uint8) {
		p := policy()
		p.Prefix = prefix
		p.Enabled = flags&1 != 0
		p.Destructive = p.Enabled && flags&2 != 0
		p.TerminatedAtColumn = flags&4 != 0
		p.Confirmations = int(confirmations % 5)
		p.MinEvidenceAge = time.Duration(minAgeSeconds%100_000) * time.Second
		p.ContentsEnabled = flags&128 != 0 || confirmations&8 != 0
		p.QuietPeriod = time.Duration(minAgeSeconds%7_000) * time.Second
		if flags&8 != 0 {
			p.ReclaimTypes = []string{"redis", "postgres"}
		}
		p.MaxCandidateFraction = 0 // the guard has its own test
		if flags&16 != 0 {
			p.Selector = labels.SelectorFromSet(labels.Set{"l0": "v"})
		}
		lbls := map[string]string{"l0": "v"}
		if flags&32 != 0 {
			lbls[KeepLabel] = "true"
		}
		var nss []Namespace
		facts := Facts{}
		for i := 0; i < int(n)%32+1; i++ {
			tok := token
			if i%2 == 1 {
				tok = fmt.Sprintf("%s%d", token, i)
			}
			nss = append(nss, Namespace{
				Name: prefix + tok, UID: fmt.Sprintf("uid-%d", i), Labels: lbls,
				CreatedAt:   now.Add(-time.Duration(ageSeconds) * time.Second),
				Terminating: i%3 == 0 && flags&64 != 0,
				// by name, so that namespaces of the same name agree
				Contents: Contents{
					Read: (len(tok)+int(confirmations))%5 != 0, Failed: (len(tok)+int(n))%7 == 0,
					LastChangeAt: now.Add(-time.Duration(len(tok)*int(n)) * time.Minute),
				},
			})
			if i%4 != 3 {
				facts[tok] = fuzzRows(rowSpec, i)
			}
		}
		byName := map[string]Contents{}
		for _, n := range nss {
			byName[n.Name] = n.Contents
		}
		var state State
		for round := 0; round < int(rounds)%8+1; round++ {
			at := now.Add(time.Duration(round) * time.Hour)
			res, err := Decide(nss, facts, p, state, at)
			if err != nil {
				t.Fatalf("guard is off, but Decide failed: %v", err)
			}
			state = res.State
			for _, c := range res.Candidates {
				checkCandidate(t, p, c, facts[c.Token], byName[c.Namespace], at)
			}
			if res.PastGrace > res.InScope || len(res.Candidates) > res.PastGrace {
				t.Fatalf("counts: in scope %d, past grace %d, candidates %d", res.InScope, res.PastGrace, len(res.Candidates))
			}
			for i := range nss {
				if c, why := Evaluate(nss[i], facts[strings.TrimPrefix(nss[i].Name, prefix)], p, state, at); why == "" {
					checkCandidate(t, p, c, facts[c.Token], nss[i].Contents, at)
				}
			}
		}
	})
}

// fuzzRows turns fuzz bytes into rows: each byte picks a status (low four
// bits) and a type (high bits); i shifts the picks so namespaces differ.
func fuzzRows(spec []byte, i int) []Row {
	var rows []Row
	for j, b := range spec {
		if j >= 8 {
			break
		}
		st := fuzzStatuses[(int(b&0x0f)+i)%len(fuzzStatuses)]
		ty := fuzzTypes[(int(b>>4)+i/2)%len(fuzzTypes)]
		r := Row{CreatedAt: rowBase.Add(time.Duration(j) * time.Hour), Status: st, ResourceType: ty}
		r.StatusNull, r.TypeNull = st == "<null>", ty == "<null>"
		switch {
		case b&0x80 != 0 && b&0x40 != 0 && j%3 == 2:
			r.Extra, r.TerminatedAtInfinite = "infinity", true
		case b&0x80 != 0:
			r.Extra, r.TerminatedAt = "set", now.Add(-time.Duration(j)*24*time.Hour)
		default:
			r.ExtraNull = true
		}
		rows = append(rows, r)
	}
	return rows
}

// checkCandidate is the oracle: what every candidate, and every reclaimable
// one above all, must satisfy, computed from the rows directly.
func checkCandidate(t *testing.T, p Policy, c Candidate, rows []Row, contents Contents, now time.Time) {
	t.Helper()
	live := false
	allTerminal := len(rows) > 0
	types := map[string]bool{}
	typeMissing := false
	for _, r := range rows {
		if !r.StatusNull && slices.Contains(p.LiveStatuses, r.Status) {
			live = true
		}
		if r.StatusNull || !slices.Contains(p.TerminalStatuses, r.Status) {
			allTerminal = false
		}
		if r.TypeNull || r.ResourceType == "" {
			typeMissing = true
		} else {
			types[r.ResourceType] = true
		}
	}
	if live {
		t.Fatalf("live token %q reported as a candidate", c.Token)
	}
	if p.Prefix == "" || !strings.HasPrefix(c.Namespace, p.Prefix) || c.Token == "" {
		t.Fatalf("out-of-scope namespace %q reported", c.Namespace)
	}
	if c.EvidenceDigest != Digest(c.NamespaceUID, c.Token, rows) {
		t.Fatalf("%s: digest does not match its rows", c.Namespace)
	}
	if !c.Reclaimable {
		if c.NotReclaimableReason == "" {
			t.Fatalf("%s: not reclaimable without a reason", c.Namespace)
		}
		return
	}
	switch {
	case !p.Enabled || !p.Destructive:
		t.Fatalf("reclaimable with flags off: %+v", c)
	case c.Terminating:
		t.Fatalf("terminating namespace reclaimable: %+v", c)
	case !canonicalUUID(c.Token):
		t.Fatalf("reclaimable under a token that is not a canonical uuid: %+v", c)
	case c.Reason != ReasonTerminal || !allTerminal:
		t.Fatalf("reclaimable without every row terminal: %+v %+v", c, rows)
	case typeMissing || len(types) != 1 || !types[c.ResourceType]:
		t.Fatalf("reclaimable without one proven type: %+v %+v", c, rows)
	case !slices.Contains(p.ReclaimTypes, c.ResourceType):
		t.Fatalf("reclaimable type not listed: %+v", c)
	case p.Confirmations < 1 || c.ConsecutiveSweeps < p.Confirmations:
		t.Fatalf("reclaimable before %d confirmations: %+v", p.Confirmations, c)
	case now.Sub(c.EvidenceSince) < p.MinEvidenceAge || c.EvidenceSince.Before(c.NamespaceCreatedAt):
		t.Fatalf("reclaimable with evidence since %v, min age %s: %+v", c.EvidenceSince, p.MinEvidenceAge, c)
	case p.TerminatedAtColumn && slices.ContainsFunc(rows, func(r Row) bool {
		return r.ExtraNull || r.TerminatedAtInfinite || r.TerminatedAt.After(now) || r.TerminatedAt.After(c.EvidenceSince)
	}):
		t.Fatalf("reclaimable while a row's terminated-at is missing, infinite, in the future or after the evidence's start: %+v %+v", c, rows)
	case !p.ContentsEnabled || !contents.Read || contents.Failed:
		t.Fatalf("reclaimable without contents read (%+v): %+v", contents, c)
	case p.QuietPeriod > 0 && now.Sub(contents.LastChangeAt) < p.QuietPeriod:
		t.Fatalf("reclaimable with a change at %v inside the quiet period %s: %+v", contents.LastChangeAt, p.QuietPeriod, c)
	}
}

// canonicalUUID is the oracle's own reading of a canonical token: what
// uuid.Parse accepts and spells back the same, lower-case with hyphens.
func canonicalUUID(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && u.String() == s
}
