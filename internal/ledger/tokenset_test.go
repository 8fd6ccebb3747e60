package ledger

import (
	"strings"
	"testing"
)

func TestTokenSetComparesAsTheColumn(t *testing.T) {
	const canon = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
	known := []string{strings.ToUpper(canon), "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a12", "not-a-uuid"}
	u, _ := uuidValue(canon)
	odd, _ := uuidValue("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12")
	other, _ := uuidValue("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a13")
	uuids := newTokenSet(known, true)
	if !uuids.uuids[u] || !uuids.uuids[odd] || uuids.uuids[other] || len(uuids.uuids) != 2 {
		t.Fatalf("uuid column: %v", uuids.uuids)
	}
	texts := newTokenSet(known, false)
	if texts.texts[canon] || !texts.texts[strings.ToUpper(canon)] || !texts.texts["not-a-uuid"] {
		t.Fatalf("text column: %v", texts.texts)
	}
	if got := formatUUID(u); got != canon {
		t.Fatalf("formatUUID = %q", got)
	}
}
