package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/tickraft/raft/replica"
)

// Key layout in pebble: one byte of kind, then
//
//	'a'              the applied index (8 bytes BE), written in every batch
//	'd' + user key   uvarint version, value
//	's' + id (BE)    a client session
//	'n' + id (BE)    a node's API address
const (
	kindApplied = 'a'
	kindData    = 'd'
	kindSession = 's'
	kindNode    = 'n'
)

var appliedKey = []byte{kindApplied}

// Pebble is the persistent state machine. Every Apply is one pebble batch
// holding the commands' writes, the sessions they changed and the applied
// index, so after a crash the data and the applied index agree and the
// replica hands it only the commands after. Batches are committed without
// fsync: the raft log is durable, and a batch lost in a machine crash is
// applied again from it (or, if the log was compacted past it, the replica
// restores the newer snapshot because AppliedIndex is behind).
//
// The database lives in a subdirectory of dir named by the file CURRENT; a
// restore builds a new subdirectory, points CURRENT at it (atomically) and
// removes the old one.
type Pebble struct {
	dir    string
	logger *slog.Logger
	opts   PebbleOptions

	// mu guards db against the swap in Restore: readers and Apply hold it
	// shared, Restore exclusively.
	mu   sync.RWMutex
	db   *pebble.DB
	name string // the subdirectory in use
	// sessions belongs to the apply goroutine (Apply, Restore).
	sessions sessions

	// statsMu guards what readers see of the applied state; nodes is
	// replaced, never modified, once published.
	statsMu   sync.Mutex
	nodes     map[uint64]string
	applied   uint64
	commands  uint64
	restores  uint64
	nsessions int
}

// PebbleOptions configure the pebble state machine.
type PebbleOptions struct {
	MaxSessions int
	Logger      *slog.Logger
	// Tune, when set, adjusts pebble's options before each Open (tests
	// inject a fault-injecting pebble vfs.FS here).
	Tune func(*pebble.Options)
}

var _ StateMachine = (*Pebble)(nil)

