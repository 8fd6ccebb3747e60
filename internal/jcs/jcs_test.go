package jcs

import (
	"strings"
	"testing"
)

func TestCanonicalize(t *testing.T) {
	cases := []struct{ name, in, want string }{
		// RFC 8785 section 3.2.3: sorting by UTF-16 code units.
		{"rfc8785 sorting",
			`{"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"}`,
			"{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}"},
		// RFC 8785 section 3.2.2.2: string escaping.
		{"rfc8785 strings",
			`{"string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/"}`,
			`{"string":"€$\u000f\nA'B\"\\\\\"/"}`},
		{"literals and whitespace", " [ true , false , null , { } , [ ] ] ", `[true,false,null,{},[]]`},
		{"integers", `[0, -0, 1, -42, 9007199254740992]`, `[0,0,1,-42,9007199254740992]`},
		{"short escapes", `"\b\f\n\r\t\u0001\u001f \u2028"`, "\"\\b\\f\\n\\r\\t\\u0001\\u001f \u2028\""},
		{"no html escaping", `"<a&b>"`, `"<a&b>"`},
		{"nested", `{"b":[{"z":1,"a":2}],"a":{"y":null,"x":"1"}}`, `{"a":{"x":"1","y":null},"b":[{"a":2,"z":1}]}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Canonicalize([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestRefusesWhatItCannotCanonicalize(t *testing.T) {
	for _, in := range []string{`1.5`, `1e3`, `[1.0]`, `9007199254740993`, `{"a":1} {}`, `{"a":`, "\"\xff\""} {
		if got, err := Canonicalize([]byte(in)); err == nil {
			t.Errorf("%q: got %s, want an error", in, got)
		}
	}
}

func TestMarshalStruct(t *testing.T) {
	v := struct {
		B string `json:"b"`
		A int    `json:"a"`
	}{B: "x\u00e9", A: 3}
	got, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":3,"b":"xé"}`; string(got) != want || strings.Contains(string(got), " ") {
		t.Fatalf("got %s, want %s", got, want)
	}
}
