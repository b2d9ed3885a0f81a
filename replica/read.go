package replica

import (
	"context"
	"encoding/binary"
	"log/slog"
	"sync"

	raft "github.com/tickraft/raft"
)

// Consistency chooses what a read waits for.
type Consistency int

const (
	// Linearizable reads reflect every write acknowledged before the read
	// began (a ReadIndex round, or the lease with ReadLeaseBased), on any
	// replica: a follower asks the leader for the read index and waits
	// until it applied up to it.
	Linearizable Consistency = iota
	// Stale reads see whatever this replica has applied, without asking
	// anyone: fast, available in a partition, possibly behind.
	Stale
)

// readWaiter is one caller of ReadIndex.
type readWaiter struct {
	index uint64
	err   error
	done  chan struct{}
}

// readRound is one raft ReadIndex request serving a batch of callers.
type readRound struct {
	id      uint64
	waiters []*readWaiter
	// ticks counts ticks since the request was made; a request older than
	// an election timeout is made again (the message may be lost).
	ticks int
}

// readState batches ReadIndex callers: those that arrive while the raft
// loop is busy share one round.
type readState struct {
	mu      sync.Mutex
	queued  []*readWaiter
	rounds  map[uint64]*readRound
	nextID  uint64
	applied uint64
	// waiting have their read index and wait until it is applied.
	waiting []*readWaiter
}

func (s *readState) init() { s.rounds = map[uint64]*readRound{} }

var noop = func() {}

// ReadIndex waits until this replica has applied everything committed
// before the call (a linearizable read barrier) and returns the read
// index: reading the state machine afterwards is linearizable. Concurrent
// callers share one round of raft messages. It is Read(ctx, Linearizable).
func (r *Replica) ReadIndex(ctx context.Context) (uint64, error) {
	return r.Read(ctx, Linearizable)
}

// Read waits until the state machine may be read with consistency c, and
// returns the index the read reflects at least.
func (r *Replica) Read(ctx context.Context, c Consistency) (uint64, error) {
	select {
	case <-r.stopc:
		return 0, r.stopErr()
	default:
	}
	if c == Stale {
		return r.applied.Load(), nil
	}
	w := &readWaiter{done: make(chan struct{}, 1)}
	r.reads.mu.Lock()
	r.reads.queued = append(r.reads.queued, w)
	r.reads.mu.Unlock()
	r.stats.reads.Add(1)
	r.calls.push(noop) // wakes the raft loop
	select {
	case <-w.done:
		return w.index, w.err
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-r.stopc:
		return 0, r.stopErr()
	}
}

func (w *readWaiter) finish(index uint64, err error) {
	w.index, w.err = index, err
	w.done <- struct{}{}
}

// issue makes one ReadIndex request for the callers queued (raft loop).
func (s *readState) issue(r *Replica) {
	s.mu.Lock()
	if len(s.queued) == 0 {
		s.mu.Unlock()
		return
	}
	s.nextID++
	rd := &readRound{id: s.nextID, waiters: s.queued}
	s.queued = nil
	s.rounds[rd.id] = rd
	s.mu.Unlock()
	r.stats.readRounds.Add(1)
	if err := r.rn.ReadIndex(roundCtx(rd.id)); err != nil {
		// No leader (an election is on, or this node is cut off): the
		// round waits in flight and is asked again once a leader is known
		// (onSoftState), or after a timeout.
		r.logger.Debug("replica read round waits for a leader", slog.Any("error", err))
	}
}

func roundCtx(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

// answered handles a ReadState (raft loop).
func (s *readState) answered(rs raft.ReadState) {
	if len(rs.RequestCtx) != 8 {
		return
	}
	id := binary.BigEndian.Uint64(rs.RequestCtx)
	s.mu.Lock()
	defer s.mu.Unlock()
	rd := s.rounds[id]
	if rd == nil {
		return // answered twice (asked again after a leader change)
	}
	delete(s.rounds, id)
	for _, w := range rd.waiters {
		if rs.Index <= s.applied {
			w.finish(rs.Index, nil)
		} else {
			w.index = rs.Index
			s.waiting = append(s.waiting, w)
		}
	}
}

// advance releases the callers whose read index is applied (apply
// goroutine).
func (s *readState) advance(applied uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applied = applied
	kept := s.waiting[:0]
	for _, w := range s.waiting {
		if w.index <= applied {
			w.finish(w.index, nil)
		} else {
			kept = append(kept, w)
		}
	}
	clear(s.waiting[len(kept):])
	s.waiting = kept
}

// reissue asks again for every round in flight: after a leader change
// the requests may be lost (raft loop; the next issue sends them).
func (s *readState) reissue() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, rd := range s.rounds {
		s.queued = append(s.queued, rd.waiters...)
		delete(s.rounds, id)
	}
}

// tick ages the rounds in flight and asks again for those older than an
// election timeout (raft loop).
func (s *readState) tick(r *Replica) {
	s.mu.Lock()
	for id, rd := range s.rounds {
		rd.ticks++
		if rd.ticks >= 2*r.cfg.ElectionTicks {
			s.queued = append(s.queued, rd.waiters...)
			delete(s.rounds, id)
		}
	}
	s.mu.Unlock()
}

func (s *readState) failAll(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.queued {
		w.finish(0, err)
	}
	for _, rd := range s.rounds {
		for _, w := range rd.waiters {
			w.finish(0, err)
		}
	}
	for _, w := range s.waiting {
		w.finish(0, err)
	}
	s.queued, s.waiting = nil, nil
	s.rounds = map[uint64]*readRound{}
}
