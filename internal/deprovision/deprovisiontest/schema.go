package deprovisiontest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"sigs.k8s.io/yaml"

	"github.com/orphansweep/orphans/internal/api"
)

// Schema validates JSON values against one schema of the deprovision
// OpenAPI document. It understands the keywords that document uses and
// refuses to load a schema with any other, so a keyword added to the file
// cannot be silently ignored by the stand-in.
type Schema struct {
	doc  map[string]any
	root map[string]any
}

// knownKeywords are the schema keywords Validate enforces or that carry no
// constraint.
var knownKeywords = map[string]bool{
	"type": true, "required": true, "properties": true, "additionalProperties": true,
	"minLength": true, "format": true, "enum": true, "minimum": true, "$ref": true,
	"description": true, "pattern": true, "items": true,
}

// LoadSchema returns the named schema of components.schemas in the
// deprovision OpenAPI document.
func LoadSchema(name string) (*Schema, error) {
	j, err := yaml.YAMLToJSON(api.DeprovisionOpenAPI)
	if err != nil {
		return nil, fmt.Errorf("deprovision OpenAPI document: %w", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(j, &doc); err != nil {
		return nil, fmt.Errorf("deprovision OpenAPI document: %w", err)
	}
	s := &Schema{doc: doc}
	root, err := s.resolve(map[string]any{"$ref": "#/components/schemas/" + name})
	if err != nil {
		return nil, err
	}
	s.root = root
	if err := s.check(root, name, map[string]bool{}); err != nil {
		return nil, err
	}
	return s, nil
}

// Properties returns the property names of the schema, or of the object
// schema at the given property path (e.g. "evidence"), sorted.
func (s *Schema) Properties(path ...string) ([]string, error) {
	cur := s.root
	for _, p := range path {
		props, _ := cur["properties"].(map[string]any)
		next, ok := props[p].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("schema has no property %q", p)
		}
		var err error
		if cur, err = s.resolve(next); err != nil {
			return nil, err
		}
	}
	props, _ := cur["properties"].(map[string]any)
	names := make([]string, 0, len(props))
	for k := range props {
		names = append(names, k)
	}
	sort.Strings(names)
	return names, nil
}

// Required returns the required property names at the given path, sorted.
func (s *Schema) Required(path ...string) ([]string, error) {
	cur := s.root
	for _, p := range path {
		props, _ := cur["properties"].(map[string]any)
		next, ok := props[p].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("schema has no property %q", p)
		}
		var err error
		if cur, err = s.resolve(next); err != nil {
			return nil, err
		}
	}
	var out []string
	req, _ := cur["required"].([]any)
	for _, r := range req {
		out = append(out, fmt.Sprint(r))
	}
	sort.Strings(out)
	return out, nil
}

// Validate returns every way raw (a JSON document) breaks the schema.
func (s *Schema) Validate(raw []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return []string{"body is not JSON: " + err.Error()}
	}
	if dec.More() {
		return []string{"body holds more than one JSON value"}
	}
	var problems []string
	s.validate(s.root, v, "$", &problems)
	return problems
}

func (s *Schema) resolve(sch map[string]any) (map[string]any, error) {
	for range 10 {
		ref, ok := sch["$ref"].(string)
		if !ok {
			return sch, nil
		}
		name, ok := strings.CutPrefix(ref, "#/components/schemas/")
		if !ok {
			return nil, fmt.Errorf("unsupported $ref %q", ref)
		}
		comps, _ := s.doc["components"].(map[string]any)
		schemas, _ := comps["schemas"].(map[string]any)
		next, ok := schemas[name].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q: no such schema", ref)
		}
		sch = next
	}
	return nil, fmt.Errorf("$ref chain too long")
}

func (s *Schema) check(sch map[string]any, at string, seen map[string]bool) error {
	for k := range sch {
		if !knownKeywords[k] {
			return fmt.Errorf("schema %s uses keyword %q, which the stand-in does not enforce", at, k)
		}
	}
	if p, ok := sch["pattern"]; ok {
		ps, isString := p.(string)
		if !isString {
			return fmt.Errorf("schema %s: pattern is not a string", at)
		}
		if _, err := regexp.Compile(ps); err != nil {
			return fmt.Errorf("schema %s: pattern: %w", at, err)
		}
	}
	if ap, ok := sch["additionalProperties"]; ok {
		if b, isBool := ap.(bool); !isBool || b {
			return fmt.Errorf("schema %s: only additionalProperties: false is supported", at)
		}
	}
	if it, ok := sch["items"]; ok {
		is, isObject := it.(map[string]any)
		if !isObject {
			return fmt.Errorf("schema %s: items is not an object", at)
		}
		r, err := s.resolve(is)
		if err != nil {
			return err
		}
		if err := s.check(r, at+"[]", seen); err != nil {
			return err
		}
	}
	props, _ := sch["properties"].(map[string]any)
	for name, p := range props {
		ps, ok := p.(map[string]any)
		if !ok {
			return fmt.Errorf("schema %s.%s is not an object", at, name)
		}
		if ref, ok := ps["$ref"].(string); ok {
			if seen[ref] {
				continue
			}
			seen[ref] = true
		}
		r, err := s.resolve(ps)
		if err != nil {
			return err
		}
		if err := s.check(r, at+"."+name, seen); err != nil {
			return err
		}
	}
	return nil
}

func (s *Schema) validate(sch map[string]any, v any, at string, problems *[]string) {
	sch, err := s.resolve(sch)
	if err != nil {
		*problems = append(*problems, err.Error())
		return
	}
	add := func(format string, args ...any) {
		*problems = append(*problems, at+": "+fmt.Sprintf(format, args...))
	}
	if enum, ok := sch["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if fmt.Sprint(e) == fmt.Sprint(v) {
				found = true
			}
		}
		if !found {
			add("%v is not one of %v", v, enum)
		}
	}
	switch sch["type"] {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			add("want an object")
			return
		}
		props, _ := sch["properties"].(map[string]any)
		req, _ := sch["required"].([]any)
		for _, r := range req {
			if _, ok := obj[fmt.Sprint(r)]; !ok {
				add("required property %q is missing", r)
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if _, has := sch["additionalProperties"]; has {
					add("property %q is not in the contract", k)
				}
				continue
			}
			s.validate(ps, obj[k], at+"."+k, problems)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			add("want a string")
			return
		}
		if min, ok := sch["minLength"].(float64); ok && float64(len([]rune(str))) < min {
			add("shorter than %v characters", min)
		}
		if p, ok := sch["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			add("%q does not match %s", str, p)
		}
		switch sch["format"] {
		case "uuid":
			if _, err := uuid.Parse(str); err != nil || len(str) != 36 {
				add("%q is not a uuid", str)
			}
		case "date-time":
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				add("%q is not an RFC 3339 date-time", str)
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			add("want an array")
			return
		}
		if is, ok := sch["items"].(map[string]any); ok {
			for i, e := range arr {
				s.validate(is, e, fmt.Sprintf("%s[%d]", at, i), problems)
			}
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			add("want a boolean")
		}
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			add("want an integer")
			return
		}
		i, err := n.Int64()
		if err != nil {
			add("%s is not an integer", n)
			return
		}
		if min, ok := sch["minimum"].(float64); ok && float64(i) < min {
			add("%d is below the minimum %v", i, min)
		}
	}
}
