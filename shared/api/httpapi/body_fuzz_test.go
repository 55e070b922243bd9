package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeBodies feeds any bytes, as any of the write routes' bodies, to
// the strict decoder: it never panics, and every refusal is a 400, 413 or
// 415 in the error shape, never anything a client could not act on.
func FuzzDecodeBodies(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `{"command":"OPEN"}`, `{"command":"OPEN","params":{"target_angle_deg":90,"torque_limit_nm":40,"speed":0.5}}`,
		`{"command":"OPEN","override":{"reason":"crew on site"}}`, `{"title":"t","severity":"info","affected_modules":["flow-iq"]}`,
		`{"status":"resolved","version":3}`, `{"section":"A-North","severity":"critical","location":{"lat":1,"lon":2}}`,
		`{"command":`, `[]`, `null`, `{"a":1}`, `{"version":1e400}`, `{"command":"OPEN"}{}`, "\xff\xfe",
		`{"id":"v-200","name":"Bypass D4","location":"km 12.5","estimated_maintenance":"2027-01-01T00:00:00Z","thresholds":{"temperature_warning_c":40}}`,
		`{"thresholds":null,"estimated_maintenance":null}`, `{"thresholds":{"pressure_offline_pa":"x"}}`,
		`{"section":"F-Spur","location":"spur"}`, `{"location":null}`,
		// What encoding/json alone lets through (issue 15): a field twice,
		// a name in another case, bytes that are not UTF-8, a NUL.
		`{"title":"a","title":"b","severity":"info"}`, `{"TITLE":"t","severity":"info"}`, `{"\u212Aey":1}`,
		"{\"title\":\"\xff\xfe\",\"severity\":\"info\"}", `{"title":"a\u0000b","severity":"info"}`,
		`{"section":"A-North","severity":"minor","location":{"lat":1,"lat":2,"lon":3}}`, `{"title":"\ud800","severity":"info"}`,
	} {
		f.Add([]byte(seed), "application/json")
	}
	f.Add([]byte(`{"command":"OPEN"}`), "text/plain")
	f.Add([]byte(`{"command":"OPEN"}`), "application/json; charset=utf-8")
	f.Add([]byte("\f"), "application/json")
	f.Add([]byte(`{"command":"OPEN"}`+strings.Repeat(" ", MaxBody)), "application/json")    // over the limit in its whitespace
	f.Add([]byte(`{"command":"`+strings.Repeat("x", MaxBody)+`"}`), "application/json")     // over the limit in its object
	f.Add([]byte(`x`+strings.Repeat(" ", MaxBody)), "application/json")                     // malformed and over the limit
	f.Add([]byte(`{"nope":1}`+strings.Repeat(" ", MaxBody)), "application/json")            // an unknown field, over the limit
	f.Add([]byte(`{"command":"OPEN"}`+strings.Repeat(" ", MaxBody-18)), "application/json") // exactly at the limit
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		targets := []func() any{
			func() any { return &actuateBody{} },
			func() any { return &incidentBody{} },
			func() any { return &updateBody{} },
			func() any { return &leakBody{} },
			func() any { return &newValveBody{} },
			func() any { return &valveChangeBody{} },
			func() any { return &newSectionBody{} },
			func() any { return &sectionChangeBody{} },
		}
		request := func(length int64) *http.Request {
			r := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/x"}, Header: http.Header{},
				Body: nopCloser{bytes.NewReader(body)}, ContentLength: length}
			r.Header.Set("Content-Type", contentType)
			return r
		}
		for _, target := range targets {
			for _, emptyOK := range []bool{true, false} {
				v := target()
				empty, err := decodeBody(request(int64(len(body))), v, emptyOK)

				// Read as it comes or read whole first, with the length
				// told or not (-1, as a chunked body): the same answer.
				for _, length := range []int64{int64(len(body)), -1} {
					w := target()
					wEmpty, wErr := decodeBuffered(request(length), w, emptyOK)
					if length < 0 {
						gotEmpty, gotErr := decodeBody(request(length), target(), emptyOK)
						if gotEmpty != wEmpty || fmt.Sprint(gotErr) != fmt.Sprint(wErr) {
							t.Fatalf("body %q (%q), length %d: as read %v %v, read whole %v %v", body, contentType, length, gotEmpty, gotErr, wEmpty, wErr)
						}
						continue
					}
					if empty != wEmpty || fmt.Sprint(err) != fmt.Sprint(wErr) || (err == nil && !reflect.DeepEqual(v, w)) {
						t.Fatalf("body %q (%q): as read %v %v %+v, read whole %v %v %+v", body, contentType, empty, err, v, wEmpty, wErr, w)
					}
				}
				if err == nil {
					// A change's members are decoded a second time, each
					// strictly into its own type.
					if c, ok := v.(*valveChangeBody); ok {
						err = fuzzFields(c)
					}
				}
				if err == nil {
					continue
				}
				var se *statusError
				if !errors.As(err, &se) || (se.status != 400 && se.status != 413 && se.status != 415) || se.message == "" {
					t.Fatalf("body %q (%q): refusal %v is not a 400/413/415 with a message", body, contentType, err)
				}
			}
		}
	})
}

// fuzzFields decodes a valve change's members as changeValve does.
func fuzzFields(c *valveChangeBody) error {
	if _, err := field[string](c.Name, "name"); err != nil {
		return err
	}
	if _, err := field[string](c.Location, "location"); err != nil {
		return err
	}
	if _, err := field[time.Time](c.EstimatedMaintenance, "estimated_maintenance"); err != nil {
		return err
	}
	_, err := field[thresholdsBody](c.Thresholds, "thresholds")
	return err
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
