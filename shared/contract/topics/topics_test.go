package topics_test

import (
	"strings"
	"testing"

	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/domain"
)

func TestParseTellsKindAndOwnerOfEveryTopicEitherWay(t *testing.T) {
	bi := func(topic string) string {
		return topics.BasicIngest(topics.RuleName("dev", topics.TelemetryRule), topic)
	}
	for _, c := range []struct {
		topic    string
		want     topics.Topic
		wantFail bool
	}{
		{topic: "valves/v-101/status", want: topics.Topic{Kind: topics.Status, ID: "v-101", Name: "valves/v-101/status"}},
		{topic: "valves/v-101/command", want: topics.Topic{Kind: topics.Command, ID: "v-101", Name: "valves/v-101/command"}},
		{topic: "plainview/devices/g-7/telemetry", want: topics.Topic{Kind: topics.Telemetry, ID: "g-7", Name: "plainview/devices/g-7/telemetry"}},
		{topic: "pipeline/pressure/A-North", want: topics.Topic{Kind: topics.Pressure, ID: "A-North", Name: "pipeline/pressure/A-North"}},
		{topic: "plainview/leaks", want: topics.Topic{Kind: topics.Leak, Name: "plainview/leaks"}},
		{topic: bi("plainview/devices/v-101/telemetry"),
			want: topics.Topic{Kind: topics.Telemetry, ID: "v-101", Rule: "plainview_dev_device_telemetry", Name: "plainview/devices/v-101/telemetry"}},
		{topic: "valves//status", wantFail: true},
		{topic: "valves/v 1/status", wantFail: true},
		{topic: "plainview/devices/x/telemetry/extra", wantFail: true},
		{topic: "pipeline/pressure", wantFail: true},
		{topic: "$aws/rules/", wantFail: true},
		{topic: "$aws/rules/r", wantFail: true},
		{topic: "$aws/rules//plainview/leaks", wantFail: true},
		{topic: "$aws/rules/r/$aws/rules/r/plainview/leaks", wantFail: true},
		{topic: "$aws/things/v-101/shadow/update", wantFail: true},
		{topic: "", wantFail: true},
	} {
		got, ok := topics.Parse(c.topic)
		if ok == c.wantFail || (ok && got != c.want) {
			t.Errorf("Parse(%q) = %+v %v, want %+v %v", c.topic, got, ok, c.want, !c.wantFail)
		}
	}
}

func TestTheBuildersAndParseAgree(t *testing.T) {
	for _, c := range []struct {
		topic string
		kind  topics.Kind
	}{
		{topics.StatusOf("v-1"), topics.Status}, {topics.CommandOf("v-1"), topics.Command},
		{topics.TelemetryOf("v-1"), topics.Telemetry}, {topics.PressureOf("v-1"), topics.Pressure},
	} {
		if got, ok := topics.Parse(c.topic); !ok || got.Kind != c.kind || got.ID != "v-1" {
			t.Errorf("%s: %+v %v, want %s of v-1", c.topic, got, ok, c.kind)
		}
	}
}

func TestEveryDeviceTopicHasItsRuleAndBasicIngestOnlyItsOwn(t *testing.T) {
	table := topics.Table()
	for topic, want := range map[string]string{
		"valves/v-101/status":               "valve_status",
		"plainview/leaks":                   "leaks",
		"plainview/devices/v-101/telemetry": "device_telemetry",
		"pipeline/pressure/A-North":         "pipeline_pressure",
		"$aws/rules/plainview_dev_device_telemetry/plainview/devices/v-101/telemetry": "device_telemetry",
	} {
		r, ok := topics.Match(table, "dev", topic)
		if !ok || r.Name != want {
			t.Errorf("%s -> %v %v, want %s", topic, r.Name, ok, want)
		}
	}
	for _, topic := range []string{
		"valves/v-101/command", "valves//status", "plainview/devices/x/telemetry/extra", "pipeline/pressure",
		// Basic Ingest to a rule of another environment, to a rule that
		// does not take the topic behind the prefix, to no rule.
		"$aws/rules/plainview_prod_device_telemetry/plainview/devices/v-101/telemetry",
		"$aws/rules/plainview_dev_device_telemetry/valves/v-101/status",
		"$aws/rules/plainview_dev_nothing/plainview/leaks",
		"$aws/rules/plainview_dev_device_telemetry",
	} {
		if r, ok := topics.Match(table, "dev", topic); ok {
			t.Errorf("%s matched %s", topic, r.Name)
		}
	}
}