// OpenPebble opens (or creates) the state machine in dir.
func OpenPebble(dir string, o PebbleOptions) (*Pebble, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Pebble{dir: dir, logger: o.Logger, opts: o, sessions: newSessions(o.MaxSessions), nodes: map[uint64]string{}}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	name, err := os.ReadFile(filepath.Join(dir, "CURRENT"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		name = []byte("db-000001")
		if err := p.setCurrent(string(name)); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	}
	p.name = strings.TrimSpace(string(name))
	if err := p.removeOthers(); err != nil {
		return nil, err
	}
	if p.db, err = p.open(p.name); err != nil {
		return nil, err
	}
	if err := p.load(); err != nil {
		p.db.Close()
		return nil, err
	}
	return p, nil
}

func (p *Pebble) open(name string) (*pebble.DB, error) {
	opts := &pebble.Options{Logger: pebbleLogger{p.logger}}
	if p.opts.Tune != nil {
		p.opts.Tune(opts)
	}
	db, err := pebble.Open(filepath.Join(p.dir, name), opts)
	if err != nil {
		return nil, fmt.Errorf("kv: opening pebble in %s: %w", name, err)
	}
	return db, nil
}

// removeOthers deletes database directories other than the current one
// (left by a restore that was interrupted, or finished before the old
// directory was removed).
func (p *Pebble) removeOthers() error {
	ents, err := os.ReadDir(p.dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), "db-") && e.Name() != p.name {
			if err := os.RemoveAll(filepath.Join(p.dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// setCurrent points CURRENT at name durably: a temporary file, synced,
// renamed over it, and the directory synced.
func (p *Pebble) setCurrent(name string) error {
	tmp := filepath.Join(p.dir, "CURRENT.tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.WriteString(name + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(p.dir, "CURRENT"))
	}
	if err == nil {
		err = syncDir(p.dir)
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// load reads the applied index, sessions and nodes into memory.
func (p *Pebble) load() error {
	v, c, err := p.db.Get(appliedKey)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return err
	default:
		if len(v) != 8 {
			c.Close()
			return fmt.Errorf("kv: applied index of %d bytes", len(v))
		}
		p.applied = binary.BigEndian.Uint64(v)
		c.Close()
	}
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindNode}, UpperBound: []byte{kindSession + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) != 9 {
			continue
		}
		id := binary.BigEndian.Uint64(k[1:])
		switch k[0] {
		case kindNode:
			p.nodes[id] = string(it.Value())
		case kindSession:
			s, err := decodeSession(it.Value())
			if err != nil {
				return fmt.Errorf("kv: session %d: %w", id, err)
			}
			p.sessions.m[id] = s
		}
	}
	p.nsessions = len(p.sessions.m)
	return it.Error()
}

func idKey(kind byte, id uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{kind}, id)
}

func dataKey(key []byte) []byte { return append([]byte{kindData}, key...) }

func encodeValue(value []byte, version uint64) []byte {
	return append(binary.AppendUvarint(make([]byte, 0, len(value)+10), version), value...)
}

func decodeValue(b []byte) ([]byte, uint64, error) {
	ver, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, 0, errors.New("kv: corrupt value (version)")
	}
	return b[n:], ver, nil
}

// batchStore is the store view of one Apply's indexed batch.
type batchStore struct {
	b *pebble.Batch
	// nodes is copied on the first setNode of the batch (readers hold the
	// published map).
	nodes  *map[uint64]string
	copied *bool
}

func (s batchStore) get(key []byte) ([]byte, uint64, bool, error) {
	v, c, err := s.b.Get(dataKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, err
	}
	defer c.Close()
	val, ver, err := decodeValue(v)
	return append([]byte(nil), val...), ver, err == nil, err
}

func (s batchStore) put(key, value []byte, version uint64) error {
	return s.b.Set(dataKey(key), encodeValue(value, version), nil)
}

func (s batchStore) del(key []byte) error { return s.b.Delete(dataKey(key), nil) }

func (s batchStore) setNode(id uint64, addr string) error {
	if !*s.copied {
		*s.nodes, *s.copied = copyNodes(*s.nodes), true
	}
	(*s.nodes)[id] = addr
	return s.b.Set(idKey(kindNode, id), []byte(addr), nil)
}

// Apply implements replica.StateMachine: one batch per call.
func (p *Pebble) Apply(cmds []replica.Command, results []any) error {
	if len(cmds) == 0 {
		return nil
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	b := p.db.NewIndexedBatch()
	defer b.Close()
	nodes, copied := p.nodes, false
	if err := applyBatch(batchStore{b: b, nodes: &nodes, copied: &copied}, &p.sessions, cmds, results); err != nil {
		return err
	}
	for id := range p.sessions.dirty {
		if err := b.Set(idKey(kindSession, id), p.sessions.m[id].encode(nil), nil); err != nil {
			return err
		}
	}
	for _, id := range p.sessions.evicted {
		if err := b.Delete(idKey(kindSession, id), nil); err != nil {
			return err
		}
	}
	clear(p.sessions.dirty)
	p.sessions.evicted = p.sessions.evicted[:0]
	last := cmds[len(cmds)-1].Index
	if err := b.Set(appliedKey, binary.BigEndian.AppendUint64(nil, last), nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("kv: committing applied batch: %w", err)
	}
	p.setApplied(last, len(cmds), nodes)
	return nil
}

// setApplied publishes what Apply changed to readers (nodes is copied on
// write because readers take it without the apply goroutine).
func (p *Pebble) setApplied(last uint64, n int, nodes map[uint64]string) {
	p.statsMu.Lock()
	p.applied, p.nodes = last, nodes
	p.commands += uint64(n)
	p.nsessions = len(p.sessions.m)
	p.statsMu.Unlock()
}

// AppliedIndex implements replica.StateMachine.
func (p *Pebble) AppliedIndex() uint64 {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	return p.applied
}

// Get implements StateMachine.
func (p *Pebble) Get(key []byte) (KV, bool, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	v, c, err := p.db.Get(dataKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return KV{Key: key}, false, nil
	}
	if err != nil {
		return KV{}, false, err
	}
	defer c.Close()
	val, ver, err := decodeValue(v)
	return KV{Key: key, Value: append([]byte(nil), val...), Version: ver}, err == nil, err
}

// Scan implements StateMachine.
func (p *Pebble) Scan(start, end []byte, limit int) ([]KV, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	hi := []byte{kindData + 1}
	if end != nil {
		hi = dataKey(end)
	}
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: dataKey(start), UpperBound: hi})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []KV
	for it.First(); it.Valid() && (limit <= 0 || len(out) < limit); it.Next() {
		val, ver, err := decodeValue(it.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, KV{Key: append([]byte(nil), it.Key()[1:]...), Value: append([]byte(nil), val...), Version: ver})
	}
	return out, it.Error()
}

// Nodes implements StateMachine.
func (p *Pebble) Nodes() map[uint64]string {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	return copyNodes(p.nodes)
}

// Stats implements StateMachine.
func (p *Pebble) Stats() Stats {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	return Stats{Keys: -1, Sessions: p.nsessions, Applied: p.applied, Commands: p.commands, Restores: p.restores}
}

// DiskUsage returns the database's size on disk in bytes.
func (p *Pebble) DiskUsage() uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.db.Metrics().DiskSpaceUsage()
}

