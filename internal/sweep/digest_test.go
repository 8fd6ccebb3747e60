package sweep

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func TestDigestIsCanonicalJCS(t *testing.T) {
	created := time.Date(2026, 3, 4, 5, 6, 7, 891000, time.FixedZone("CET", 3600))
	rows := []Row{
		{CreatedAt: created, Status: "deleted", ResourceType: "redis", ExtraNull: true},
		{CreatedAtNull: true, StatusNull: true, TypeNull: true, Extra: "x\"\\\n\x01é\u2028<", ExtraNull: false},
	}
	// The array as RFC 8785 writes it: NULL created_at sorts first, times in
	// UTC with microseconds, only quote, backslash and controls escaped.
	want := `["orphans-evidence/v1","uid-1","tok",[[null,null,null,"x\"\\\n\u0001é` + "\u2028" + `<"],` +
		`["2026-03-04T04:06:07.000891Z","deleted","redis",null]]]`
	sum := sha256.Sum256([]byte(want))
	if got := Digest("uid-1", "tok", rows); got != hex.EncodeToString(sum[:]) {
		t.Fatalf("digest %s is not the SHA-256 of %s", got, want)
	}
}

func TestDigestIgnoresRowOrderAndSeesEveryField(t *testing.T) {
	a := row("deleted", "redis", 0)
	b := row("failed", "redis", 1)
	base := Digest("u", "t", []Row{a, b})
	if Digest("u", "t", []Row{b, a}) != base {
		t.Fatal("row order changes the digest")
	}
	// same created_at: status then type break the tie
	c1, c2 := row("failed", "redis", 0), row("deleted", "redis", 0)
	if Digest("u", "t", []Row{c1, c2}) != Digest("u", "t", []Row{c2, c1}) {
		t.Fatal("tied rows: order changes the digest")
	}
	differ := map[string]string{
		"uid":    Digest("v", "t", []Row{a, b}),
		"token":  Digest("u", "T", []Row{a, b}),
		"rows":   Digest("u", "t", []Row{a}),
		"status": Digest("u", "t", []Row{a, row("Failed", "redis", 1)}),
		"type":   Digest("u", "t", []Row{a, row("failed", "postgres", 1)}),
		"time":   Digest("u", "t", []Row{a, row("failed", "redis", 2)}),
		"null":   Digest("u", "t", []Row{a, nullStatus("redis", 1)}),
		"empty":  Digest("u", "t", []Row{a, row("", "redis", 1)}),
	}
	seen := map[string]string{base: "base"}
	for name, d := range differ {
		if other, dup := seen[d]; dup {
			t.Errorf("%s gives the same digest as %s", name, other)
		}
		seen[d] = name
	}
	if strings.ToLower(base) != base || len(base) != 64 {
		t.Fatalf("digest %q is not lower-case hex SHA-256", base)
	}
}
