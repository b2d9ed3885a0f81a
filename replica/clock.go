package replica

import (
	"sync"
	"sync/atomic"
	"time"
)

// Clock makes the tickers that drive a replica's raft clock. Tests use a
// ManualClock to tick deterministically.
type Clock interface {
	// NewTicker returns a channel that receives a value every d, and a
	// function that stops it.
	NewTicker(d time.Duration) (c <-chan time.Time, stop func())
}

type realClock struct{}

func (realClock) NewTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

func (realClock) now() time.Time { return time.Now() }

// timeReader is a Clock that can also tell the time. The replica then counts
// ticks from elapsed time and uses its ticker only to wake up.
type timeReader interface{ now() time.Time }

// tickSource turns the ticker's wake-ups into raft ticks. With a clock that
// reads time (the real one), ticks follow elapsed time: a Go ticker drops
// the ticks a paused process missed (SIGSTOP, a frozen VM, a long stall),
// and a leader that counted one tick for a pause of several election
// timeouts would go on answering reads from a lease that the other voters
// stopped honoring long ago. The lease still assumes that no pause falls
// between reading the clock and answering a read (see ReadLeaseBased).
type tickSource struct {
	now      func() time.Time // nil: one tick per ticker fire
	interval time.Duration
	last     time.Time // ticks are delivered up to here
	max      int       // most ticks delivered at once; more change nothing
}

func newTickSource(c Clock, interval time.Duration, max int) *tickSource {
	s := &tickSource{interval: interval, max: max}
	if tr, ok := c.(timeReader); ok {
		s.now = tr.now
		s.last = s.now()
	}
	return s
}

// fired is the number of ticks a ticker fire is worth by itself.
func (s *tickSource) fired() int {
	if s.now == nil {
		return 1
	}
	return 0 // owed counts it
}

// owed is the number of ticks elapsed time adds since the last call.
func (s *tickSource) owed() int {
	if s.now == nil {
		return 0
	}
	n := s.now().Sub(s.last) / s.interval
	if n <= 0 {
		return 0
	}
	s.last = s.last.Add(n * s.interval)
	return int(min(n, time.Duration(s.max)))
}

// ManualClock is a Clock whose tickers fire only when Tick is called.
type ManualClock struct {
	mu      sync.Mutex
	tickers map[*manualTicker]struct{}
	fired   atomic.Int64 // Tick calls, for test clocks that tell time from them
}

type manualTicker struct {
	c    chan time.Time
	done chan struct{}
}

// NewManualClock returns a clock with no tickers yet.
func NewManualClock() *ManualClock {
	return &ManualClock{tickers: map[*manualTicker]struct{}{}}
}

// NewTicker implements Clock; d is ignored.
func (c *ManualClock) NewTicker(time.Duration) (<-chan time.Time, func()) {
	t := &manualTicker{c: make(chan time.Time), done: make(chan struct{})}
	c.mu.Lock()
	c.tickers[t] = struct{}{}
	c.mu.Unlock()
	var once sync.Once
	return t.c, func() {
		once.Do(func() {
			c.mu.Lock()
			delete(c.tickers, t)
			c.mu.Unlock()
			close(t.done)
		})
	}
}

// Tick fires every live ticker once and returns when each replica has
// received its tick (or stopped).
func (c *ManualClock) Tick() {
	c.fired.Add(1)
	c.mu.Lock()
	ts := make([]*manualTicker, 0, len(c.tickers))
	for t := range c.tickers {
		ts = append(ts, t)
	}
	c.mu.Unlock()
	now := time.Now()
	for _, t := range ts {
		select {
		case t.c <- now:
		case <-t.done:
		}
	}
}
