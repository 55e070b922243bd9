package main

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/jsii-runtime-go"

	"github.com/plainview/serverless/infra/spec"
	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/lambda/function"
)

// period is the period of every alarm and graph: CloudWatch's standard
// resolution for Lambda and API Gateway metrics is one minute, but five
// smooth the low traffic of an operator's API into numbers worth alarming
// on.
const period = 5

// The alarm thresholds; docs/infrastructure.md gives the reasons.
const (
	api5xxRateThreshold    = 0.05 // fraction of requests, over two periods
	apiLatencyP99Threshold = 2500 // milliseconds, over three periods
	emf5xxThreshold        = 5    // 5xx answers of one function in one period
	telemetryAgeThreshold  = 300  // seconds a telemetry record waits for ingest
	tableThrottleThreshold = 10   // throttled DynamoDB requests or events in one period
)

// The EMF metrics the functions emit beyond the HTTP layer's (namespace
// function.Namespace, dimension Function); TestEMFNamesAreTheFunctions'
// holds these names to the constants of functions/<name>.
const (
	emfActuationTimeouts = "ActuationTimeouts" // functions/timeouts, per run
	emfOpenIncidents     = "OpenIncidents"     // functions/timeouts, gauge per run
	emfActiveLeaks       = "ActiveLeaks"       // functions/timeouts, gauge per run
	emfKeyStoreFailures  = "KeyStoreFailures"  // functions/authorizer, per failed load
	emfDeadLetters       = "DeadLetters"       // shared/core/ingest
)

// emf is a metric a function emits (EMF, dimension Function=fn).
func emf(name, fn, stat string, every awscdk.Duration) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(function.Namespace), MetricName: jsii.String(name),
		DimensionsMap: &map[string]*string{"Function": jsii.String(fn)},
		Period:        every, Statistic: jsii.String(stat),
	})
}

