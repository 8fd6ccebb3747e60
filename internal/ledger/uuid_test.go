package ledger

import "testing"

func TestParseUUID(t *testing.T) {
	const canon = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
	for _, in := range []string{
		canon, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
		"a0eebc999c0b4ef8bb6d6bb9bd380a11", "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11", "{a0eebc999c0b4ef8bb6d6bb9bd380a11}",
	} {
		if got, ok := parseUUID(in); !ok || got != canon {
			t.Errorf("parseUUID(%q) = %q, %v", in, got, ok)
		}
	}
	for _, in := range []string{
		"", "not-a-uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111",
		"-a0eebc999c0b4ef8bb6d6bb9bd380a11", "a0eebc999c0b4ef8bb6d6bb9bd380a11-", "a0eeb-c999c0b4ef8bb6d6bb9bd380a11",
		"a0ee--bc999c0b4ef8bb6d6bb9bd380a11", "{a0eebc999c0b4ef8bb6d6bb9bd380a11", "g0eebc999c0b4ef8bb6d6bb9bd380a11",
	} {
		if got, ok := parseUUID(in); ok {
			t.Errorf("parseUUID(%q) = %q, want rejection", in, got)
		}
	}
}
