package ledger

// uuidValue accepts what PostgreSQL's uuid input accepts: 32 hex digits, in
// either case, optionally inside braces, with an optional hyphen after any
// group of four digits, and returns the 16 bytes. Matching the server exactly
// matters: a token the server would equate with a live row must never be
// taken for a token without rows.
func uuidValue(s string) ([16]byte, bool) {
	var b [16]byte
	if len(s) >= 2 && s[0] == '{' {
		if s[len(s)-1] != '}' {
			return b, false
		}
		s = s[1 : len(s)-1]
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		case c == '-' && n > 0 && n%4 == 0 && n < 32 && i+1 < len(s) && s[i+1] != '-':
			continue
		default:
			return b, false
		}
		if n == 32 {
			return b, false
		}
		if n%2 == 0 {
			b[n/2] = v << 4
		} else {
			b[n/2] |= v
		}
		n++
	}
	return b, n == 32
}

// parseUUID is uuidValue in the canonical lower-case 8-4-4-4-12 form the
// server prints.
func parseUUID(s string) (string, bool) {
	b, ok := uuidValue(s)
	if !ok {
		return "", false
	}
	return formatUUID(b), true
}

// formatUUID spells a uuid as the server prints it.
func formatUUID(b [16]byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, v := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, digits[v>>4], digits[v&0xf])
	}
	return string(out)
}
