// Package jcs encodes JSON the RFC 8785 (JSON Canonicalization Scheme)
// way, so that a digest over a document does not depend on who wrote it:
// object members sorted by the UTF-16 code units of their names, no
// insignificant whitespace, minimal string escaping.
//
// Numbers are limited to integers of at most 2^53 in magnitude, which
// RFC 8785 prints plainly; any other number is an error rather than a
// digest that another implementation would compute differently.
package jcs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxSafe is 2^53, the largest magnitude RFC 8785 prints as a plain integer
// without losing precision.
var maxSafe = new(big.Int).Lsh(big.NewInt(1), 53)

// Marshal returns the canonical JSON of v, encoded first with encoding/json.
func Marshal(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return Canonicalize(raw)
}

// Canonicalize returns the canonical form of the JSON document raw.
func Canonicalize(raw []byte) ([]byte, error) {
	if !utf8.Valid(raw) {
		return nil, errors.New("jcs: invalid UTF-8")
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("jcs: %w", err)
	}
	if d.More() {
		return nil, errors.New("jcs: trailing data after the JSON value")
	}
	var b bytes.Buffer
	if err := encode(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func encode(b *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case string:
		WriteString(b, v)
	case json.Number:
		s, err := integer(string(v))
		if err != nil {
			return err
		}
		b.WriteString(s)
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := encode(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, compareUTF16)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			WriteString(b, k)
			b.WriteByte(':')
			if err := encode(b, v[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("jcs: unexpected %T", v)
	}
	return nil
}

// integer returns the RFC 8785 form of an integral JSON number.
func integer(s string) (string, error) {
	if strings.ContainsAny(s, ".eE") {
		return "", fmt.Errorf("jcs: number %s is not an integer; only integers are supported", s)
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return "", fmt.Errorf("jcs: bad number %s", s)
	}
	if new(big.Int).Abs(n).Cmp(maxSafe) > 0 {
		return "", fmt.Errorf("jcs: integer %s is beyond 2^53", s)
	}
	return n.String(), nil // "-0" becomes "0"
}

func compareUTF16(a, b string) int {
	return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
}

// Writer is what WriteString writes to: a *bytes.Buffer or a
// *strings.Builder.
type Writer interface {
	io.ByteWriter
	io.StringWriter
	WriteRune(r rune) (int, error)
}

// WriteString writes s as RFC 8785 serializes a string: only '"', '\\' and
// control characters are escaped, with the short forms where JSON has them.
// s must be valid UTF-8 (an invalid byte is written as U+FFFD).
func WriteString(b Writer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hex[r>>4])
				b.WriteByte(hex[r&0xf])
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}