// addMonitoring declares the alarms, all to the operators' topic, and the
// operators' dashboard.
func (st *stack) addMonitoring() {
	every := awscdk.Duration_Minutes(jsii.Number(period))
	action := awscloudwatchactions.NewSnsAction(st.topic)
	var alarms []awscloudwatch.IAlarm
	alarm := func(id, description string, metric awscloudwatch.IMetric, threshold float64, periods int) {
		a := awscloudwatch.NewAlarm(st.scope, jsii.String(id+"Alarm"), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(description),
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(periods),
			DatapointsToAlarm:  jsii.Number(periods),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			// No traffic is no failure: an idle API must not page anyone.
			TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
		a.AddOkAction(action) // the all-clear goes to the same people
		alarms = append(alarms, a)
	}
	sum := &awscloudwatch.MetricOptions{Period: every, Statistic: jsii.String("Sum")}

	// Functions: any error (a crash, a timeout, an authorizer that could
	// not answer) or throttle is worth a look; the handlers turn every
	// expected failure into an HTTP answer, not a function error.
	for _, f := range spec.Functions() {
		fn, id := st.functions[f.Name], spec.LogicalID(f.Name)
		alarm(id+"Errors", fmt.Sprintf("The %s function failed (crash, timeout or error result).", f.Name), fn.MetricErrors(sum), 1, 1)
		alarm(id+"Throttles", fmt.Sprintf("The %s function was throttled: concurrency limit reached.", f.Name), fn.MetricThrottles(sum), 1, 1)
	}

	// The API: its own view, which includes answers no function made
	// (integration failures and timeouts).
	alarm("Api5xxRate", "More than 5% of API requests answered 5xx for 10 minutes.",
		st.api.MetricServerError(&awscloudwatch.MetricOptions{Period: every, Statistic: jsii.String("Average")}),
		api5xxRateThreshold, 2)
	alarm("ApiLatencyP99", "API p99 latency above 2.5 s for 15 minutes.",
		st.api.MetricLatency(&awscloudwatch.MetricOptions{Period: every, Statistic: jsii.String("p99")}),
		apiLatencyP99Threshold, 3)

	// The functions' own metrics (EMF, shared/api/httpapi): which function
	// answers 5xx, and commands that could not reach a valve. Each EMF
	// document has one dimension set ({Function, Route} for requests), so
	// an alarm across routes is a Metrics Insights query over that schema.
	for _, name := range routes.Functions(routes.Table()) {
		alarm(spec.LogicalID(name)+"Answers5xx",
			fmt.Sprintf("The %s function answered 5xx at least %d times in %d minutes.", name, emf5xxThreshold, period),
			insights(fmt.Sprintf("SELECT SUM(Errors5xx) FROM SCHEMA(%q, Function, Route) WHERE Function = '%s'", function.Namespace, name), every),
			emf5xxThreshold, 1)
	}
	alarm("ActuationTimeouts", "Valves did not report DONE by the actuation deadline (timed out by the schedule).",
		emf(emfActuationTimeouts, spec.FuncTimeouts, "Sum", every), 1, 1)
	// The authorizer's own count of key store failures: every keyed
	// request is answered 503 while the keyring cannot be read.
	alarm("AuthorizerKeyStoreFailures", "The authorizer could not read the API key secret: keyed requests are answered 503.",
		emf(emfKeyStoreFailures, spec.FuncAuthorizer, "Sum", every), 1, 1)
	alarm("ActuationsRejected", "A valve command could not be delivered to IoT Core (actuation rejected, 503).",
		insights(fmt.Sprintf("SELECT SUM(Actuations) FROM SCHEMA(%q, Command, Function, Result) WHERE Result = '%s'", function.Namespace, domain.ActuationRejected), every),
		1, 1)

	// DynamoDB: on-demand tables still throttle a hot partition, and
	// system errors are AWS's side failing our writes.
	ops := &[]awsdynamodb.Operation{
		awsdynamodb.Operation_GET_ITEM, awsdynamodb.Operation_QUERY, awsdynamodb.Operation_PUT_ITEM,
		awsdynamodb.Operation_UPDATE_ITEM, awsdynamodb.Operation_DELETE_ITEM, awsdynamodb.Operation_TRANSACT_WRITE_ITEMS,
		awsdynamodb.Operation_BATCH_WRITE_ITEM, // ingest's telemetry
	}
	alarm("TableThrottles", "DynamoDB throttled requests (a hot partition).",
		st.table.MetricThrottledRequestsForOperations(&awsdynamodb.OperationsMetricOptions{Operations: ops, Period: every}), tableThrottleThreshold, 1)
	// ThrottledRequests counts requests; the throttle events count the
	// reads and writes refused inside them (a batch can lose some of its
	// items), on the table and, for writes above all, on each index: an
	// index that cannot keep up throttles the table's writes.
	alarm("TableReadThrottles", "DynamoDB read throttle events on the table or an index.",
		st.tableEvents("ReadThrottleEvents", every), tableThrottleThreshold, 1)
	alarm("TableWriteThrottles", "DynamoDB write throttle events on the table or an index.",
		st.tableEvents("WriteThrottleEvents", every), tableThrottleThreshold, 1)
	alarm("TableSystemErrors", "DynamoDB answered with system errors.",
		st.table.MetricSystemErrorsForOperations(&awsdynamodb.SystemErrorsForOperationsMetricOptions{Operations: ops, Period: every}), 1, 1)

	// Device traffic: any dead letter waits for a person; a telemetry
	// stream falling behind is ingest failing, slow or throttled.
	peak := &awscloudwatch.MetricOptions{Period: every, Statistic: jsii.String("Maximum")}
	alarm("DeadLetters", "Device messages could not be ingested: they wait in the dead-letter queue.",
		st.deadLetters.MetricApproximateNumberOfMessagesVisible(peak), 1, 1)
	// What ingest itself dead-lettered (shared/core/ingest: invalid or unknown
	// device messages, written to the table for a person to see).
	alarm("IngestDeadLetters", "The ingest function refused device messages (EMF DeadLetters).",
		emf(emfDeadLetters, spec.FuncIngest, "Sum", every), 1, 1)
	alarm("TelemetryIteratorAge", fmt.Sprintf("Ingest is behind the telemetry stream: a batch's newest record had waited %d seconds or more.", telemetryAgeThreshold),
		st.ingestIteratorAge(peak), telemetryAgeThreshold*1000, 1)

	st.addDashboard(alarms, every)
}

// ingestIteratorAge is Lambda's IteratorAge of the ingest function: how
// old the newest record of a batch was when the mapping handed it to
// ingest, in milliseconds. The alarm watches it rather than the stream's
// GetRecords.IteratorAgeMilliseconds because that one is the stream's,
// over every reader: the dead-letter tool reading a day-old record to
// redrive it would page someone though ingest is keeping up. The metric
// comes with invocations, failed ones included: ingest throttled outright
// stops it, and has its own alarm (Throttles).
func (st *stack) ingestIteratorAge(opts *awscloudwatch.MetricOptions) awscloudwatch.IMetric {
	return st.functions[spec.FuncIngest].Metric(jsii.String("IteratorAge"), opts)
}

// tableEvents is the sum of a DynamoDB metric over the table and each of
// its global secondary indexes (their own dimension), with missing data
// as zero so that one quiet index does not blank the sum.
func (st *stack) tableEvents(metric string, every awscdk.Duration) awscloudwatch.IMetric {
	dims := []map[string]*string{{"TableName": st.table.TableName()}}
	for _, g := range store.TableDefinition("plainview").GlobalSecondaryIndexes {
		dims = append(dims, map[string]*string{"TableName": st.table.TableName(), "GlobalSecondaryIndexName": g.IndexName})
	}
	using := map[string]awscloudwatch.IMetric{}
	var terms []string
	for i, d := range dims {
		id := fmt.Sprintf("m%d", i)
		using[id] = awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String("AWS/DynamoDB"), MetricName: jsii.String(metric),
			DimensionsMap: &d, Period: every, Statistic: jsii.String("Sum"),
		})
		terms = append(terms, "FILL("+id+", 0)")
	}
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression:   jsii.String(strings.Join(terms, " + ")),
		UsingMetrics: &using,
		Label:        jsii.String(metric + " (table and indexes)"),
		Period:       every,
	})
}

