package sweep

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/orphansweep/orphans/internal/jcs"
)

// DigestVersion names the layout of the evidence digest.
const DigestVersion = "orphans-evidence/v1"

// createdAtLayout is UTC RFC 3339 with microseconds, PostgreSQL's precision.
const createdAtLayout = "2006-01-02T15:04:05.000000Z07:00"

// Digest is the hex SHA-256 of the RFC 8785 (JCS) JSON array
// ["orphans-evidence/v1", namespaceUID, token, rows], each row
// [created_at, status, resource_type, extra] with JSON null for NULL, rows in
// canonical order. The same namespace and ledger state give the same digest
// in any process.
func Digest(namespaceUID, token string, rows []Row) string {
	var b strings.Builder
	b.WriteByte('[')
	writeJCSString(&b, DigestVersion)
	b.WriteByte(',')
	writeJCSString(&b, namespaceUID)
	b.WriteByte(',')
	writeJCSString(&b, token)
	b.WriteString(",[")
	for i, r := range canonical(rows) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('[')
		created := ""
		if !r.CreatedAtNull {
			created = r.CreatedAt.UTC().Format(createdAtLayout)
		}
		writeJCSNullable(&b, created, r.CreatedAtNull)
		b.WriteByte(',')
		writeJCSNullable(&b, r.Status, r.StatusNull)
		b.WriteByte(',')
		writeJCSNullable(&b, r.ResourceType, r.TypeNull)
		b.WriteByte(',')
		writeJCSNullable(&b, r.Extra, r.ExtraNull)
		b.WriteByte(']')
	}
	b.WriteString("]]")
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// canonical returns rows sorted by created_at, status, resource_type and
// extra, NULLs first; the input is not modified. The newest row is the last.
func canonical(rows []Row) []Row {
	if slices.IsSortedFunc(rows, compareRows) {
		return rows
	}
	out := slices.Clone(rows)
	slices.SortStableFunc(out, compareRows)
	return out
}

func compareRows(a, b Row) int {
	if c := compareNullable(a.CreatedAtNull, b.CreatedAtNull, func() int { return a.CreatedAt.Compare(b.CreatedAt) }); c != 0 {
		return c
	}
	if c := compareNullable(a.StatusNull, b.StatusNull, func() int { return cmp.Compare(a.Status, b.Status) }); c != 0 {
		return c
	}
	if c := compareNullable(a.TypeNull, b.TypeNull, func() int { return cmp.Compare(a.ResourceType, b.ResourceType) }); c != 0 {
		return c
	}
	return compareNullable(a.ExtraNull, b.ExtraNull, func() int { return cmp.Compare(a.Extra, b.Extra) })
}

func compareNullable(aNull, bNull bool, values func() int) int {
	switch {
	case aNull && bNull:
		return 0
	case aNull:
		return -1
	case bNull:
		return 1
	}
	return values()
}

func writeJCSNullable(b *strings.Builder, s string, null bool) {
	if null {
		b.WriteString("null")
		return
	}
	writeJCSString(b, s)
}

// writeJCSString writes s as RFC 8785 serializes a string, each run of
// invalid UTF-8 first replaced by one U+FFFD.
func writeJCSString(b *strings.Builder, s string) {
	jcs.WriteString(b, strings.ToValidUTF8(s, "\uFFFD"))
}
