package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/core/domain"
)

type incidentItem struct {
	keys
	domain.Incident
}

// incident is the record as the API shows it: an empty list of modules is
// [] (DynamoDB keeps no empty list apart from a missing one).
func (it incidentItem) incident() domain.Incident {
	in := it.Incident
	if in.AffectedModules == nil {
		in.AffectedModules = []string{}
	}
	return in
}

type timelineItem struct {
	keys
	domain.TimelineEntry
}

type countsItem struct {
	keys
	Total                  int     `json:"total"`
	Resolved               int     `json:"resolved"`
	ResolutionMinutesTotal float64 `json:"resolution_minutes_total"`
}

const (
	incidentsPartition   = "INCIDENTS"
	unresolvedPartition  = "UNRESOLVED_INCIDENTS"
	timelinePrefix       = "TL#"
	statsPK, incidentsSK = "STATS", "INCIDENTS"
)

func incidentPK(id string) string { return "INCIDENT#" + id }

func incidentsOf(items []incidentItem) []domain.Incident {
	out := make([]domain.Incident, len(items))
	for i, it := range items {
		out[i] = it.incident()
	}
	return out
}

// UnresolvedIncidents returns every incident not yet resolved, newest first.
func (s *Store) UnresolvedIncidents(ctx context.Context) ([]domain.Incident, error) {
	items, err := queryAll[incidentItem](ctx, s, query{index: indexGSI2, sc: gsiScope(indexGSI2, unresolvedPartition)}, 0)
	if err != nil {
		return nil, err
	}
	return incidentsOf(items), nil
}

// RecentIncidents returns the incidents started at or after since, newest
// first, at most limit.
func (s *Store) RecentIncidents(ctx context.Context, since time.Time, limit int) ([]domain.Incident, error) {
	q := query{
		index:   indexGSI1,
		sc:      gsiScope(indexGSI1, incidentsPartition),
		sortKey: "#sk >= :since",
		names:   map[string]string{"#sk": attrGSI1SK},
		values:  map[string]types.AttributeValue{":since": str(sortTime(since))},
	}
	items, err := queryAll[incidentItem](ctx, s, q, limit)
	if err != nil {
		return nil, err
	}
	return incidentsOf(items), nil
}

// Incident returns an incident and its timeline, newest entry first, or
// domain.ErrNotFound. One Query reads both: they share the partition.
func (s *Store) Incident(ctx context.Context, id string) (domain.Incident, []domain.TimelineEntry, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(incidentPK(id))},
		ScanIndexForward:          aws.Bool(false),
	})
	if err != nil {
		return domain.Incident{}, nil, fmt.Errorf("query incident %s: %w", id, err)
	}
	var (
		inc      *domain.Incident
		timeline = []domain.TimelineEntry{}
	)
	for _, item := range out.Items {
		var k keys
		if err := unmarshal(item, &k); err != nil {
			return domain.Incident{}, nil, err
		}
		switch {
		case k.SK == metaSK:
			var it incidentItem
			if err := unmarshal(item, &it); err != nil {
				return domain.Incident{}, nil, err
			}
			in := it.incident()
			inc = &in
		case strings.HasPrefix(k.SK, timelinePrefix):
			var it timelineItem
			if err := unmarshal(item, &it); err != nil {
				return domain.Incident{}, nil, err
			}
			timeline = append(timeline, it.TimelineEntry)
		}
	}
	if inc == nil {
		return domain.Incident{}, nil, domain.ErrNotFound
	}
	return *inc, timeline, nil
}

// IncidentCounts returns the running totals kept beside the incidents.
func (s *Store) IncidentCounts(ctx context.Context) (domain.IncidentCounts, error) {
	var it countsItem
	err := s.get(ctx, statsPK, incidentsSK, &it)
	if err == domain.ErrNotFound {
		return domain.IncidentCounts{}, nil
	}
	if err != nil {
		return domain.IncidentCounts{}, err
	}
	return domain.IncidentCounts{Total: it.Total, Resolved: it.Resolved, ResolutionMinutesTotal: it.ResolutionMinutesTotal}, nil
}
