package store

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultMaxEntries is the Memory bound when MemoryOptions.MaxEntries is 0.
// At a few hundred bytes per state entry it caps the store near a few hundred
// MiB instead of letting a login flood grow it without limit.
const DefaultMaxEntries = 1 << 20

const (
	// janitorInterval is how often the background sweep releases expired
	// entries on an idle instance; writes sweep too, so this only matters
	// when traffic stops after a burst.
	janitorInterval = 30 * time.Second
	// writeSweepLimit bounds the expired entries one write evicts, so a
	// write after a mass expiry does not hold the lock for the whole sweep.
	writeSweepLimit = 128
	// janitorChunk bounds the entries the janitor evicts per lock hold.
	janitorChunk = 1024
)

// MemoryOptions configures NewMemory.
type MemoryOptions struct {
	// Now returns the current time; nil means time.Now. Tests inject a fake
	// clock to fast-forward expiry.
	Now func() time.Time
	// MaxEntries bounds the number of stored entries; 0 or less means
	// DefaultMaxEntries. When full, inserting a new key fails with
	// ErrUnavailable: refusing logins beats exhausting memory under a
	// state or exchange-code flood.
	MaxEntries int
}

// Memory is an in-process Store for a single instance. Expiry is checked on
// every read; expired entries are evicted in expiry order (a min-heap) on
// writes and by a janitor goroutine that Close stops.
type Memory struct {
	now func() time.Time
	max int

	mu       sync.Mutex
	entries  map[string]*memEntry
	byExpiry expiryHeap
	closed   bool

	closeOnce   sync.Once
	stop        chan struct{}
	janitorDone chan struct{}
}

var _ Store = (*Memory)(nil)

type memEntry struct {
	key     string
	value   []byte // owned by the store: copied in on Put, copied out on Get
	expires time.Time
	index   int // position in Memory.byExpiry, maintained by the heap
}

// live reports whether the entry is still valid at now; the deadline itself
// counts as expired so a TTL is never exceeded.
func (e *memEntry) live(now time.Time) bool { return now.Before(e.expires) }

// NewMemory returns an empty Memory and starts its janitor; call Close to
// stop it.
func NewMemory(opts MemoryOptions) *Memory {
	m := &Memory{
		now:         opts.Now,
		max:         opts.MaxEntries,
		entries:     make(map[string]*memEntry),
		stop:        make(chan struct{}),
		janitorDone: make(chan struct{}),
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.max <= 0 {
		m.max = DefaultMaxEntries
	}
	go m.janitor()
	return m
}

// Put stores a copy of value under key for ttl, replacing any previous value.
func (m *Memory) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkCtx(ctx, "put"); err != nil {
		return err
	}
	if err := checkTTL("put", ttl); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.usableLocked("put"); err != nil {
		return err
	}
	now := m.now()
	m.sweepLocked(now, writeSweepLimit)
	if e, ok := m.entries[key]; ok {
		e.value = bytes.Clone(value)
		e.expires = now.Add(ttl)
		heap.Fix(&m.byExpiry, e.index)
		return nil
	}
	return m.insertLocked("put", key, value, now.Add(ttl))
}

// PutNew stores a copy of value only if key has no live value.
func (m *Memory) PutNew(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := checkCtx(ctx, "put new"); err != nil {
		return false, err
	}
	if err := checkTTL("put new", ttl); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.usableLocked("put new"); err != nil {
		return false, err
	}
	now := m.now()
	m.sweepLocked(now, writeSweepLimit)
	if e, ok := m.entries[key]; ok {
		if e.live(now) {
			return false, nil
		}
		// The sweep is bounded, so an expired entry may still be here; it
		// counts as absent, exactly as Redis treats an expired key.
		m.removeLocked(e)
	}
	if err := m.insertLocked("put new", key, value, now.Add(ttl)); err != nil {
		return false, err
	}
	return true, nil
}

