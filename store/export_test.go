package store

import "fmt"

// Test-only access to internals, for the external store_test package (which
// cannot be internal because it imports storetest, which imports store).

var ParseRedisURL = parseRedisURL

func JanitorDone(m *Memory) <-chan struct{} { return m.janitorDone }

func MemoryLen(m *Memory) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// CheckMemoryInvariants verifies that the map and the expiry heap describe
// the same entries and that the heap is ordered.
func CheckMemoryInvariants(m *Memory) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.entries) != len(m.byExpiry) {
		return fmt.Errorf("%d map entries, %d heap entries", len(m.entries), len(m.byExpiry))
	}
	for i, e := range m.byExpiry {
		if e.index != i {
			return fmt.Errorf("heap[%d] records index %d", i, e.index)
		}
		if m.entries[e.key] != e {
			return fmt.Errorf("heap[%d] is not the map's entry for its key", i)
		}
		if i > 0 && e.expires.Before(m.byExpiry[(i-1)/2].expires) {
			return fmt.Errorf("heap[%d] expires before its parent", i)
		}
	}
	return nil
}
