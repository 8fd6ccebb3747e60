// Package logsafe keeps tenant tokens out of logs. A token names a customer's
// resource; a log line is read by many more people than the ledger, so every
// token is shown masked: its first characters, "***" and its length.
package logsafe

import (
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"unicode/utf8"
)

// maxShown is how many leading characters of a token a mask keeps.
const maxShown = 8

// Mask returns token as "first8***" + " (len=N)". Tokens of up to 16
// characters keep only half of them, so a mask never reveals a whole token.
func Mask(token string) string {
	n := utf8.RuneCountInString(token)
	if n == 0 {
		return "*** (len=0)"
	}
	shown := min(maxShown, n/2)
	runes := []rune(token)
	return fmt.Sprintf("%s*** (len=%d)", string(runes[:shown]), n)
}

// Token is a tenant token that logs itself masked.
type Token string

// LogValue implements slog.LogValuer.
func (t Token) LogValue() slog.Value { return slog.StringValue(Mask(string(t))) }

// String masks the token too, so fmt never prints it whole.
func (t Token) String() string { return Mask(string(t)) }

// Namespace is a tenant namespace name whose token part logs masked.
type Namespace struct {
	Name   string
	Prefix string
}

// LogValue implements slog.LogValuer.
func (n Namespace) LogValue() slog.Value { return slog.StringValue(n.String()) }

// String returns the namespace with its token masked.
func (n Namespace) String() string {
	if n.Prefix != "" && strings.HasPrefix(n.Name, n.Prefix) {
		return n.Prefix + Mask(strings.TrimPrefix(n.Name, n.Prefix))
	}
	return Mask(n.Name)
}

// uuidRE matches a UUID anywhere in text; tokens in the reference platform are UUIDs.
var uuidRE = regexp.MustCompile(`(?i)\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b`)

// Redactor masks tokens inside free text such as error messages from
// client libraries: anything after a namespace prefix, and anything shaped
// like a UUID.
type Redactor struct {
	prefixRE *regexp.Regexp
}

// NewRedactor returns a Redactor for the given namespace prefixes.
func NewRedactor(prefixes ...string) *Redactor {
	var alts []string
	for _, p := range prefixes {
		if p != "" {
			alts = append(alts, regexp.QuoteMeta(p))
		}
	}
	r := &Redactor{}
	if len(alts) > 0 {
		// A DNS-1123 label after the prefix is the token.
		r.prefixRE = regexp.MustCompile(`(` + strings.Join(alts, "|") + `)([a-z0-9]([-a-z0-9.]*[a-z0-9])?)`)
	}
	return r
}

// Redact returns s with every token masked.
func (r *Redactor) Redact(s string) string {
	if r.prefixRE != nil {
		var b strings.Builder
		last := 0
		for _, m := range r.prefixRE.FindAllStringSubmatchIndex(s, -1) {
			tokStart, tokEnd := m[4], m[5]
			if strings.HasPrefix(s[tokEnd:], "***") {
				continue // already masked
			}
			b.WriteString(s[last:tokStart])
			b.WriteString(maskInline(s[tokStart:tokEnd]))
			last = tokEnd
		}
		b.WriteString(s[last:])
		s = b.String()
	}
	return uuidRE.ReplaceAllStringFunc(s, maskInline)
}

// maskInline masks a token inside running text; the mask carries no spaces so
// that a later pass does not find a token in it again.
func maskInline(token string) string {
	n := utf8.RuneCountInString(token)
	shown := min(maxShown, n/2)
	return fmt.Sprintf("%s***(len=%d)", string([]rune(token)[:shown]), n)
}
