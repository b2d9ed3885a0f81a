package replica

import (
	"sync/atomic"
	"testing"
	"time"

	raft "github.com/tickraft/raft"
)

// pausableClock is the cluster's manual clock as one node sees it, able to
// tell time: the manual clock's ticks so far plus a jump standing for a
// pause of this node's process, during which its ticker fired no more.
type pausableClock struct {
	*ManualClock
	d    time.Duration
	jump atomic.Int64 // nanoseconds
}

func (c *pausableClock) now() time.Time {
	return time.Unix(0, c.fired.Load()*int64(c.d)+c.jump.Load())
}

// A leader that resumes after a pause of several election timeouts counts
// the ticks it missed before it steps anything: its lease is over, and
// check-quorum finds nobody heard from since, so it steps down rather than
// answering a lease read while another leader may be taking writes. A Go
// ticker delivers one tick for the whole pause; counting fires alone would
// leave the old leader serving stale reads (the chaos runner's pause fault
// with lease reads found exactly that).
func TestPausedLeaderCatchesUpOnMissedTicks(t *testing.T) {
	clocks := map[uint64]*pausableClock{}
	var shared *ManualClock
	c := newCluster(t, 3, func(cfg *Config) {
		cfg.ReadMode = ReadLeaseBased
		if shared == nil {
			shared = cfg.Clock.(*ManualClock)
		}
		pc := &pausableClock{ManualClock: shared, d: cfg.TickInterval}
		clocks[cfg.ID] = pc
		cfg.Clock = pc
	})
	ctx := ctxT(t)
	c.propose(ctx, "before-the-pause")
	l := c.leader()
	if _, err := l.r.Read(ctx, Linearizable); err != nil {
		t.Fatalf("a lease read before the pause: %v", err)
	}
	// Freeze the cluster's clock: from here only the jump moves time.
	close(c.stopTicks)
	c.tickWG.Wait()
	c.stopTicks = nil

	state := func() raft.StateType {
		var st raft.StateType
		if err := l.r.call(ctx, func() { st = l.r.rn.BasicStatus().RaftState }); err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := state(); st != raft.StateLeader {
		t.Fatalf("without a pause node %d is %v, want the leader still", l.id, st)
	}
	et := time.Duration(l.r.cfg.ElectionTicks) * l.r.cfg.TickInterval
	clocks[l.id].jump.Add(int64(3 * et))
	if st := state(); st == raft.StateLeader {
		t.Fatalf("node %d resumed after 3 election timeouts and is still the leader: it did not count the ticks it missed", l.id)
	}
}

// Without a clock that tells time (a ManualClock), each fire is one tick.
func TestTickSourceCountsElapsedTime(t *testing.T) {
	var now time.Time
	s := &tickSource{now: func() time.Time { return now }, interval: 10 * time.Millisecond, max: 30}
	s.last = now
	if s.fired() != 0 || s.owed() != 0 {
		t.Fatal("ticks owed before any time passed")
	}
	now = now.Add(25 * time.Millisecond)
	if n := s.owed(); n != 2 {
		t.Fatalf("25ms at 10ms a tick: %d ticks, want 2", n)
	}
	now = now.Add(5 * time.Millisecond) // the 5ms left over make a third
	if n := s.owed(); n != 1 {
		t.Fatalf("after 30ms: %d more ticks, want 1", n)
	}
	now = now.Add(time.Hour)
	if n := s.owed(); n != 30 {
		t.Fatalf("after an hour: %d ticks, want the cap of 30", n)
	}
	if n := s.owed(); n != 0 {
		t.Fatalf("the capped ticks came back: %d", n)
	}
	m := newTickSource(NewManualClock(), time.Millisecond, 30)
	if m.fired() != 1 || m.owed() != 0 {
		t.Fatal("a manual clock's fire is not exactly one tick")
	}
}