// insights is a Metrics Insights query as a metric: what an alarm needs to
// add up a metric over a dimension it was not published without.
func insights(query string, every awscdk.Duration) awscloudwatch.IMetric {
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(query),
		Period:     every,
	})
}

// search is a SEARCH expression over the Plainview namespace: one line
// per combination of dimension values, whatever values appear.
func search(metric string, dims []string, stat string, every awscdk.Duration) awscloudwatch.IMetric {
	schema := "{" + function.Namespace
	for _, d := range dims {
		schema += "," + d
	}
	schema += "}"
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(fmt.Sprintf(`SEARCH('%s MetricName="%s"', '%s', %d)`, schema, metric, stat, int(*every.ToSeconds(nil)))),
		Period:     every,
	})
}

// addDashboard declares the operators' dashboard: the API, each function,
// and what the functions count (actuations, incidents, alerts).
func (st *stack) addDashboard(alarms []awscloudwatch.IAlarm, every awscdk.Duration) {
	opts := func(stat string) *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Period: every, Statistic: jsii.String(stat)}
	}
	graph := func(title string, width int, left ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Width: jsii.Number(width), Height: jsii.Number(6), Left: &left,
		})
	}

	rows := [][]awscloudwatch.IWidget{
		{awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
			Title: jsii.String("Alarms"), Alarms: &alarms, Width: jsii.Number(24),
		})},
		{
			graph("API requests", 6, st.api.MetricCount(opts("Sum"))),
			graph("API latency (ms)", 6, st.api.MetricLatency(opts("p50")), st.api.MetricLatency(opts("p99"))),
			graph("API 4xx", 6, st.api.MetricClientError(opts("Sum"))),
			graph("API 5xx", 6, st.api.MetricServerError(opts("Sum"))),
		},
	}
	var invocations, errors, durations []awscloudwatch.IMetric
	for _, f := range spec.Functions() {
		fn := st.functions[f.Name]
		label := &awscloudwatch.MetricOptions{Period: every, Label: jsii.String(f.Name)}
		label.Statistic = jsii.String("Sum")
		invocations = append(invocations, fn.MetricInvocations(label))
		errors = append(errors, fn.MetricErrors(label))
		durations = append(durations, fn.MetricDuration(&awscloudwatch.MetricOptions{Period: every, Label: jsii.String(f.Name + " p99"), Statistic: jsii.String("p99")}))
	}
	rows = append(rows, []awscloudwatch.IWidget{
		graph("Function invocations", 8, invocations...),
		graph("Function errors", 8, errors...),
		graph("Function duration p99 (ms)", 8, durations...),
	}, []awscloudwatch.IWidget{
		graph("Answers 5xx by function and route", 8, search("Errors5xx", []string{"Function", "Route"}, "Sum", every)),
		graph("Latency p99 by route (ms)", 8, search("Latency", []string{"Function", "Route"}, "p99", every)),
		graph("Requests by route", 8, search("Requests", []string{"Function", "Route"}, "Sum", every)),
	}, []awscloudwatch.IWidget{
		// The valves function counts what it sent and what IoT Core
		// refused; the schedule counts what timed out.
		graph("Actuations by result", 8,
			search("Actuations", []string{"Command", "Function", "Result"}, "Sum", every),
			emf(emfActuationTimeouts, spec.FuncTimeouts, "Sum", every).With(&awscloudwatch.MetricOptions{Label: jsii.String("timed_out")})),
		graph("Incidents opened by severity", 8, search("IncidentsOpened", []string{"Function", "Severity"}, "Sum", every)),
		graph("Leak alerts by severity", 8, search("Alerts", []string{"Function", "Severity"}, "Sum", every)),
	}, []awscloudwatch.IWidget{
		// Gauges, emitted each minute by the schedule: the largest value
		// of a period is the one to see.
		graph("Open incidents and active leaks", 8,
			emf(emfOpenIncidents, spec.FuncTimeouts, "Maximum", every).With(&awscloudwatch.MetricOptions{Label: jsii.String("open incidents")}),
			emf(emfActiveLeaks, spec.FuncTimeouts, "Maximum", every).With(&awscloudwatch.MetricOptions{Label: jsii.String("active leaks")})),
		graph("Device messages in", 8, st.deviceMessagesIn(every)...),
		graph("Device messages rejected", 8, st.deviceMessagesRejected(every)...),
	})
	label := func(stat, text string) *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Period: every, Statistic: jsii.String(stat), Label: jsii.String(text)}
	}
	rows = append(rows, []awscloudwatch.IWidget{
		// What the stream rules put, and what the shards refused (the
		// rules' error action then sends it to the dead-letter queue:
		// time for more telemetry_shards).
		graph("Telemetry stream: records put", 8,
			st.telemetry.MetricIncomingRecords(label("Sum", "records put")),
			st.telemetry.MetricWriteProvisionedThroughputExceeded(label("Sum", "refused: over the shards' rate"))),
		graph("Telemetry stream: iterator age (ms)", 8,
			st.ingestIteratorAge(label("Maximum", "ingest (the alarm's)")),
			st.telemetry.MetricGetRecordsIteratorAgeMilliseconds(label("Maximum", "stream, all readers"))),
		graph("Dead letters waiting", 8, st.deadLetters.MetricApproximateNumberOfMessagesVisible(opts("Maximum"))),
	})

	widgets := make([]*[]awscloudwatch.IWidget, len(rows))
	for i := range rows {
		widgets[i] = &rows[i]
	}
	dash := awscloudwatch.NewDashboard(st.scope, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName:   jsii.String("plainview-" + st.settings.environment),
		DefaultInterval: awscdk.Duration_Hours(jsii.Number(3)),
		Widgets:         &widgets,
	})
	awscdk.NewCfnOutput(st.scope, jsii.String("DashboardName"), &awscdk.CfnOutputProps{
		Description: jsii.String("The operators' CloudWatch dashboard"),
		Value:       dash.DashboardName(),
	})
}

