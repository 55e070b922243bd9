package main

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/plainview/serverless/shared/lambda/function"
)

// emittedMetrics is what the functions emitted under the Lambda Runtime
// Interface Emulator, fed every sample event (shared/testkit/rie/functions_test.go keeps
// the file true to what they emit).
const emittedMetrics = "../shared/testkit/rie/testdata/emitted-metrics.txt"

// metricRef is a metric an alarm or a dashboard widget watches.
type metricRef struct {
	where    string   // the alarm's or the dashboard's logical id
	name     string   // metric name
	dims     []string // dimension names, sorted
	function string   // the Function dimension's value, when the reference fixes one
}

// The ways the stack names a metric of ours: a metric with fixed
// dimensions (Namespace, MetricName, Dimensions), a SEARCH over a schema,
// and a Metrics Insights SELECT over a schema.
var (
	searchExpr = regexp.MustCompile(`SEARCH\('\{` + function.Namespace + `((?:,\w+)*)\} MetricName=\\*"(\w+)\\*"`)
	selectExpr = regexp.MustCompile(`SELECT \w+\((\w+)\) FROM SCHEMA\(\\*"` + function.Namespace + `\\*"((?:, *\w+)*)\)(?: WHERE Function = '(\w+)')?`)
	// A dashboard metric: ["Plainview","Name","Dim","Value",...].
	dashboardMetric = regexp.MustCompile(`\[\\*"` + function.Namespace + `\\*",\\*"(\w+)\\*"((?:,\\*"[^"\\]*\\*")*)`)
)

// checkMetricsAreEmitted: every metric of our namespace that an alarm or a
// widget of the dashboard watches is one a function emits, with those
// dimensions (and that Function, where the reference fixes it). An alarm
// on a metric nobody sends never fires. AWS's own metrics (Lambda's
// IteratorAge, Kinesis's IncomingRecords...) are AWS's to emit: the alarm
// and dashboard checks name each exactly, and here every namespace watched
// must be ours or one of a service the stack deploys, so a misspelt
// namespace is not a silent alarm either.
func checkMetricsAreEmitted(t *testing.T, tpl template) {
	for _, ns := range watchedNamespaces(tpl) {
		if !slices.Contains(deployedNamespaces, ns) {
			t.Errorf("the alarms or the dashboard watch namespace %q: not %s nor a service of the stack %v", ns, function.Namespace, deployedNamespaces)
		}
	}

	b, err := os.ReadFile(emittedMetrics)
	if err != nil {
		t.Fatal(err)
	}
	type emitted struct {
		name, function string
		dims           []string
	}
	var sent []emitted
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || f[0] != function.Namespace {
			continue // another namespace: not ours to check
		}
		sent = append(sent, emitted{name: f[1], dims: strings.Split(f[2], ","), function: strings.TrimPrefix(f[3], "Function=")})
	}

	refs := metricRefs(t, tpl)
	if len(refs) < 10 {
		t.Fatalf("found only %d metric references of %s in the alarms and the dashboard: is the parsing broken?", len(refs), function.Namespace)
	}
	for _, r := range refs {
		ok := slices.ContainsFunc(sent, func(e emitted) bool {
			return e.name == r.name && slices.Equal(e.dims, r.dims) && (r.function == "" || r.function == e.function)
		})
		if !ok {
			t.Errorf("%s watches %s %s by %v (Function %q), which no function emitted under the emulator (%s)",
				r.where, function.Namespace, r.name, r.dims, r.function, emittedMetrics)
		}
	}
}

// deployedNamespaces are the CloudWatch namespaces of the services the
// stack deploys, and ours.
var deployedNamespaces = []string{function.Namespace, "AWS/ApiGateway", "AWS/DynamoDB", "AWS/IoT", "AWS/Kinesis", "AWS/Lambda", "AWS/SQS"}

// namespaceInDashboard is a dashboard metric's first element, its namespace.
var namespaceInDashboard = regexp.MustCompile(`"metrics":\[\[\\*"([^"\\]+)\\*"|\],\[\\*"([^"\\]+)\\*"`)

