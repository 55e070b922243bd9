package main

import (
	"encoding/json"
	"testing"
)

// checkIoTEndpoint: without iot_endpoint the stack finds the account's
// IoT data endpoint at deploy time (a custom resource asking IoT Core for
// iot:Data-ATS, allowed that call and no other), and the valves function
// takes it from there (checkFunctions); with the context, there is no
// lookup.
func checkIoTEndpoint(t *testing.T, tpl template, ctx map[string]any) {
	lookups := tpl.ofType("Custom::AWS")
	if _, named := ctx["iot_endpoint"]; named {
		if len(lookups) != 0 {
			t.Errorf("iot_endpoint is given, yet the stack looks it up: %v", lookups)
		}
		return
	}
	if len(lookups) != 1 || lookups[0] != tpl.at(t, "IoTEndpoint/Resource/Default") {
		t.Fatalf("custom resources %v, want the one IoTEndpoint lookup", lookups)
	}
	p := tpl.Resources[lookups[0]].Properties
	for _, phase := range []string{"Create", "Update"} {
		var call struct {
			Service    string            `json:"service"`
			Action     string            `json:"action"`
			Parameters map[string]string `json:"parameters"`
		}
		raw := render(p[phase])
		if err := json.Unmarshal([]byte(raw), &call); err != nil {
			t.Fatalf("%s: %v: %s", phase, err, raw)
		}
		if call.Service != "@aws-sdk/client-iot" || call.Action != "DescribeEndpoint" || call.Parameters["endpointType"] != "iot:Data-ATS" {
			t.Errorf("%s calls %+v, want IoT DescribeEndpoint for iot:Data-ATS", phase, call)
		}
	}
	policy := tpl.Resources[tpl.at(t, "IoTEndpoint/CustomResourcePolicy")].Properties
	if got := render(get(policy, "PolicyDocument", "Statement")); got != `{"Action":"iot:DescribeEndpoint","Effect":"Allow","Resource":"*"}` {
		t.Errorf("the lookup may %s, want iot:DescribeEndpoint only", got)
	}
}
