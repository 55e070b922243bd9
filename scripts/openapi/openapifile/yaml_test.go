package openapifile

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/pb33f/go-yaml"
)

// The YAML is block style, keys in the JSON's order, and reads back as the
// same values: strings that look like numbers, booleans or null stay
// strings.
func TestYAMLOfKeepsOrderAndValues(t *testing.T) {
	in := `{"zeta":1,"alpha":{"200":"true","b":[1.5,"null",null,false,"",
"x: y","#c","multi\nline","010"]},"empty":{},"none":[]}`
	got, err := yamlOf([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := `zeta: 1
alpha:
  "200": "true"
  b:
    - 1.5
    - "null"
    - null
    - false
    - ""
    - 'x: y'
    - '#c'
    - |-
      multi
      line
    - "010"
empty: {}
none: []
`
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	var fromJSON, fromYAML any
	if err := json.Unmarshal([]byte(in), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(got, &fromYAML); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(fromJSON), normalize(fromYAML)) {
		t.Errorf("values differ:\njson %v\nyaml %v", fromJSON, fromYAML)
	}
}

func TestYAMLOfRefusesWhatIsNotJSONOrYAML(t *testing.T) {
	if _, err := yamlOf([]byte(`{"a": [}`)); err == nil {
		t.Error("no error for a broken document")
	}
}

// normalize makes numbers float64, as JSON decodes them.
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			out[k] = normalize(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normalize(x)
		}
		return out
	case int:
		return float64(v)
	}
	return v
}
