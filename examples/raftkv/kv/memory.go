package kv

import (
	"io"
	"strings"
	"sync"

	"github.com/RaduBerinde/btreemap"
	"github.com/tickraft/raft/replica"
)

// item is a key's value and version in the memory state machine.
type item struct {
	value   []byte
	version uint64
}

// Memory is the in-memory state machine: a copy-on-write B-tree, so a
// snapshot is a lazy clone written out while applies go on. It keeps
// nothing across restarts (AppliedIndex is 0): the replica restores it
// from the latest snapshot and applies the log after it.
type Memory struct {
	// mu guards the fields below: applies write them, reads and snapshots
	// read them from other goroutines.
	mu       sync.RWMutex
	tree     *btreemap.BTreeMap[string, item]
	sessions sessions
	nodes    map[uint64]string
	applied  uint64
	commands uint64
	restores uint64
}

var _ StateMachine = (*Memory)(nil)

// NewMemory returns an empty in-memory state machine keeping at most
// maxSessions client sessions (0: DefaultMaxSessions).
func NewMemory(maxSessions int) *Memory {
	return &Memory{tree: newTree(), sessions: newSessions(maxSessions), nodes: map[uint64]string{}}
}

func newTree() *btreemap.BTreeMap[string, item] {
	return btreemap.New[string, item](32, strings.Compare)
}

// memStore is the store view the apply logic writes through (under mu).
type memStore struct{ m *Memory }

func (s memStore) get(key []byte) ([]byte, uint64, bool, error) {
	_, it, ok := s.m.tree.Get(string(key))
	return it.value, it.version, ok, nil
}

func (s memStore) put(key, value []byte, version uint64) error {
	s.m.tree.ReplaceOrInsert(string(key), item{value: value, version: version})
	return nil
}

func (s memStore) del(key []byte) error { s.m.tree.Delete(string(key)); return nil }

func (s memStore) setNode(id uint64, addr string) error { s.m.nodes[id] = addr; return nil }

// Apply implements replica.StateMachine.
func (m *Memory) Apply(cmds []replica.Command, results []any) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := applyBatch(memStore{m}, &m.sessions, cmds, results); err != nil {
		return err
	}
	clear(m.sessions.dirty)
	m.sessions.evicted = m.sessions.evicted[:0]
	if len(cmds) > 0 {
		m.applied = cmds[len(cmds)-1].Index
	}
	m.commands += uint64(len(cmds))
	return nil
}

// AppliedIndex implements replica.StateMachine: nothing is durable.
func (m *Memory) AppliedIndex() uint64 { return 0 }

// Get implements StateMachine.
func (m *Memory) Get(key []byte) (KV, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, it, ok := m.tree.Get(string(key))
	return KV{Key: key, Value: it.value, Version: it.version}, ok, nil
}

// Scan implements StateMachine.
func (m *Memory) Scan(start, end []byte, limit int) ([]KV, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	hi := btreemap.Max[string]()
	if end != nil {
		hi = btreemap.LT(string(end))
	}
	var out []KV
	m.tree.AscendFunc(btreemap.GE(string(start)), hi, func(k string, it item) bool {
		if limit > 0 && len(out) >= limit {
			return false
		}
		out = append(out, KV{Key: []byte(k), Value: it.value, Version: it.version})
		return true
	})
	return out, nil
}

// Nodes implements StateMachine.
func (m *Memory) Nodes() map[uint64]string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return copyNodes(m.nodes)
}

// Stats implements StateMachine.
func (m *Memory) Stats() Stats {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return Stats{Keys: m.tree.Len(), Sessions: len(m.sessions.m), Applied: m.applied, Commands: m.commands, Restores: m.restores}
}

// Close implements StateMachine.
func (m *Memory) Close() error { return nil }

// Snapshot implements replica.StateMachine: a lazy clone of the tree and a
// copy of the sessions.
func (m *Memory) Snapshot() (replica.Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &memSnapshot{tree: m.tree.Clone(), sessions: m.sessions.clone(), nodes: copyNodes(m.nodes)}, nil
}

type memSnapshot struct {
	tree     *btreemap.BTreeMap[string, item]
	sessions map[uint64]*session
	nodes    map[uint64]string
}

func (s *memSnapshot) WriteTo(w io.Writer) (int64, error) {
	sw := newSnapWriter(w)
	var err error
	s.tree.AscendFunc(btreemap.Min[string](), btreemap.Max[string](), func(k string, it item) bool {
		err = sw.key([]byte(k), it.value, it.version)
		return err == nil
	})
	if err != nil {
		return sw.n, err
	}
	if err := writeSessionsAndNodes(sw, s.sessions, s.nodes); err != nil {
		return sw.n, err
	}
	return sw.finish()
}

func writeSessionsAndNodes(sw *snapWriter, ss map[uint64]*session, nodes map[uint64]string) error {
	for id, s := range ss {
		if err := sw.session(id, s); err != nil {
			return err
		}
	}
	for id, a := range nodes {
		if err := sw.node(id, a); err != nil {
			return err
		}
	}
	return nil
}

func (s *memSnapshot) Release() { s.tree = nil }

// Restore implements replica.StateMachine. The new state is built aside
// and swapped in only when the whole stream was read and checked.
func (m *Memory) Restore(r io.Reader, index uint64) error {
	tree, nodes := newTree(), map[uint64]string{}
	ss := newSessions(m.sessions.max)
	err := readSnapshot(r, snapHandler{
		key: func(k, v []byte, ver uint64) error {
			tree.ReplaceOrInsert(string(k), item{value: append([]byte(nil), v...), version: ver})
			return nil
		},
		session: func(id uint64, s *session) error { ss.m[id] = s; return nil },
		node:    func(id uint64, a string) error { nodes[id] = a; return nil },
	})
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tree, m.sessions, m.nodes, m.applied = tree, ss, nodes, index
	m.restores++
	return nil
}
