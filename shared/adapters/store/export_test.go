package store

import "context"

// CountActiveAlerts counts the active alerts in pages of pageSize, for the
// tests of count outside the package (which need shared/testkit/dynamotest, and
// it imports this package).
func CountActiveAlerts(ctx context.Context, s *Store, pageSize int) (int, error) {
	return s.count(ctx, query{index: indexGSI2, sc: gsiScope(indexGSI2, activeAlertsPartition)}, pageSize)
}