func TestStatusesAndLeaksAreDirectTelemetryIsStreamed(t *testing.T) {
	for _, r := range topics.Table() {
		direct := r.Kind == topics.Status || r.Kind == topics.Leak
		if (r.Target == topics.Direct) != direct {
			t.Errorf("%s target %s", r.Name, r.Target)
		}
		if got, ok := topics.Parse(strings.ReplaceAll(r.Topic, "+", "x-1")); !ok || got.Kind != r.Kind {
			t.Errorf("%s: its filter's topics parse as %v %v, want %s", r.Name, got.Kind, ok, r.Kind)
		}
		sql := r.SQL()
		for _, part := range []string{"encode(*, 'base64')", "clientid() AS client_id", "topic() AS topic", "FROM '" + r.Topic + "'"} {
			if !strings.Contains(sql, part) {
				t.Errorf("%s: SQL %q lacks %q", r.Name, sql, part)
			}
		}
	}
}

func TestAMessageCarriesAnyPayloadIntactAndTheTopicWithoutBasicIngest(t *testing.T) {
	raw := []byte("not json \x00\xff")
	m := topics.NewMessage("valves/v-101/status", "v-101", raw, 1)
	got, err := m.Bytes()
	if err != nil || string(got) != string(raw) {
		t.Fatalf("round trip: %q %v", got, err)
	}
	if _, err := (topics.Message{Payload: "%%%"}).Bytes(); err == nil {
		t.Error("bad base64 accepted")
	}
	// As IoT Core's topic() gives it: the same message either way, so a
	// reading sent both ways is one reading.
	plain := topics.NewMessage("plainview/devices/v-1/telemetry", "v-1", raw, 1)
	basic := topics.NewMessage("$aws/rules/plainview_local_device_telemetry/plainview/devices/v-1/telemetry", "v-1", raw, 1)
	if plain != basic {
		t.Errorf("through Basic Ingest %+v, plain %+v", basic, plain)
	}
}

func TestTopicFilters(t *testing.T) {
	for _, c := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/+/c", "a/b/c", true}, {"a/+/c", "a/b/d", false}, {"a/#", "a/b/c", true},
		{"a/b", "a/b/c", false}, {"a/b/c", "a/b", false}, {"+", "", false},
	} {
		if got := topics.TopicMatches(c.filter, c.topic); got != c.want {
			t.Errorf("TopicMatches(%q, %q) = %v", c.filter, c.topic, got)
		}
	}
}

