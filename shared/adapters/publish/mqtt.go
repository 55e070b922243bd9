package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// ErrNotConnected is returned (wrapped) when there was no link to the broker
// at the time of the call: the command was not sent and never will be.
var ErrNotConnected = errors.New("not connected to the MQTT broker")

// ErrNoAck is returned (wrapped) when the broker did not acknowledge a
// command in time. The command was written to the link and may still
// arrive; it is never sent again.
var ErrNoAck = errors.New("no acknowledgement from the MQTT broker")

// MQTTOptions configures NewMQTT.
type MQTTOptions struct {
	URL      string // tcp://host:port, ssl://, ws:// or wss://
	ClientID string
	Username string
	Password string
	// Timeout bounds the wait for the broker's acknowledgement of a
	// publish, and each connection attempt. Default 5s.
	Timeout time.Duration
	Logger  *slog.Logger // default: discard
}

const (
	defaultTimeout = 5 * time.Second
	// retryInterval is the pause between connection attempts while the
	// broker is unreachable: short, because commands fail with
	// ErrNotConnected meanwhile, and one connection's attempts cost little.
	retryInterval = time.Second
	// quiesce is how long Close lets the DISCONNECT packet go out.
	quiesce = 250 // milliseconds
)

// MQTT publishes over one long-lived MQTT connection, which it re-opens in
// the background whenever it is lost.
//
// It must never send a command again after it reported it as failed. paho
// (v1.5.1) does not give that with its own auto-reconnect, even with
// CleanSession: client.reconnect (client.go) calls client.resume, which
// sends every QoS 1 PUBLISH still in the outgoing store again, DUP set; only
// client.Connect skips resume and calls persist.Reset when CleanSession is
// set. And on a reconnect, internalConnLost keeps the tokens of unanswered
// publishes and their message ids (messageIds.cleanUp runs only when no
// reconnect follows). So auto-reconnect is off: when the link drops, paho
// fails every pending publish ("connection lost before Publish completed")
// and frees its id, and our connection-lost handler calls Connect again,
// which with
// CleanSession and the in-memory store wipes the store once connected, so
// nothing from the old link is resent. ConnectRetry keeps Connect trying
// every retryInterval until the broker is back.
//
// TestMQTTNeverResendsACommandItReportedAsFailed fails with paho's
// auto-reconnect in place of this.
type MQTT struct {
	client  paho.Client
	timeout time.Duration
	log     *slog.Logger

	mu     sync.Mutex // orders reconnects against Close
	closed bool
}

// NewMQTT returns a publisher connecting to opts.URL in the background: it
// does not fail when the broker is down, its Publish does until the link is
// up.
func NewMQTT(opts MQTTOptions) (*MQTT, error) {
	// paho only logs a URL it cannot parse and then never connects: refuse
	// it here instead.
	u, err := url.Parse(opts.URL)
	if err != nil {
		// Not the whole *url.Error: it quotes the URL, password and all.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("mqtt url: %w", err)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss": // what paho dials (netconn.go)
	default:
		return nil, fmt.Errorf("mqtt url %q: scheme must be tcp, ssl, ws or wss", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("mqtt url %q: no host", u.Redacted())
	}
	if opts.ClientID == "" {
		// IoT Core refuses an empty client id, and its policies grant
		// rights by client id.
		return nil, errors.New("mqtt: ClientID is required")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	p := &MQTT{timeout: opts.Timeout, log: opts.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}

	co := paho.NewClientOptions().
		AddBroker(opts.URL).
		SetClientID(opts.ClientID).
		SetUsername(opts.Username).
		SetPassword(opts.Password).
		SetCleanSession(true).
		SetStore(paho.NewMemoryStore()).
		SetAutoReconnect(false). // see the type's comment
		SetConnectRetry(true).
		SetConnectRetryInterval(retryInterval).
		SetConnectTimeout(opts.Timeout).
		// paho's Publish blocks up to WriteTimeout (30s when unset) to hand
		// the packet to its writer; keep that within our own bound.
		SetWriteTimeout(opts.Timeout).
		SetOnConnectHandler(func(paho.Client) {
			p.log.Info("mqtt connected", "broker", u.Redacted())
		}).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			p.log.Warn("mqtt connection lost", "broker", u.Redacted(), "error", err)
			p.reconnect()
		})
	p.client = paho.NewClient(co)
	p.client.Connect() // with ConnectRetry it keeps trying until Close
	return p, nil
}

// reconnect starts a new connection after a loss, unless Close was called.
func (p *MQTT) reconnect() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.client.Connect()
}

// Publish sends payload to topic with QoS 1 and waits for the broker's
// PUBACK, up to ctx's deadline or the configured Timeout, whichever comes
// first. It fails at once with ErrNotConnected while the link is down, and
// with ErrNoAck when no PUBACK came in time.
func (p *MQTT) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mqtt publish to %s: %w", topic, err)
	}
	// IsConnectionOpen, not IsConnected: the latter is also true while
	// paho is still trying to connect, when it would keep the message to
	// send once connected (and the store is wiped then, see MQTT).
	if !p.client.IsConnectionOpen() {
		return fmt.Errorf("mqtt publish to %s: %w", topic, ErrNotConnected)
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	tok := p.client.Publish(topic, 1, false, payload)
	select {
	case <-tok.Done():
		err := tok.Error()
		if errors.Is(err, paho.ErrNotConnected) {
			// The link went down between the check above and the call.
			err = ErrNotConnected
		}
		if err != nil {
			return fmt.Errorf("mqtt publish to %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mqtt publish to %s: %w: %w", topic, ErrNoAck, ctx.Err())
	}
}

// Close disconnects and stops reconnecting. Publish fails afterwards.
func (p *MQTT) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.client.Disconnect(quiesce)
}
