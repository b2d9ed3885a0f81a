package kv

import (
	"encoding/binary"
	"slices"

	"github.com/tickraft/raft/examples/raftkv/internal/decode"
)

// Session limits. A client that keeps more results unacknowledged loses
// the oldest (a retry of one of those gets SessionStale, never a second
// application); the least recently used sessions beyond MaxSessions are
// evicted (their next command gets SessionExpired).
const (
	DefaultMaxSessions   = 10000
	maxResultsPerSession = 1024
)

// session is one client's deduplication state (Raft thesis §6.3).
type session struct {
	// lastIndex is the log index of the session's latest command; the
	// least recently used session is evicted first. Every log index
	// belongs to at most one session, so the order is total and the same
	// on every replica.
	lastIndex uint64
	// ackBelow: every result with a smaller seq was received by the
	// client (or dropped) and is forgotten; such a seq is never applied.
	ackBelow uint64
	// results holds the result of every applied seq >= ackBelow.
	results map[uint64]Result
}

func newSession(index uint64) *session {
	return &session{lastIndex: index, ackBelow: 1, results: map[uint64]Result{}}
}

// ack forgets the results below seq.
func (s *session) ack(seq uint64) {
	if seq <= s.ackBelow {
		return
	}
	for k := range s.results {
		if k < seq {
			delete(s.results, k)
		}
	}
	s.ackBelow = seq
}

// record keeps a result, dropping the oldest beyond the limit.
func (s *session) record(seq uint64, r Result) {
	s.results[seq] = r
	if len(s.results) <= maxResultsPerSession {
		return
	}
	lowest := seq
	for k := range s.results {
		lowest = min(lowest, k)
	}
	s.ack(lowest + 1)
}

func (s *session) clone() *session {
	c := *s
	c.results = make(map[uint64]Result, len(s.results))
	for k, v := range s.results {
		c.results[k] = v
	}
	return &c
}

// encode appends the session's binary form (the seqs in order, so equal
// sessions encode equally).
func (s *session) encode(b []byte) []byte {
	b = binary.AppendUvarint(b, s.lastIndex)
	b = binary.AppendUvarint(b, s.ackBelow)
	b = binary.AppendUvarint(b, uint64(len(s.results)))
	seqs := make([]uint64, 0, len(s.results))
	for k := range s.results {
		seqs = append(seqs, k)
	}
	slices.Sort(seqs)
	for _, k := range seqs {
		r := s.results[k]
		b = binary.AppendUvarint(b, k)
		b = append(b, byte(r.Code))
		b = binary.AppendUvarint(b, r.Version)
		existed := byte(0)
		if r.Existed {
			existed = 1
		}
		b = append(b, existed)
	}
	return b
}

func decodeSession(b []byte) (*session, error) {
	d := decode.New(b, ErrBadCommand)
	s := &session{lastIndex: d.Uvarint(), ackBelow: d.Uvarint(), results: map[uint64]Result{}}
	n := d.Uvarint()
	for i := uint64(0); i < n && d.Err == nil; i++ {
		seq := d.Uvarint()
		r := Result{Code: Code(d.Byte()), Version: d.Uvarint(), Existed: d.Byte() == 1}
		s.results[seq] = r
	}
	if d.Err == nil && len(d.B) != 0 {
		d.Fail("%d trailing bytes in a session", len(d.B))
	}
	return s, d.Err
}

// sessions is the table of open client sessions. It belongs to the apply
// goroutine; dirty and evicted collect what a persistent state machine
// must write with the batch.
type sessions struct {
	m       map[uint64]*session
	max     int
	dirty   map[uint64]bool
	evicted []uint64
}

func newSessions(max int) sessions {
	if max <= 0 {
		max = DefaultMaxSessions
	}
	return sessions{m: map[uint64]*session{}, max: max, dirty: map[uint64]bool{}}
}

// evict removes the least recently used sessions beyond the limit. It runs
// after each batch (so a batch never sees its own session evicted) and
// only once the table is 10% over, to amortize the sort.
func (ss *sessions) evict() {
	if len(ss.m) <= ss.max+ss.max/10 {
		return
	}
	ids := make([]uint64, 0, len(ss.m))
	for id := range ss.m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b uint64) int {
		x, y := ss.m[a].lastIndex, ss.m[b].lastIndex
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	for _, id := range ids[:len(ids)-ss.max] {
		delete(ss.m, id)
		delete(ss.dirty, id)
		ss.evicted = append(ss.evicted, id)
	}
}

func (ss *sessions) clone() map[uint64]*session {
	c := make(map[uint64]*session, len(ss.m))
	for id, s := range ss.m {
		c[id] = s.clone()
	}
	return c
}
