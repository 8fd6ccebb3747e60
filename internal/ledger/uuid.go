package ledger

// parseUUID accepts what PostgreSQL's uuid input accepts: 32 hex digits, in
// either case, optionally inside braces, with an optional hyphen after any
// group of four digits. It returns the canonical lower-case 8-4-4-4-12 form.
// Matching the server exactly matters: a token the server would equate with
// a live row must never be taken for a token without rows.
func parseUUID(s string) (string, bool) {
	if len(s) >= 2 && s[0] == '{' {
		if s[len(s)-1] != '}' {
			return "", false
		}
		s = s[1 : len(s)-1]
	}
	var hex [32]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			c += 'a' - 'A'
		case c == '-' && n > 0 && n%4 == 0 && n < 32 && i+1 < len(s) && s[i+1] != '-':
			continue
		default:
			return "", false
		}
		if n == 32 {
			return "", false
		}
		hex[n] = c
		n++
	}
	if n != 32 {
		return "", false
	}
	out := make([]byte, 0, 36)
	for i, c := range hex {
		if i == 8 || i == 12 || i == 16 || i == 20 {
			out = append(out, '-')
		}
		out = append(out, c)
	}
	return string(out), true
}

// uuidBytes converts a canonical uuid to its 16 bytes.
func uuidBytes(canonical string) [16]byte {
	var b [16]byte
	j := 0
	for i := 0; i < len(canonical) && j < 32; i++ {
		c := canonical[i]
		if c == '-' {
			continue
		}
		var v byte
		if c >= 'a' {
			v = c - 'a' + 10
		} else {
			v = c - '0'
		}
		if j%2 == 0 {
			b[j/2] = v << 4
		} else {
			b[j/2] |= v
		}
		j++
	}
	return b
}
