package httpapi

import (
	"github.com/plainview/serverless/shared/contract/openapi"
	"github.com/plainview/serverless/shared/core/domain"
)

// openAPIMembers describes the schemas of the document and their members
// (keyed as openapi.Members says: "Type" or "Type.member", by the Go
// type's exported name), with units, and gives the string members that
// take a fixed set of words their enums, from the domain's own lists. A
// test fails on a member without a description; openapi.Build fails on an
// entry naming nothing.
func openAPIMembers() openapi.Members {
	// The enums, each a schema of its own: one type per enum in a
	// generated client, whichever member it is read from.
	var (
		check            = &enum{"Check", "a dependency's state", []string{checkOK, checkError, checkDisabled}}
		valveStatus      = &enum{"ValveStatus", "what a valve's readings and inventory say of it", domain.ValveStatuses}
		command          = &enum{"Command", "what a valve is told to do", domain.Commands}
		actuationState   = &enum{"ActuationState", "where an actuation stands", domain.ActuationStates}
		incidentSeverity = &enum{"IncidentSeverity", "an incident's severity (a leak's are LeakSeverity)", domain.Severities}
		incidentStatus   = &enum{"IncidentStatus", "an incident's status, forward only", domain.IncidentStatuses}
		systemHealth     = &enum{"SystemHealth", "the incidents' verdict on the system", domain.SystemHealthWords}
		leakSeverity     = &enum{"LeakSeverity", "a leak's severity (an incident's are IncidentSeverity)", domain.LeakSeverities}
		alertStatus      = &enum{"AlertStatus", "a leak alert's status", domain.AlertStatuses}
		riskLevel        = &enum{"RiskLevel", "a section's risk, from its active leaks", domain.RiskLevels}
		metric           = &enum{"Metric", "a telemetry metric", domain.Metrics}
		anomalySeverity  = &enum{"AnomalySeverity", "how far an anomaly is from the mean", domain.AnomalySeverities}
		eventType        = &enum{"EventType", "what an event records", domain.EventTypes}
	)
	// A slice of entries, not a map literal: the compiler lays constant
	// entries out as data, where a map literal of this size is code. On
	// the reads binary (make build's flags) the map literal cost 131 KB,
	// this table 66 KB.
	table := []struct {
		key, description string
		enum             *enum
	}{
		{"ErrorEnvelope", "every error answer: {\"error\": {\"code\", \"message\"}}", nil},
		{"ErrorEnvelope.error", "what went wrong", nil},
		{"Error", "an error: a code to branch on, a message to show", nil},
		{"Error.code", "stable, snake_case: bad_request, not_found, valve_unavailable, version_conflict, ...", nil},
		{"Error.message", "for people; its wording may change", nil},

		{"ServiceInfo", "GET /", nil},
		{"ServiceInfo.service", "always plainview", nil},
		{"ServiceInfo.version", "the deployed release", nil},
		{"HealthReport", "GET /health", nil},
		{"HealthReport.checks", "each dependency's state", nil},
		{"HealthReport.status", "ok, or degraded while the database does not answer", &enum{"HealthStatus", "the service's state", []string{"ok", "degraded"}}},
		{"HealthReport.uptime_sec", "seconds since this function instance started", nil},
		{"HealthReport.version", "the deployed release", nil},
		{"HealthChecks", "each dependency's state", nil},
		{"HealthChecks.database", "DynamoDB", check},
		{"HealthChecks.mqtt", "the MQTT broker (disabled where this function has none)", check},
		{"Probe", "GET /livez and GET /readyz", nil},
		{"Probe.status", "ok (alive) or ready", &enum{"ProbeStatus", "a probe's answer", []string{"ok", "ready"}}},
		{"Module", "a product module", nil},
		{"Module.key", "the module's key, as incidents' affected_modules name it", nil},
		{"Module.title", "its name for people", nil},
		{"Module.description", "what it covers", nil},

		{"ValveView", "a valve with its current state", nil},
		{"ValveView.id", "the valve's id, also its device's MQTT client id", nil},
		{"ValveView.name", "its name for people", nil},
		{"ValveView.status", "offline (device silent or over a limit), maintenance (due), warning (over a warning threshold), ok, " + "or retired (out of the inventory: history kept, no command taken)", valveStatus},
		{"ValveView.temperature", "latest temperature, °C; null before the first reading", nil},
		{"ValveView.pressure_pa", "latest pressure, Pa; null before the first reading", nil},
		{"ValveView.last_torque_nm", "torque of the last completed actuation, N·m", nil},
		{"ValveView.last_actuation_time", "when the last actuation completed", nil},
		{"ValveView.estimated_maintenance", "when maintenance falls due; past it, status is maintenance", nil},
		{"ValveView.connected", "the device sent something in the last 5 minutes", nil},
		{"ValveView.last_seen", "when the device last sent anything", nil},
		{"ValveView.location", "where the valve is, for people", nil},
		{"ValveView.retired_at", "when the valve was retired; null while in service", nil},

		{"ValveHealthReport", "GET /valves/{id}/health", nil},
		{"ValveHealthReport.health_score", "0-100: 100, minus 20 over the temperature warning, minus 20 over the pressure warning, minus 30 when maintenance is due", nil},
		{"ValveHealthReport.readings", "the latest readings", nil},
		{"ValveHealthReport.status", "as ValveView.status", valveStatus},
		{"ValveHealthReport.thresholds", "the limits this valve is judged by: its own, or the defaults", nil},
		{"ValveHealthReport.valve_id", "the valve's id", nil},
		{"ValveReadings", "a valve's latest readings; null before the first", nil},
		{"ValveReadings.last_torque_nm", "N·m", nil},
		{"ValveReadings.pressure_pa", "Pa", nil},
		{"ValveReadings.temperature", "°C", nil},
		{"Thresholds", "a valve's limits; a reading strictly over one crosses it", nil},
		{"Thresholds.temperature_warning_c", "°C; over it, the valve is in warning", nil},
		{"Thresholds.temperature_offline_c", "°C; over it, the valve is offline", nil},
		{"Thresholds.pressure_warning_pa", "Pa; over it, the valve is in warning", nil},
		{"Thresholds.pressure_offline_pa", "Pa; over it, the valve is offline", nil},

		{"Actuation", "one command sent to a valve and what became of it", nil},
		{"Actuation.actuation_id", "the actuation's id", nil},
		{"Actuation.valve_id", "the valve's id", nil},
		{"Actuation.command", "what the valve was told to do", command},
		{"Actuation.params", "the command's parameters", nil},
		{"Actuation.state", "queued → sent → in_progress → succeeded, or failed, timed_out (no DONE within 30 s) " + "or rejected (undeliverable)", actuationState},
		{"Actuation.requested_at", "when the request was accepted", nil},
		{"Actuation.completed_at", "when it ended; null while under way", nil},
		{"Actuation.torque_nm", "peak torque the device reported, N·m", nil},
		{"Actuation.duration_ms", "milliseconds from the request to the device's DONE", nil},
		{"Actuation.reason", "why it ended other than by success (stopped, timed_out, undeliverable, or the device's reason); empty otherwise", nil},
		{"Actuation.key_id", "the id of the API key that asked for it", nil},
		{"ActuationParams", "command parameters; each optional", nil},
		{"ActuationParams.target_angle_deg", "degrees, 0-360", nil},
		{"ActuationParams.torque_limit_nm", "N·m, over 0 and at most 5000", nil},
		{"ActuationParams.speed", "a fraction of the actuator's full speed, over 0 and at most 1", nil},
		{"Listing", "a page of a listing, newest first", nil},
		{"Listing.items", "this page", nil},
		{"Listing.next_cursor", "the cursor of the next page; null on the last", nil},

		{"ActuateBody", "POST /valves/{id}/actuate; an empty body (or none) means TORQUE_TEST, as in the first service", nil},
		{"ActuateBody.command", "what to do; STOP is taken even from an unavailable valve and ends the one under way", command},
		{"ActuateBody.params", "the command's parameters", nil},
		{"ActuateBody.override", "act although the valve is unavailable: needs the scope valves:override, and a reason (1-500 characters)", nil},
		{"Accepted", "the 202 of an actuation: the command went out; follow location for the rest", nil},
		{"Accepted.actuation_id", "the actuation's id", nil},
		{"Accepted.command", "the command", command},
		{"Accepted.location", "the actuation's path, as the Location header", nil},
		{"Accepted.ok", "always true", nil},
		{"Accepted.state", "sent once the command is published; queued only if the device answered before the send was recorded " + "(then GET the location for the state now)", actuationState},
		{"Accepted.valve_id", "the valve's id", nil},

		{"NewValveBody", "POST /valves", nil},
		{"NewValveBody.id", "the new valve's id, which its device connects as: letters, digits, '-', '_'", nil},
		{"NewValveBody.name", "its name for people", nil},
		{"NewValveBody.location", "where it is", nil},
		{"NewValveBody.estimated_maintenance", "when maintenance falls due", nil},
		{"NewValveBody.thresholds", "its own limits; each one left out is the default", nil},
		{"ThresholdsBody", "limits to set; each one left out is the default", nil},
		{"ThresholdsBody.temperature_warning_c", "°C, above -273.15, at most 1000, below temperature_offline_c", nil},
		{"ThresholdsBody.temperature_offline_c", "°C, above -273.15, at most 1000", nil},
		{"ThresholdsBody.pressure_warning_pa", "Pa, over 0, at most 100,000,000, below pressure_offline_pa", nil},
		{"ThresholdsBody.pressure_offline_pa", "Pa, over 0, at most 100,000,000", nil},
		{"ValveChangeBody", "POST /valves/{id}/update: only the members given change", nil},
		{"ValveChangeBody.name", "a string", nil},
		{"ValveChangeBody.location", "a string", nil},
		{"ValveChangeBody.estimated_maintenance", "an RFC 3339 time, or null for none", nil},
		{"ValveChangeBody.thresholds", "an object as ThresholdsBody, or null: back to the defaults", nil},

		{"IncidentsOverview", "GET /incidents (the first service's shape, not a listing)", nil},
		{"IncidentsOverview.active_count", "how many incidents are unresolved", nil},
		{"IncidentsOverview.active_incidents", "every unresolved incident, newest first", nil},
		{"IncidentsOverview.recent_incidents", "incidents opened in the last 24 hours, newest first, at most 20", nil},
		{"Incident", "something operators work through to resolution", nil},
		{"Incident.id", "the incident's id", nil},
		{"Incident.title", "what happened, in a line", nil},
		{"Incident.severity", "an incident's severity: info, warning or critical " + "(not a leak's, which is minor, major or critical)", incidentSeverity},
		{"Incident.status", "active → acknowledged → investigating → resolved, forward only; resolved is final", incidentStatus},
		{"Incident.affected_modules", "keys of the product modules it touches (GET /modules)", nil},
		{"Incident.description", "more about it", nil},
		{"Incident.root_cause", "what caused it, once known", nil},
		{"Incident.resolution", "what fixed it", nil},
		{"Incident.started_at", "when it was opened", nil},
		{"Incident.updated_at", "when it last changed", nil},
		{"Incident.resolved_at", "when it was resolved; null until then", nil},
		{"Incident.version", "its version: send it back in an update to refuse a concurrent change (409 version_conflict)", nil},
		{"IncidentBody", "POST /incidents", nil},
		{"IncidentBody.title", "what happened, in a line", nil},
		{"IncidentBody.severity", "info, warning or critical (an incident's severities, not a leak's)", incidentSeverity},
		{"IncidentBody.affected_modules", "keys of GET /modules", nil},
		{"IncidentBody.description", "more about it", nil},
		{"TimelineEntry", "one thing that happened to an incident", nil},
		{"TimelineEntry.at", "when", nil},
		{"TimelineEntry.kind", "created, alert, status, root_cause, resolution, ...", nil},
		{"TimelineEntry.message", "what happened, for people", nil},
		{"TimelineEntry.key_id", "the API key that did it, if one did", nil},
		{"TimelineEntry.alert_id", "the leak alert that caused it, if one did", nil},
		{"IncidentWithTimeline", "an incident and its timeline", nil},
		{"IncidentWithTimeline.timeline", "what happened to it, newest first", nil},
		{"IncidentHealth", "GET /incidents/health", nil},
		{"IncidentHealth.total_incidents", "incidents ever opened", nil},
		{"IncidentHealth.active_incidents", "unresolved incidents", nil},
		{"IncidentHealth.critical_incidents", "unresolved critical incidents", nil},
		{"IncidentHealth.avg_resolution_minutes", "mean minutes from opening to resolution, over resolved incidents; 0 before the first", nil},
		{"IncidentHealth.system_health", "critical while a critical incident is unresolved, degraded while another is, else healthy", systemHealth},
		{"IncidentTimeline", "GET /incidents/{id}/timeline", nil},
		{"IncidentTimeline.incident_id", "the incident's id", nil},
		{"IncidentTimeline.resolved_at", "when it was resolved; null until then", nil},
		{"IncidentTimeline.started_at", "when it was opened", nil},
		{"IncidentTimeline.status", "the incident's status", incidentStatus},
		{"IncidentTimeline.timeline", "what happened to it, newest first", nil},
		{"IncidentTimeline.title", "the incident's title", nil},
		{"UpdateBody", "POST /incidents/{id}/update: only the members given change", nil},
		{"UpdateBody.status", "a later status (acknowledged, investigating, resolved); a resolution alone resolves", incidentStatus},
		{"UpdateBody.root_cause", "what caused it", nil},
		{"UpdateBody.resolution", "what fixed it; resolves the incident", nil},
		{"UpdateBody.version", "the version read: the update is refused (409) if the incident changed since", nil},

		{"AlertsOverview", "GET /pipeline/alerts (the first service's shape, not a listing)", nil},
		{"AlertsOverview.active_leak_count", "leaks not yet repaired", nil},
		{"AlertsOverview.active_leaks", "every leak not yet repaired, newest first", nil},
		{"AlertsOverview.critical_count", "active critical leaks", nil},
		{"AlertsOverview.integrity", "0-100: 100, minus 10 per active leak, minus 30 more per critical one", nil},
		{"AlertsOverview.recent_history", "the latest 20 leaks, repaired ones too, newest first", nil},
		{"Alert", "a leak on a pipeline section, from a device or a person", nil},
		{"Alert.id", "the alert's id", nil},
		{"Alert.section", "the pipeline section", nil},
		{"Alert.severity", "a leak's severity: minor, major or critical (not an incident's); " + "devices' LOW is minor, MED major, HIGH and CRITICAL critical", leakSeverity},
		{"Alert.status", "active → acknowledged → repaired", alertStatus},
		{"Alert.class", "what leaks, as a device reports it: METHANE, OIL, WATER or UNKNOWN", nil},
		{"Alert.confidence", "the device's confidence, 0-1", nil},
		{"Alert.volume_estimate", "the volume lost, as the reporter estimated it (no unit is converted); null if none was given", nil},
		{"Alert.location", "where the leak was seen; null if not given", nil},
		{"Alert.notes", "what the reporter wrote", nil},
		{"Alert.reporter", "the device that reported it; empty for a person", nil},
		{"Alert.key_id", "the API key a person reported it with", nil},
		{"Alert.incident_id", "the incident it opened or joined", nil},
		{"Alert.created_at", "when it was reported", nil},
		{"Alert.acknowledged_at", "when it was acknowledged; null until then", nil},
		{"Alert.acknowledged_by", "the API key that acknowledged it", nil},
		{"Alert.resolved_at", "when it was marked repaired; null until then", nil},
		{"Location", "a point on Earth", nil},
		{"Location.lat", "latitude, degrees, -90 to 90", nil},
		{"Location.lon", "longitude, degrees, -180 to 180", nil},
		{"LeakBody", "POST /pipeline/alerts", nil},
		{"LeakBody.section", "a registered pipeline section", nil},
		{"LeakBody.severity", "minor, major or critical (a leak's severities, not an incident's)", leakSeverity},
		{"LeakBody.volume_estimate", "the volume lost, as you estimate it", nil},
		{"LeakBody.location", "where it was seen", nil},
		{"LeakBody.notes", "anything to add", nil},
		{"ReportedLeak", "the 201 of a leak report: the alert", nil},
		{"ReportedLeak.incident_opened", "true if the leak opened an incident; false if it joined one opened within 2 minutes", nil},

		{"PipelineReport", "GET /pipeline/health", nil},
		{"PipelineReport.active_leaks", "leaks not yet repaired", nil},
		{"PipelineReport.estimated_volume_lost", "sum of the active leaks' volume_estimate", nil},
		{"PipelineReport.integrity_score", "0-100, as AlertsOverview.integrity", nil},
		{"PipelineReport.next_cursor", "the cursor of pressure_profile's next page; null on the last", nil},
		{"PipelineReport.pressure_profile", "a page of the sections in service (limit, cursor), by name", nil},
		{"SectionPressure", "a section's pressure and risk", nil},
		{"SectionPressure.pressure_kpa", "its gauge's latest pressure, kPa; null before the first reading", nil},
		{"SectionPressure.last_seen", "when its gauge last reported", nil},
		{"SectionPressure.active_leaks", "its leaks not yet repaired", nil},
		{"SectionPressure.risk_level", "low; medium over 2 active leaks; high over 5", riskLevel},
		{"SectionDetail", "GET /pipeline/sections/{section}", nil},
		{"SectionDetail.active_leak_count", "its leaks not yet repaired", nil},
		{"SectionDetail.active_leaks", "those leaks, newest first", nil},
		{"SectionDetail.last_incident", "the latest incident one of its leaks opened or joined; null if none", nil},
		{"SectionDetail.last_seen", "when its gauge last reported", nil},
		{"SectionDetail.pressure_kpa", "its gauge's latest pressure, kPa", nil},
		{"SectionDetail.location", "where it runs", nil},
		{"SectionDetail.retired_at", "when it was retired; null while in service", nil},
		{"SectionDetail.risk_level", "as SectionPressure.risk_level", riskLevel},
		{"SectionDetail.section", "the section's name, also its gauge's device id", nil},
		{"NewSectionBody", "POST /pipeline/sections", nil},
		{"NewSectionBody.section", "the new section's name, which its gauge connects as: letters, digits, '-', '_'", nil},
		{"NewSectionBody.location", "where it runs", nil},
		{"SectionView", "a registered section", nil},
		{"SectionView.section", "the section's name, also its gauge's device id", nil},
		{"SectionView.location", "where it runs", nil},
		{"SectionView.retired_at", "when it was retired; null while in service", nil},
		{"SectionChangeBody", "POST /pipeline/sections/{section}/update", nil},
		{"SectionChangeBody.location", "a string: where it runs", nil},

		{"SeriesReport", "GET /telemetry/series: one device's metric folded into steps from from to to", nil},
		{"SeriesReport.device", "the device", nil},
		{"SeriesReport.metric", "the metric", nil},
		{"SeriesReport.from", "the start of the first step: the query's from, or over a day the hour that holds it", nil},
		{"SeriesReport.to", "the end of the window (the last step holds a reading at to)", nil},
		{"SeriesReport.step", "the step as a Go duration, such as 5m0s", nil},
		{"SeriesReport.points", "every step, oldest first, empty ones included", nil},
		{"SeriesPoint", "one step's readings of the metric; without readings, count 0 and the values null", nil},
		{"SeriesPoint.at", "the step's start: it holds readings from here to the next step's start", nil},
		{"SeriesPoint.count", "how many readings", nil},
		{"SeriesPoint.min", "the smallest value", nil},
		{"SeriesPoint.max", "the largest value", nil},
		{"SeriesPoint.avg", "the mean of the values", nil},
		{"SeriesPoint.last", "the value of the step's newest reading", nil},

		{"FlowHealthReport", "GET /flow/health, over the last hour of telemetry", nil},
		{"FlowHealthReport.anomaly_count", "anomalies of readings from the start of the minute an hour ago on, counted as ingest records them", nil},
		{"FlowHealthReport.current_metrics", "each valve device's latest readings, by device id", nil},
		{"FlowHealthReport.health_score", "0-100: 100, minus 5 per medium anomaly, minus 10 per high one", nil},
		{"FlowHealthReport.recent_anomalies", "the ten newest of those anomalies, newest first", nil},
		{"CurrentFlow", "a device's latest readings; null where it reported none", nil},
		{"CurrentFlow.flow_rate_lpm", "L/min", nil},
		{"CurrentFlow.pressure_pa", "Pa", nil},
		{"CurrentFlow.temperature_c", "°C", nil},
		{"CurrentFlow.at", "when the latest of them was read", nil},
		{"Anomaly", "a reading far from the mean of the device's readings of that metric before it", nil},
		{"Anomaly.id", "device, metric and time: the same reading always has the same id", nil},
		{"Anomaly.device", "the device", nil},
		{"Anomaly.metric", "the metric", metric},
		{"Anomaly.at", "when it was read", nil},
		{"Anomaly.value", "the reading, in the metric's unit", nil},
		{"Anomaly.mean", "the mean it is compared with", nil},
		{"Anomaly.deviation", "how far value is from mean: in the metric's unit, but in percent of the mean for flow_rate_lpm", nil},
		{"Anomaly.severity", "how far: medium or high", anomalySeverity},
		{"FlowMetricsReport", "GET /flow/metrics, over the last hour of telemetry", nil},
		{"FlowMetricsReport.current", "each valve device's latest readings, by device id", nil},
		{"FlowMetricsReport.history", "every flow-rate reading, newest first", nil},
		{"FlowMetricsReport.stats", "per metric (temperature_c, pressure_pa, flow_rate_lpm, torque_nm, kpa)", nil},
		{"FlowPoint", "one flow-rate reading", nil},
		{"FlowPoint.device", "the device", nil},
		{"FlowPoint.at", "when", nil},
		{"FlowPoint.flow_rate_lpm", "L/min", nil},
		{"MetricStats", "a metric's readings summarised; without readings, count is 0 and the others null", nil},
		{"MetricStats.count", "readings", nil},
		{"MetricStats.mean", "in the metric's unit", nil},
		{"MetricStats.min", "in the metric's unit", nil},
		{"MetricStats.max", "in the metric's unit", nil},
		{"Reading", "one telemetry message of a device", nil},
		{"Reading.id", "the reading's id", nil},
		{"Reading.device", "the device that sent it", nil},
		{"Reading.asset", "the valve or section it is of", nil},
		{"Reading.at", "when the device read it", nil},
		{"Reading.values", "by metric: temperature_c (°C), pressure_pa (Pa), flow_rate_lpm (L/min), torque_nm (N·m), " + "kpa (kPa, a section's gauge)", nil},

		{"Event", "one entry of the event log", nil},
		{"Event.id", "the event's id; ids sort in the order events were written", nil},
		{"Event.type", "what happened", eventType},
		{"Event.at", "when", nil},
		{"Event.asset", "the valve or section it is about", nil},
		{"Event.key_id", "the API key that caused it, if one did", nil},
		{"Event.data", "the type's details", nil},
		{"EventListing", "the first page of GET /events", nil},
		{"EventListing.poll_cursor", "pass as since to get what is written after this page", nil},
	}
	out := make(openapi.Members, len(table))
	for _, e := range table {
		m := openapi.Member{Description: e.description}
		if e.enum != nil {
			m.Enum, m.EnumName, m.EnumDescription = e.enum.values, e.enum.name, e.enum.description
		}
		out[e.key] = m
	}
	return out
}

// enum is a named enum of the document.
type enum struct {
	name, description string
	values            []string
}
