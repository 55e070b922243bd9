package notify

import (
	"context"
	"log/slog"
)

// Log writes notifications to a log, where the local stack, which has no
// SNS, shows them.
type Log struct {
	log *slog.Logger
}

// NewLog returns a notifier writing to l.
func NewLog(l *slog.Logger) *Log {
	return &Log{log: l}
}

// Notify writes one line at Warn level: a notification asks for a person's
// attention, which Info lines do not.
func (n *Log) Notify(ctx context.Context, subject, message string) error {
	n.log.WarnContext(ctx, "notification", "subject", subject, "message", message)
	return nil
}