func TestEachDeviceMayUseItsOwnTopicsOnly(t *testing.T) {
	valve := domain.Device{ID: "v-101", Kind: domain.DeviceValve, Asset: "v-101"}
	gauge := domain.Device{ID: "g-7", Kind: domain.DeviceGauge, Asset: "F-Spur"}
	const env = "dev"
	bi := func(rule, topic string) string { return topics.BasicIngest(topics.RuleName(env, rule), topic) }
	for _, c := range []struct {
		d      domain.Device
		action topics.Action
		topic  string
		want   bool
	}{
		{valve, topics.Publish, "valves/v-101/status", true},
		{valve, topics.Publish, "plainview/devices/v-101/telemetry", true},
		{valve, topics.Publish, bi("device_telemetry", "plainview/devices/v-101/telemetry"), true},
		{valve, topics.Subscribe, "valves/v-101/command", true},
		{valve, topics.Receive, "valves/v-101/command", true},
		{valve, topics.Publish, "valves/v-102/status", false},
		{valve, topics.Publish, "valves/v-101/command", false}, // its own commands come from the cloud
		{valve, topics.Publish, "valves/v-102/command", false},
		{valve, topics.Publish, "plainview/leaks", false}, // a valve is on no section
		{valve, topics.Publish, "pipeline/pressure/v-101", false},
		{valve, topics.Subscribe, "valves/+/command", false},
		{valve, topics.Subscribe, "#", false},
		// Basic Ingest: its own telemetry to the telemetry rule of its
		// environment, nothing else.
		{valve, topics.Publish, bi("device_telemetry", "plainview/devices/v-102/telemetry"), false},
		{valve, topics.Publish, topics.BasicIngest(topics.RuleName("prod", "device_telemetry"), "plainview/devices/v-101/telemetry"), false},
		{valve, topics.Publish, bi("valve_status", "valves/v-101/status"), false},
		{valve, topics.Publish, bi("device_telemetry", "valves/v-101/status"), false},
		{valve, topics.Publish, "$aws/rules/plainview_dev_device_telemetry/#", false},
		{valve, topics.Subscribe, bi("device_telemetry", "plainview/devices/v-101/telemetry"), false},
		{gauge, topics.Publish, "pipeline/pressure/F-Spur", true}, // its asset, not its id
		{gauge, topics.Publish, "pipeline/pressure/g-7", false},
		{gauge, topics.Publish, "plainview/devices/g-7/telemetry", true},
		{gauge, topics.Publish, bi("device_telemetry", "plainview/devices/g-7/telemetry"), true},
		{gauge, topics.Publish, bi("pipeline_pressure", "pipeline/pressure/F-Spur"), false},
		{gauge, topics.Publish, "plainview/leaks", true},
		{gauge, topics.Publish, "valves/g-7/status", false},
		{gauge, topics.Subscribe, "valves/g-7/command", false},
		{gauge, topics.Publish, "$SYS/x", false},
	} {
		if got := topics.Allowed(c.d, env, c.action, c.topic); got != c.want {
			t.Errorf("%s %s %s: %v, want %v", c.d.ID, c.action, c.topic, got, c.want)
		}
	}
}

func TestGrantsAreWellFormed(t *testing.T) {
	sids := map[string]bool{}
	for _, g := range topics.Grants() {
		if sids[g.Sid] || g.Sid == "" {
			t.Errorf("statement id %q empty or repeated (the IoT policy needs unique ones)", g.Sid)
		}
		sids[g.Sid] = true
		if g.Kind != domain.DeviceValve && g.Kind != domain.DeviceGauge {
			t.Errorf("%s: kind %q", g.Sid, g.Kind)
		}
		if strings.HasPrefix(g.Topic, topics.BasicIngestPrefix) && (g.Action != topics.Publish ||
			g.Topic != topics.BasicIngest(topics.RuleName(topics.Environment, topics.TelemetryRule), topics.TelemetryOf(topics.DeviceID))) {
			t.Errorf("%s: %s %s, but under $aws/rules a device may only publish its own telemetry to the telemetry rule", g.Sid, g.Action, g.Topic)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"valves/v-1/status", "plainview/leaks", "$aws/rules/r/plainview/devices/d/telemetry", "pipeline/pressure/x", "a/b/c/d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, ok := topics.Parse(s)
		if !ok {
			return
		}
		// What parses names a topic of its kind, rebuilt the same.
		var rebuilt string
		switch p.Kind {
		case topics.Status:
			rebuilt = topics.StatusOf(p.ID)
		case topics.Command:
			rebuilt = topics.CommandOf(p.ID)
		case topics.Telemetry:
			rebuilt = topics.TelemetryOf(p.ID)
		case topics.Pressure:
			rebuilt = topics.PressureOf(p.ID)
		case topics.Leak:
			rebuilt = topics.Leaks
		default:
			t.Fatalf("%q parsed as kind %v", s, p.Kind)
		}
		if p.Rule != "" {
			rebuilt = topics.BasicIngest(p.Rule, rebuilt)
		}
		if rebuilt != s || (p.Kind != topics.Leak && !domain.ValidID(p.ID)) {
			t.Fatalf("%q parsed as %+v, which rebuilds %q", s, p, rebuilt)
		}
	})
}
