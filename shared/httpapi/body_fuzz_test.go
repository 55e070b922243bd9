package httpapi

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
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
	} {
		f.Add([]byte(seed), "application/json")
	}
	f.Add([]byte(`{"command":"OPEN"}`), "text/plain")
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
		for _, target := range targets {
			for _, emptyOK := range []bool{true, false} {
				r := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/x"}, Header: http.Header{},
					Body: nopCloser{bytes.NewReader(body)}, ContentLength: int64(len(body))}
				r.Header.Set("Content-Type", contentType)
				v := target()
				_, err := decodeBody(r, v, emptyOK)
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
