package logsafe

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const tok = "3f2b8c1e-9d4a-4e7b-a1c2-5d6e7f8a9b0c"

func TestMask(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{tok, "3f2b8c1e*** (len=36)"},
		{"abcdefghijklmnop", "abcdefgh*** (len=16)"},
		{"abcdef", "abc*** (len=6)"},
		{"a", "*** (len=1)"},
		{"", "*** (len=0)"},
		{"ÿÿÿÿ", "ÿÿ*** (len=4)"},
	} {
		if got := Mask(tc.in); got != tc.want {
			t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTokenAndNamespaceNeverPrintWhole(t *testing.T) {
	for _, s := range []string{
		fmt.Sprint(Token(tok)), fmt.Sprintf("%v %s", Token(tok), Token(tok)),
		Namespace{Name: "instant-customer-" + tok, Prefix: "instant-customer-"}.String(),
		Namespace{Name: "other-" + tok}.String(),
	} {
		if strings.Contains(s, tok) {
			t.Errorf("%q shows the token", s)
		}
	}
	if got := (Namespace{Name: "instant-customer-" + tok, Prefix: "instant-customer-"}).String(); got != "instant-customer-3f2b8c1e*** (len=36)" {
		t.Errorf("namespace mask %q", got)
	}
}

func TestRedact(t *testing.T) {
	r := NewRedactor("instant-customer-")
	for _, in := range []string{
		`namespaces "instant-customer-` + tok + `" not found`,
		`namespaces "instant-customer-not-a-uuid-token" not found`,
		"token " + tok + " and " + strings.ToUpper(tok),
		"token " + strings.ReplaceAll(tok, "-", ""),
	} {
		out := r.Redact(in)
		for _, secret := range []string{tok, "not-a-uuid-token", strings.ToUpper(tok), strings.ReplaceAll(tok, "-", "")} {
			if strings.Contains(out, secret) {
				t.Errorf("Redact(%q) = %q still shows %q", in, out, secret)
			}
		}
	}
	already := "ns instant-customer-3f2b8c1e*** (len=36)"
	if got := r.Redact(already); got != already {
		t.Errorf("Redact re-masked a mask: %q", got)
	}
	if got := r.Redact("sweep.completed candidates=3"); got != "sweep.completed candidates=3" {
		t.Errorf("Redact changed plain text: %q", got)
	}
}

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil), NewRedactor("instant-customer-")))
	log = log.With("ns", "instant-customer-"+tok)
	log.WithGroup("g").Info("saw instant-customer-"+tok,
		"err", errors.New(`get namespaces "instant-customer-`+tok+`": forbidden`),
		"tokens", []string{tok},
		"token", Token(tok),
		"n", 3,
		slog.Group("inner", "t", tok),
	)
	out := buf.String()
	if strings.Contains(out, tok) {
		t.Fatalf("log line shows the token:\n%s", out)
	}
	if !strings.Contains(out, `"n":3`) || !strings.Contains(out, "3f2b8c1e") {
		t.Fatalf("handler lost data:\n%s", out)
	}
}