// watchedNamespaces are the namespaces of every metric the alarms and the
// dashboard name with fixed dimensions, sorted and without repeats.
func watchedNamespaces(tpl template) []string {
	var out []string
	for _, id := range tpl.ofType("AWS::CloudWatch::Alarm") {
		p := tpl.Resources[id].Properties
		if ns, ok := p["Namespace"].(string); ok {
			out = append(out, ns)
		}
		metrics, _ := p["Metrics"].([]any)
		for _, m := range metrics {
			if ns, ok := get(m, "MetricStat", "Metric", "Namespace").(string); ok {
				out = append(out, ns)
			}
		}
	}
	for _, id := range tpl.ofType("AWS::CloudWatch::Dashboard") {
		for _, m := range namespaceInDashboard.FindAllStringSubmatch(render(tpl.Resources[id].Properties["DashboardBody"]), -1) {
			out = append(out, m[1]+m[2])
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// metricRefs finds the metrics of our namespace that the alarms and the
// dashboard name.
func metricRefs(t *testing.T, tpl template) []metricRef {
	var refs []metricRef
	for _, id := range tpl.ofType("AWS::CloudWatch::Alarm") {
		p := tpl.Resources[id].Properties
		if p["Namespace"] == function.Namespace {
			refs = append(refs, fixedRef(id, p["MetricName"], p["Dimensions"]))
		}
		metrics, _ := p["Metrics"].([]any)
		for _, m := range metrics {
			stat, _ := get(m, "MetricStat", "Metric").(map[string]any)
			if stat != nil && stat["Namespace"] == function.Namespace {
				refs = append(refs, fixedRef(id, stat["MetricName"], stat["Dimensions"]))
			}
			if expr, ok := get(m, "Expression").(string); ok {
				refs = append(refs, expressionRefs(id, expr)...)
			}
		}
	}
	for _, id := range tpl.ofType("AWS::CloudWatch::Dashboard") {
		body := render(tpl.Resources[id].Properties["DashboardBody"])
		refs = append(refs, expressionRefs(id, body)...)
		for _, m := range dashboardMetric.FindAllStringSubmatch(body, -1) {
			var rest []string
			if err := json.Unmarshal([]byte("["+strings.ReplaceAll(strings.TrimPrefix(m[2], ","), `\"`, `"`)+"]"), &rest); err != nil {
				t.Fatalf("dashboard metric %s: %v", m[0], err)
			}
			r := metricRef{where: id, name: m[1]}
			for i := 0; i+1 < len(rest); i += 2 {
				r.dims = append(r.dims, rest[i])
				if rest[i] == "Function" {
					r.function = rest[i+1]
				}
			}
			slices.Sort(r.dims)
			refs = append(refs, r)
		}
	}
	return refs
}

// fixedRef is an alarm's metric with fixed dimensions.
func fixedRef(where string, name, dimensions any) metricRef {
	r := metricRef{where: where, name: render(name)}
	ds, _ := dimensions.([]any)
	for _, d := range ds {
		n, v := render(get(d, "Name")), render(get(d, "Value"))
		r.dims = append(r.dims, n)
		if n == "Function" {
			r.function = v
		}
	}
	slices.Sort(r.dims)
	return r
}

// expressionRefs are the metrics a SEARCH or SELECT expression names.
func expressionRefs(where, expr string) []metricRef {
	var refs []metricRef
	split := func(list string) []string {
		var dims []string
		for _, d := range strings.Split(list, ",") {
			if d = strings.TrimSpace(d); d != "" {
				dims = append(dims, d)
			}
		}
		slices.Sort(dims)
		return dims
	}
	for _, m := range searchExpr.FindAllStringSubmatch(expr, -1) {
		refs = append(refs, metricRef{where: where, name: m[2], dims: split(m[1])})
	}
	for _, m := range selectExpr.FindAllStringSubmatch(expr, -1) {
		refs = append(refs, metricRef{where: where, name: m[1], dims: split(m[2]), function: m[3]})
	}
	return refs
}
