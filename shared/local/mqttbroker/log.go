package mqttbroker

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/mochi-mqtt/server/v2/packets"
)

// quiet is the broker's log handler: mochi logs every ended connection as
// a WARN with an empty message (the error is io.EOF or a closed
// connection: a device going away, which is normal), and a refused packet
// with the whole packet as an attribute (1.6 KB of struct for one refused
// publish). quiet makes the first a DEBUG line that says what it is, and
// writes a packet as its kind, topic and size.
type quiet struct{ h slog.Handler }

// quietLogger wraps logger's handler in quiet.
func quietLogger(logger *slog.Logger) *slog.Logger {
	if logger == nil {
		return nil
	}
	return slog.New(quiet{logger.Handler()})
}

func (q quiet) Enabled(ctx context.Context, level slog.Level) bool { return q.h.Enabled(ctx, level) }

func (q quiet) WithAttrs(attrs []slog.Attr) slog.Handler { return quiet{q.h.WithAttrs(attrs)} }

func (q quiet) WithGroup(name string) slog.Handler { return quiet{q.h.WithGroup(name)} }

func (q quiet) Handle(ctx context.Context, r slog.Record) error {
	level, message := r.Level, r.Message
	if message == "" {
		// Only the listeners log without a message, and only when a
		// connection ends.
		level, message = min(level, slog.LevelDebug), "connection ended"
		if !q.h.Enabled(ctx, level) {
			return nil
		}
	}
	out := slog.NewRecord(r.Time, level, message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		switch p := a.Value.Any().(type) {
		case packets.Packet:
			a = slog.String(a.Key, summary(p))
		case *packets.Packet:
			if p != nil {
				a = slog.String(a.Key, summary(*p))
			}
		}
		out.AddAttrs(a)
		return true
	})
	return q.h.Handle(ctx, out)
}

// summary is what a log line needs of a packet: its kind, and for a
// publish its topic, QoS and payload size.
func summary(p packets.Packet) string {
	kind := packets.PacketNames[p.FixedHeader.Type]
	if p.FixedHeader.Type != packets.Publish {
		return kind
	}
	return fmt.Sprintf("%s %s qos %d, %d bytes", kind, p.TopicName, p.FixedHeader.Qos, len(p.Payload))
}