// Close implements StateMachine (flushing what was applied).
func (p *Pebble) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.db == nil {
		return nil
	}
	err := p.db.Close()
	p.db = nil
	return err
}

// Snapshot implements replica.StateMachine with a pebble snapshot (a
// consistent view that costs nothing to take).
func (p *Pebble) Snapshot() (replica.Snapshot, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return &pebbleSnapshot{snap: p.db.NewSnapshot()}, nil
}

type pebbleSnapshot struct{ snap *pebble.Snapshot }

func (s *pebbleSnapshot) WriteTo(w io.Writer) (int64, error) {
	sw := newSnapWriter(w)
	it, err := s.snap.NewIter(nil)
	if err != nil {
		return 0, err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		switch k[0] {
		case kindData:
			val, ver, err := decodeValue(it.Value())
			if err == nil {
				err = sw.key(k[1:], val, ver)
			}
			if err != nil {
				return sw.n, err
			}
		case kindSession:
			s, err := decodeSession(it.Value())
			if err == nil {
				err = sw.session(binary.BigEndian.Uint64(k[1:]), s)
			}
			if err != nil {
				return sw.n, err
			}
		case kindNode:
			if err := sw.node(binary.BigEndian.Uint64(k[1:]), string(it.Value())); err != nil {
				return sw.n, err
			}
		}
	}
	if err := it.Error(); err != nil {
		return sw.n, err
	}
	return sw.finish()
}

func (s *pebbleSnapshot) Release() {
	if s.snap != nil {
		s.snap.Close()
		s.snap = nil
	}
}

// Restore implements replica.StateMachine: the snapshot is loaded into a
// new database directory, synced, made current, and swapped in; the old
// directory is then removed. A failure leaves the current database as it
// was.
func (p *Pebble) Restore(r io.Reader, index uint64) error {
	name := nextName(p.name)
	_ = os.RemoveAll(filepath.Join(p.dir, name))
	db, err := p.open(name)
	if err != nil {
		return err
	}
	fresh := &Pebble{dir: p.dir, logger: p.logger, opts: p.opts, db: db, name: name, sessions: newSessions(p.sessions.max), nodes: map[uint64]string{}}
	if err := fresh.fill(r, index); err != nil {
		db.Close()
		_ = os.RemoveAll(filepath.Join(p.dir, name))
		return err
	}
	if err := p.setCurrent(name); err != nil {
		db.Close()
		return err
	}
	p.mu.Lock()
	old, oldName := p.db, p.name
	p.db, p.name, p.sessions = db, name, fresh.sessions
	p.mu.Unlock()
	p.statsMu.Lock()
	p.nodes, p.applied = fresh.nodes, index
	p.nsessions = len(fresh.sessions.m)
	p.restores++
	p.statsMu.Unlock()
	if err := old.Close(); err != nil {
		p.logger.Warn("closing the replaced pebble database", slog.Any("error", err))
	}
	return os.RemoveAll(filepath.Join(p.dir, oldName))
}

// fill loads a snapshot stream into an empty database, then writes the
// applied index and syncs.
func (p *Pebble) fill(r io.Reader, index uint64) error {
	b := p.db.NewBatch()
	flush := func(force bool) error {
		if !force && b.Len() < 4<<20 {
			return nil
		}
		err := b.Commit(pebble.NoSync)
		b.Close()
		b = p.db.NewBatch()
		return err
	}
	err := readSnapshot(r, snapHandler{
		key: func(k, v []byte, ver uint64) error {
			if err := b.Set(dataKey(k), encodeValue(v, ver), nil); err != nil {
				return err
			}
			return flush(false)
		},
		session: func(id uint64, s *session) error {
			p.sessions.m[id] = s
			return b.Set(idKey(kindSession, id), s.encode(nil), nil)
		},
		node: func(id uint64, a string) error {
			p.nodes[id] = a
			return b.Set(idKey(kindNode, id), []byte(a), nil)
		},
	})
	if err != nil {
		b.Close()
		return err
	}
	if err := b.Set(appliedKey, binary.BigEndian.AppendUint64(nil, index), nil); err != nil {
		b.Close()
		return err
	}
	err = b.Commit(pebble.Sync)
	b.Close()
	return err
}

func nextName(name string) string {
	var n int
	fmt.Sscanf(name, "db-%d", &n)
	return fmt.Sprintf("db-%06d", n+1)
}

// pebbleLogger sends pebble's logs to slog.
type pebbleLogger struct{ l *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.l.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.l.Error("pebble: " + fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.l.Error("pebble fatal: " + fmt.Sprintf(format, args...))
	os.Exit(1)
}