// iot is an AWS IoT Core metric.
func iot(name string, dims map[string]*string, label string, every awscdk.Duration) awscloudwatch.IMetric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String("AWS/IoT"), MetricName: jsii.String(name), DimensionsMap: &dims,
		Period: every, Statistic: jsii.String("Sum"), Label: jsii.String(label),
	})
}

// deviceMessagesIn: what devices published (IoT Core's message broker,
// MQTT), and what each topic rule took of it.
func (st *stack) deviceMessagesIn(every awscdk.Duration) []awscloudwatch.IMetric {
	mqtt := map[string]*string{"Protocol": jsii.String("MQTT")}
	out := []awscloudwatch.IMetric{iot("PublishIn.Success", mqtt, "published (MQTT)", every)}
	for _, r := range topics.Table() {
		name := topics.RuleName(st.settings.environment, r.Name)
		out = append(out, iot("TopicMatch", map[string]*string{"RuleName": jsii.String(name)}, "rule "+r.Name, every))
	}
	return out
}

// deviceMessagesRejected: refused by IoT Core (the device policy: a
// connect or publish the certificate may not make), by ingest (dead
// letters: invalid, unknown device, no such actuation), and what reached
// the dead-letter queue (rule errors, failed invokes, redrives).
func (st *stack) deviceMessagesRejected(every awscdk.Duration) []awscloudwatch.IMetric {
	mqtt := map[string]*string{"Protocol": jsii.String("MQTT")}
	return []awscloudwatch.IMetric{
		iot("Connect.AuthError", mqtt, "connect refused", every),
		iot("PublishIn.AuthError", mqtt, "publish refused", every),
		emf(emfDeadLetters, spec.FuncIngest, "Sum", every).With(&awscloudwatch.MetricOptions{Label: jsii.String("refused by ingest")}),
		st.deadLetters.MetricNumberOfMessagesSent(&awscloudwatch.MetricOptions{Period: every, Statistic: jsii.String("Sum"), Label: jsii.String("to the dead-letter queue")}),
	}
}
