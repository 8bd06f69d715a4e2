package diag

import (
	"bytes"
	"sync"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// packetStore is paho's in-flight store keeping packets as bytes: Put
// takes a snapshot and every Get decodes a fresh packet. paho v1.5.x sets
// the DUP flag, when it resumes after a reconnection, on the very packet
// object its new writer goroutine may be sending at that moment
// (eclipse-paho/paho.mqtt.golang#703; the race detector finds it in
// TestBrokerRestart). With snapshots no two goroutines share a packet.
type packetStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newPacketStore() *packetStore { return &packetStore{m: map[string][]byte{}} }

// Open implements mqtt.Store.
func (s *packetStore) Open() {}

// Put implements mqtt.Store. paho calls it before the packet is queued,
// so serialising it here races with nobody.
func (s *packetStore) Put(key string, p packets.ControlPacket) {
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		return // not kept: it is not redelivered after a reconnection
	}
	s.mu.Lock()
	s.m[key] = buf.Bytes()
	s.mu.Unlock()
}

// Get implements mqtt.Store.
func (s *packetStore) Get(key string) packets.ControlPacket {
	s.mu.Lock()
	b, ok := s.m[key]
	s.mu.Unlock()
	if !ok {
		return nil
	}
	p, err := packets.ReadPacket(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	return p
}

// All implements mqtt.Store.
func (s *packetStore) All() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.m))
	for k := range s.m {
		keys = append(keys, k)
	}
	return keys
}

// Del implements mqtt.Store.
func (s *packetStore) Del(key string) {
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
}

// Close implements mqtt.Store.
func (s *packetStore) Close() {}

// Reset implements mqtt.Store.
func (s *packetStore) Reset() {
	s.mu.Lock()
	s.m = map[string][]byte{}
	s.mu.Unlock()
}
