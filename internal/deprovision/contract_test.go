package deprovision_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/deprovision/deprovisiontest"
)

// jsonFields returns the JSON names of a struct type's fields, and those
// without omitempty (always sent).
func jsonFields(t reflect.Type) (all, always []string) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		all = append(all, name)
		if !strings.Contains(opts, "omitempty") {
			always = append(always, name)
		}
	}
	sort.Strings(all)
	sort.Strings(always)
	return all, always
}

// The wire types and the OpenAPI document name the same fields, and every
// request field the client always sends is required.
func TestWireTypesMatchTheOpenAPIDocument(t *testing.T) {
	req, err := deprovisiontest.LoadSchema("DeprovisionRequest")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		typ  reflect.Type
		path []string
	}{
		{reflect.TypeFor[api.DeprovisionRequest](), nil},
		{reflect.TypeFor[api.Evidence](), []string{"evidence"}},
	} {
		props, err := req.Properties(tc.path...)
		if err != nil {
			t.Fatal(err)
		}
		required, err := req.Required(tc.path...)
		if err != nil {
			t.Fatal(err)
		}
		fields, always := jsonFields(tc.typ)
		if !slices.Equal(props, fields) {
			t.Errorf("%s: schema properties %v, Go fields %v", tc.typ, props, fields)
		}
		if !slices.Equal(required, always) {
			t.Errorf("%s: schema requires %v, the client always sends %v", tc.typ, required, always)
		}
	}
	for name, typ := range map[string]reflect.Type{
		"DeprovisionResponse": reflect.TypeFor[api.DeprovisionResponse](),
		"Capabilities":        reflect.TypeFor[api.Capabilities](),
	} {
		s, err := deprovisiontest.LoadSchema(name)
		if err != nil {
			t.Fatal(err)
		}
		props, _ := s.Properties()
		if fields, _ := jsonFields(typ); !slices.Equal(props, fields) {
			t.Errorf("%s: schema %v, Go %v", name, props, fields)
		}
	}
}

