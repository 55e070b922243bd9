package httpapi

import (
	"strings"
	"testing"
)

func TestStrictJSONRefusesWhatEncodingJSONLetsThrough(t *testing.T) {
	for body, says := range map[string]string{
		`{"title":"a","title":"b"}`:     "given twice",
		`{"a":{"x":1,"x":2}}`:           "given twice",
		`{"a":[{"x":1},{"x":2,"x":3}]}`: "given twice",
		`{"Title":"a"}`:                 "snake_case",
		`{"\u017fevere":"a"}`:           "snake_case",
		"{\"title\":\"\xff\"}":          "UTF-8",
		`{"title":"\ud800"}`:            "UTF-8",
		`{"title":"\udc00x"}`:           "UTF-8",
		`{"title":"\ud800\u0041"}`:      "UTF-8",
		`{"title":"a\u0000"}`:           "control character",
		`{"notes":"\u001b[31m"}`:        "control character",
		`{"notes":"del\u007f"}`:         "control character",
	} {
		err := strictJSON([]byte(body))
		if err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%s: %v, want it refused saying %q", body, err, says)
		}
	}
	for _, body := range []string{
		`{"title":"café 😀 \ud83d\ude00","notes":"tab\tnew\nline\r\n"}`,
		`{"title":"a \\ud800 written out","a":{"x":1},"b":{"x":2},"list":[1,"x",{"y":null}]}`,
		`{"a":[],"b":{},"c":[[],[{}]]}`,
	} {
		if err := strictJSON([]byte(body)); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
}
