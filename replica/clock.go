package replica

import (
	"sync"
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

// ManualClock is a Clock whose tickers fire only when Tick is called.
type ManualClock struct {
	mu      sync.Mutex
	tickers map[*manualTicker]struct{}
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