// The answers the document lists are exactly those the client classifies
// (TestDeprovisionStatusClasses covers each one).
func TestDocumentedStatuses(t *testing.T) {
	j, err := yaml.YAMLToJSON(api.DeprovisionOpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name     string `json:"name"`
				In       string `json:"in"`
				Required bool   `json:"required"`
			} `json:"parameters"`
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(j, &doc); err != nil {
		t.Fatal(err)
	}
	op, ok := doc.Paths[api.DeprovisionPath]["post"]
	if !ok {
		t.Fatalf("document has no POST %s", api.DeprovisionPath)
	}
	var codes []string
	for c := range op.Responses {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	if want := []string{"200", "400", "401", "403", "409", "5XX"}; !slices.Equal(codes, want) {
		t.Fatalf("documented responses %v, the client handles %v", codes, want)
	}
	if len(op.Parameters) != 1 || op.Parameters[0].Name != api.HeaderIdempotencyKey || op.Parameters[0].In != "header" || !op.Parameters[0].Required {
		t.Fatalf("Idempotency-Key header parameter: %+v", op.Parameters)
	}
}

// The stand-in refuses what the contract forbids, so the end-to-end tests
// that count on it prove something.
func TestStandInEnforcesTheContract(t *testing.T) {
	s := deprovisiontest.New(t, secret, "alice")
	valid := request("instant-customer-0b6f1c3e-1111-4a4a-8a8a-00000000000a")
	encode := func(r api.DeprovisionRequest) map[string]any {
		b, _ := json.Marshal(r)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}
	post := func(body map[string]any, key, auth string) int {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, s.URL+api.DeprovisionPath, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set(api.HeaderIdempotencyKey, key)
		}
		if auth != "" {
			req.Header.Set(api.HeaderAuthorization, auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(encode(valid), valid.RequestID, "Bearer "+secret); code != 200 {
		t.Fatalf("valid request answered %d: %v", code, s.Violations())
	}
	for name, tc := range map[string]struct {
		mod  func(m map[string]any)
		key  string
		want int
	}{
		"no provider_resource_id":    {func(m map[string]any) { delete(m, "provider_resource_id") }, "", 400},
		"empty provider_resource_id": {func(m map[string]any) { m["provider_resource_id"] = "" }, "", 400},
		"provider id not namespace":  {func(m map[string]any) { m["provider_resource_id"] = "instant-customer-x" }, "", 400},
		"no actor":                   {func(m map[string]any) { delete(m, "actor") }, "", 400},
		"no dry_run":                 {func(m map[string]any) { delete(m, "dry_run") }, "", 400},
		"unknown field":              {func(m map[string]any) { m["force"] = true }, "", 400},
		"sweeps not integer":         {func(m map[string]any) { m["evidence"].(map[string]any)["consecutive_sweeps"] = 1.5 }, "", 400},
		"zero sweeps":                {func(m map[string]any) { m["evidence"].(map[string]any)["consecutive_sweeps"] = 0 }, "", 400},
		"bad evidence reason":        {func(m map[string]any) { m["evidence"].(map[string]any)["reason"] = "guess" }, "", 400},
		"bad date":                   {func(m map[string]any) { m["evidence"].(map[string]any)["confirmed_at"] = "yesterday" }, "", 400},
		"key differs from id":        {func(m map[string]any) {}, "0b6f1c3e-1111-4a4a-8a8a-0000000000ff", 400},
		"request id not uuid":        {func(m map[string]any) { m["request_id"] = "abc" }, "abc", 400},
		"key not derived":            {func(m map[string]any) { m["request_id"] = "0b6f1c3e-1111-4a4a-8a8a-0000000000ff" }, "0b6f1c3e-1111-4a4a-8a8a-0000000000ff", 400},
		"no namespace uid":           {func(m map[string]any) { delete(m["evidence"].(map[string]any), "namespace_uid") }, "", 400},
		"digest not hex":             {func(m map[string]any) { m["evidence"].(map[string]any)["evidence_digest"] = strings.Repeat("Z", 64) }, "", 400},
		"reason no_row":              {func(m map[string]any) { m["evidence"].(map[string]any)["reason"] = "no_row" }, "", 400},
		"no key":                     {func(m map[string]any) {}, "-", 400},
	} {
		r := request(valid.ProviderResourceID)
		body := encode(r)
		tc.mod(body)
		key := r.RequestID
		switch tc.key {
		case "-":
			key = ""
		case "":
		default:
			key = tc.key
		}
		if code := post(body, key, "Bearer "+secret); code != tc.want {
			t.Errorf("%s: answered %d, want %d", name, code, tc.want)
		}
	}
	r := request(valid.ProviderResourceID)
	if code := post(encode(r), r.RequestID, "Bearer wrong"); code != 401 {
		t.Errorf("wrong secret answered %d", code)
	}
	// The same key asking for another action is refused; with the same
	// action it replays the first answer, even when the audit fields differ
	// (a later run, another operator).
	changed := encode(valid)
	changed["token"] = "another-token"
	if code := post(changed, valid.RequestID, "Bearer "+secret); code != 422 {
		t.Errorf("key reuse for another action answered %d", code)
	}
	later := encode(valid)
	later["reason"] = "another reason"
	later["actor"] = "bob"
	if code := post(later, valid.RequestID, "Bearer "+secret); code != 403 {
		t.Errorf("an actor other than the secret's identity answered %d", code)
	}
	s.AddIdentity("b0b-Bearer-value-1a2b3c4d", "bob")
	if code := post(later, valid.RequestID, "Bearer b0b-Bearer-value-1a2b3c4d"); code != 200 {
		t.Errorf("replay answered %d", code)
	}
	got := s.Requests()
	if last := got[len(got)-1]; !last.Replayed {
		t.Errorf("replay not marked: %+v", last)
	}
}
