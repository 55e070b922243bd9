package simulator

import (
	"strconv"
	"strings"
	"sync"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/plainview/serverless/shared/contract/topics"
)

// kindOf is what a topic carries, as Stats counts it: its kind, whether
// sent directly or through Basic Ingest.
func kindOf(topic string) topics.Kind {
	t, _ := topics.Parse(topic)
	return t.Kind
}

// ackStore is paho's ordered in-memory store, watched so that Stats can
// count what the broker acknowledged.
//
// paho's token is no measure of that: when a QoS 1 message waits in the
// store across a reconnect, client.resume (client.go, v1.5.1) claims its
// message id for a fresh token, and messageIds.claimID completes the old
// token, the one Publish returned, without an error — before the message
// is even sent again. The store, though, keeps a QoS 1 PUBLISH from the
// moment Publish takes it until the broker's PUBACK arrives
// (persistOutbound / persistInbound in store.go), and with CleanSession
// false nothing else removes it. So a message counts as published when
// its PUBACK takes it out of the store, and as pending while it is in.
//
// The ordered store, not the plain one, because resume sends what the
// store holds in the store's order: a valve's statuses go out again
// ALIGNING before DONE.
type ackStore struct {
	*paho.OrderedMemoryStore
	acked func(topics.Kind) // called once per acknowledged message

	mu      sync.Mutex
	pending map[string]topics.Kind // store key ("o.<message id>") → kind
}

func newAckStore(acked func(topics.Kind)) *ackStore {
	return &ackStore{OrderedMemoryStore: paho.NewOrderedMemoryStore(), acked: acked, pending: map[string]topics.Kind{}}
}

// The store and paho share no PUBLISH packet: Put keeps a copy of its
// own, and Get hands out copies. paho (client.go, v1.5.1) stores a message
// and then gives the same packet to its writer, which sets RemainingLength
// on it as it packs it; client.resume, which runs on every connect of a
// persistent session, the first included, reads the store and sets Dup on
// what Get returned before sending it again. A message published as the
// connection comes up meets both at once: with shared packets that is a
// data race (eclipse-paho/paho.mqtt.golang#703, open), which the race
// detector caught in CI, with the leak sent twice. The broker may still get
// such a message twice, which QoS 1 allows and ingest deduplicates. The
// payload is shared; nobody writes to it.
func (s *ackStore) Put(key string, m packets.ControlPacket) {
	pub, ok := m.(*packets.PublishPacket)
	if ok {
		kept := *pub
		m = &kept
	}
	s.OrderedMemoryStore.Put(key, m)
	if !ok || !strings.HasPrefix(key, "o.") {
		return // a subscription, or an inbound command awaiting our PUBACK
	}
	if s.OrderedMemoryStore.Get(key) == nil {
		return // the store was closed: paho did not keep it
	}
	s.mu.Lock()
	s.pending[key] = kindOf(pub.TopicName)
	s.mu.Unlock()
}

// Get returns a copy of a stored PUBLISH (see Put).
func (s *ackStore) Get(key string) packets.ControlPacket {
	m := s.OrderedMemoryStore.Get(key)
	if pub, ok := m.(*packets.PublishPacket); ok {
		cp := *pub
		return &cp
	}
	return m
}

func (s *ackStore) Del(key string) {
	s.OrderedMemoryStore.Del(key)
	s.mu.Lock()
	k, ok := s.pending[key]
	delete(s.pending, key)
	s.mu.Unlock()
	if ok {
		s.acked(k)
	}
}

func (s *ackStore) Reset() {
	s.OrderedMemoryStore.Reset()
	s.mu.Lock()
	clear(s.pending)
	s.mu.Unlock()
}

// holds reports whether the message with this id waits in the store.
func (s *ackStore) holds(id uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pending["o."+strconv.Itoa(int(id))]
	return ok
}

// size is the number of messages waiting for their PUBACK.
func (s *ackStore) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}
