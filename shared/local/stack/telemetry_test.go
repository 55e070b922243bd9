package stack_test

import (
	"net/http"
	"testing"
	"time"
)

func TestDeviceTelemetryIsListedAndAnalysed(t *testing.T) {
	st := deviceStack(t)
	valve := device(t, st, "v-101")
	// Twelve messages a second apart with the flow around 1000 l/min, then
	// one at 1800: 80 % over the mean of the ten before it, a high anomaly.
	start := time.Now().Add(-time.Minute).Truncate(time.Second)
	for i := range 12 {
		publish(t, valve, "plainview/devices/v-101/telemetry", map[string]any{
			"ts": start.Add(time.Duration(i) * time.Second).Unix(), "flow_rate_lpm": 990 + float64(i%3)*10,
			"pressure_pa": 2.1e6, "temperature_c": 42,
		})
	}
	spikeAt := start.Add(12 * time.Second)
	publish(t, valve, "plainview/devices/v-101/telemetry", map[string]any{
		"ts": spikeAt.Unix(), "flow_rate_lpm": 1800, "pressure_pa": 2.1e6, "temperature_c": 42,
	})

	var items []any
	eventually(t, "13 readings listed", func() bool {
		items = getJSON(t, st, "/telemetry?device=v-101&metric=flow_rate_lpm")["items"].([]any)
		return len(items) == 13
	})
	var prev time.Time
	for i, it := range items {
		r := it.(map[string]any)
		at, err := time.Parse(time.RFC3339, r["at"].(string))
		if err != nil || i > 0 && !at.Before(prev) {
			t.Errorf("reading %d at %v after %v: not newest first", i, r["at"], prev)
		}
		prev = at
		if v := r["values"].(map[string]any); len(v) != 1 || v["flow_rate_lpm"] == nil || r["device"] != "v-101" {
			t.Errorf("reading %d = %v, want v-101's flow rate alone", i, r)
		}
	}
	if newest := items[0].(map[string]any); newest["values"].(map[string]any)["flow_rate_lpm"] != 1800.0 {
		t.Errorf("newest reading = %v, want the 1800 l/min one", newest)
	}

	var spike map[string]any
	for _, a := range getJSON(t, st, "/flow/anomalies")["items"].([]any) {
		if a := a.(map[string]any); a["device"] == "v-101" && a["metric"] == "flow_rate_lpm" && a["value"] == 1800.0 {
			spike = a
		}
	}
	if spike == nil || spike["severity"] != "high" || spike["at"] != spikeAt.UTC().Format(time.RFC3339) {
		t.Errorf("flow anomaly = %v, want the 1800 l/min reading as high", spike)
	}

	health := getJSON(t, st, "/flow/health")
	if score, _ := health["health_score"].(float64); score >= 100 {
		t.Errorf("health_score = %v, want below 100", health["health_score"])
	}
	if n, _ := health["anomaly_count"].(float64); n < 1 || len(health["recent_anomalies"].([]any)) < 1 {
		t.Errorf("health = %v, want the anomaly counted and listed", health)
	}

	current, _ := getJSON(t, st, "/flow/metrics")["current"].(map[string]any)["v-101"].(map[string]any)
	if current["flow_rate_lpm"] != 1800.0 || current["pressure_pa"] != 2.1e6 || current["temperature_c"] != 42.0 {
		t.Errorf("current of v-101 = %v, want its latest readings", current)
	}

	for _, query := range []string{
		"from=2025-06-02T00:00:00Z&to=2025-06-01T00:00:00Z",
		"metric=humidity",
		"device=v-101%2Fstatus",
	} {
		if a := call(t, http.MethodGet, st.APIURL+"/telemetry?"+query); a.status != 400 || errorCode(t, a) != "bad_request" {
			t.Errorf("?%s: %d %s, want 400 bad_request", query, a.status, a.body)
		}
	}
}
