package store

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/core/domain"
)

type eventItem struct {
	keys
	domain.Event
}

const eventsPartition = "EVENTS"

// eventQuery picks the partition that serves the filter: each filter
// (asset, type, both) has an index of its own, so a page is always a plain
// key Query and never comes back short.
func eventQuery(f domain.EventFilter) query {
	idx, pk := eventIndex(f)
	if idx == "" {
		return query{sc: tableScope(pk)}
	}
	return query{index: idx, sc: gsiScope(idx, pk)}
}

func eventIndex(f domain.EventFilter) (index, partition string) {
	switch {
	case f.Asset != "" && f.Type != "":
		return indexGSI3, "EVENTS#ASSET#" + f.Asset + "#TYPE#" + f.Type
	case f.Asset != "":
		return indexGSI1, "EVENTS#ASSET#" + f.Asset
	case f.Type != "":
		return indexGSI2, "EVENTS#TYPE#" + f.Type
	}
	return "", eventsPartition
}

// sortAttr is the attribute holding the event id in q's index.
func (q query) sortAttr() string {
	switch q.index {
	case indexGSI1:
		return attrGSI1SK
	case indexGSI2:
		return attrGSI2SK
	case indexGSI3:
		return attrGSI3SK
	}
	return attrSK
}

func eventsOf(items []eventItem) []domain.Event {
	out := make([]domain.Event, len(items))
	for i, it := range items {
		out[i] = it.Event
	}
	return out
}

// Events returns a page of the event log, newest first.
func (s *Store) Events(ctx context.Context, f domain.EventFilter, page domain.Page) ([]domain.Event, string, error) {
	items, next, err := queryPage[eventItem](ctx, s, eventQuery(f), page)
	if err != nil {
		return nil, "", err
	}
	return eventsOf(items), next, nil
}

// EventsSince returns up to limit events that came after the cursor,
// oldest first, and the cursor to poll with next (the same one when
// nothing new came). The cursor is a position in the log: the next_cursor
// or poll_cursor of any events answer with the same filter.
func (s *Store) EventsSince(ctx context.Context, f domain.EventFilter, cursor string, limit int) ([]domain.Event, string, error) {
	q := eventQuery(f)
	after, err := eventPosition(q.sc, cursor)
	if err != nil {
		return nil, "", err
	}
	q.forward = true
	q.sortKey = "#sk > :after"
	if q.names == nil {
		q.names = map[string]string{}
	}
	if q.values == nil {
		q.values = map[string]types.AttributeValue{}
	}
	q.names["#sk"] = q.sortAttr()
	q.values[":after"] = str(after)
	items, err := queryAll[eventItem](ctx, s, q, limit)
	if err != nil {
		return nil, "", err
	}
	events := eventsOf(items)
	if len(events) == 0 {
		return events, cursor, nil
	}
	next, err := s.EventCursor(f, events[len(events)-1].ID)
	return events, next, err
}

// EventCursor is the polling position just after the event with that id,
// in the log narrowed by f.
func (s *Store) EventCursor(f domain.EventFilter, eventID string) (string, error) {
	q := eventQuery(f)
	last := map[string]types.AttributeValue{attrPK: str(eventsPartition), attrSK: str(eventID)}
	switch q.index {
	case indexGSI1:
		last[attrGSI1PK], last[attrGSI1SK] = str(q.sc.partition), str(eventID)
	case indexGSI2:
		last[attrGSI2PK], last[attrGSI2SK] = str(q.sc.partition), str(eventID)
	case indexGSI3:
		last[attrGSI3PK], last[attrGSI3SK] = str(q.sc.partition), str(eventID)
	}
	return encodeCursor(q.sc, last)
}

// eventPosition reads the event id out of a cursor of this listing.
func eventPosition(sc scope, cursor string) (string, error) {
	start, err := decodeCursor(sc, cursor)
	if err != nil {
		return "", err
	}
	if start == nil {
		return "", fmt.Errorf("%w: empty", domain.ErrBadCursor)
	}
	id := start[attrSK].(*types.AttributeValueMemberS).Value
	if !domain.ValidID(id) {
		return "", fmt.Errorf("%w: not an event position", domain.ErrBadCursor)
	}
	return id, nil
}