// Get returns a copy of the live value under key, or ErrNotFound.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkCtx(ctx, "get"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.usableLocked("get"); err != nil {
		return nil, err
	}
	e, err := m.liveLocked(key)
	if err != nil {
		return nil, err
	}
	// Copy out: the caller must not be able to change what the next reader sees.
	return bytes.Clone(e.value), nil
}

// Take returns the live value under key and removes it in one critical
// section, so of concurrent Takes exactly one succeeds.
func (m *Memory) Take(ctx context.Context, key string) ([]byte, error) {
	if err := checkCtx(ctx, "take"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.usableLocked("take"); err != nil {
		return nil, err
	}
	e, err := m.liveLocked(key)
	if err != nil {
		return nil, err
	}
	m.removeLocked(e)
	// The entry is gone, so its slice has no other owner: no copy needed.
	return e.value, nil
}

// Delete removes key; deleting an absent key is not an error.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := checkCtx(ctx, "delete"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.usableLocked("delete"); err != nil {
		return err
	}
	if e, ok := m.entries[key]; ok {
		m.removeLocked(e)
	}
	return nil
}

// Ping reports ErrUnavailable once the store is closed.
func (m *Memory) Ping(ctx context.Context) error {
	if err := checkCtx(ctx, "ping"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.usableLocked("ping")
}

// Close drops all entries and stops the janitor, waiting for it to exit.
// Later operations fail with ErrUnavailable. Close is idempotent.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.entries = nil
		m.byExpiry = nil
		m.mu.Unlock()
		close(m.stop)
		<-m.janitorDone
	})
	return nil
}

// janitor periodically evicts expired entries so an idle instance gives the
// memory of a past burst back.
func (m *Memory) janitor() {
	defer close(m.janitorDone)
	t := time.NewTicker(janitorInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			// Sweep in chunks, releasing the lock in between, so requests
			// are not stalled behind a large sweep.
			for {
				m.mu.Lock()
				n := 0
				if !m.closed {
					n = m.sweepLocked(m.now(), janitorChunk)
				}
				m.mu.Unlock()
				if n < janitorChunk {
					break
				}
			}
		}
	}
}

var errClosed = errors.New("memory store closed")

func (m *Memory) usableLocked(op string) error {
	if m.closed {
		return fmt.Errorf("store: %s: %w: %w", op, errClosed, ErrUnavailable)
	}
	return nil
}

// liveLocked returns the live entry for key, evicting it if it has expired.
func (m *Memory) liveLocked(key string) (*memEntry, error) {
	e, ok := m.entries[key]
	if !ok {
		return nil, ErrNotFound
	}
	if !e.live(m.now()) {
		m.removeLocked(e)
		return nil, ErrNotFound
	}
	return e, nil
}

func (m *Memory) insertLocked(op, key string, value []byte, expires time.Time) error {
	if len(m.entries) >= m.max {
		// The sweep before this ran, so every remaining entry is live:
		// refuse rather than grow or evict live state.
		return fmt.Errorf("store: %s: memory store full (%d entries): %w", op, m.max, ErrUnavailable)
	}
	e := &memEntry{key: key, value: bytes.Clone(value), expires: expires}
	m.entries[key] = e
	heap.Push(&m.byExpiry, e)
	return nil
}

func (m *Memory) removeLocked(e *memEntry) {
	heap.Remove(&m.byExpiry, e.index)
	delete(m.entries, e.key)
}

// sweepLocked evicts up to limit expired entries, soonest-expiring first,
// and reports how many it evicted.
func (m *Memory) sweepLocked(now time.Time, limit int) int {
	n := 0
	for n < limit && len(m.byExpiry) > 0 && !m.byExpiry[0].live(now) {
		e := heap.Pop(&m.byExpiry).(*memEntry)
		delete(m.entries, e.key)
		n++
	}
	return n
}

// expiryHeap is a container/heap of entries ordered by expiry, each entry
// tracking its own index so overwrites and deletes are O(log n).
type expiryHeap []*memEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *expiryHeap) Push(x any) {
	e := x.(*memEntry)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *expiryHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil // let the entry be collected
	*h = old[:n-1]
	e.index = -1
	return e
}
