package transport

import (
	"time"
)

// Faults describes how a link misbehaves. The zero value is a perfect link:
// every message arrives at once and in order.
type Faults struct {
	// Drop is the probability that a message is lost. Lost messages are
	// counted as dropped but not reported unreachable (the sender could not
	// know). Lost snapshots fail at once.
	Drop float64
	// Duplicate is the probability that a message arrives twice.
	Duplicate float64
	// Reorder is the probability that a message is held back by up to
	// ReorderWindow and does not hold back the messages sent after it, which
	// may then overtake it.
	Reorder float64
	// ReorderWindow bounds the extra delay of a reordered message (default
	// 5ms, or Jitter if larger).
	ReorderWindow time.Duration
	// Delay is the fixed one-way latency.
	Delay time.Duration
	// Jitter adds a uniformly random latency in [0, Jitter). In-order
	// messages still arrive in order: a message never arrives before the one
	// sent before it on the same link (unless that one was reordered).
	Jitter time.Duration
	// Bandwidth, when positive, makes the link slow: it transmits this many
	// bytes per second, one message after another, so a large message delays
	// the ones behind it.
	Bandwidth int64
}

// SetFaults sets the faults of every link that has none of its own.
func (n *MemNetwork) SetFaults(f Faults) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.faults = f
}

// SetLinkFaults sets the faults of the link from one node to another (one
// direction only), overriding the network's default.
func (n *MemNetwork) SetLinkFaults(from, to uint64, f Faults) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.linkState(link{from, to}).faults = &f
}

// ClearLinkFaults returns the link from one node to another to the network's
// default faults.
func (n *MemNetwork) ClearLinkFaults(from, to uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.linkState(link{from, to}).faults = nil
}

// CutOneWay stops everything sent from one node to another (a one-way
// partition); the other direction keeps working. Senders are told the peer is
// unreachable, as a transport whose connection broke would.
func (n *MemNetwork) CutOneWay(from, to uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[link{from, to}] = true
}

// Cut partitions two nodes from each other in both directions.
func (n *MemNetwork) Cut(a, b uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[link{a, b}] = true
	n.cut[link{b, a}] = true
}

// Partition cuts every link between nodes of different groups. Nodes not in
// any group are not affected.
func (n *MemNetwork) Partition(groups ...[]uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, g := range groups {
		for j, h := range groups {
			if i == j {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					n.cut[link{a, b}] = true
				}
			}
		}
	}
}

// Isolate cuts node id from every other node of the network, both ways.
func (n *MemNetwork) Isolate(id uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for other := range n.endpoints {
		if other != id {
			n.cut[link{id, other}] = true
			n.cut[link{other, id}] = true
		}
	}
}

// Heal removes every cut (the faults set with SetFaults and SetLinkFaults
// stay).
func (n *MemNetwork) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cut)
}

// linkState returns l's state, creating it. Called with n.mu held.
func (n *MemNetwork) linkState(l link) *linkState {
	ls, ok := n.links[l]
	if !ok {
		ls = &linkState{}
		n.links[l] = ls
	}
	return ls
}

// plan for one message: when each copy arrives.
type plan struct {
	cut bool        // the link is cut: nothing arrives, and the sender hears so
	at  []time.Time // arrival time of each copy; empty: lost without a word
	seq uint64      // sequence number of the first copy; copies take the next ones
}

// plan decides the fate of one message of size bytes on link l, drawing from
// the seeded source in a fixed order. Called with n.mu held.
func (n *MemNetwork) plan(l link, size int) plan {
	if n.cut[l] {
		return plan{cut: true}
	}
	ls := n.linkState(l)
	f := n.faults
	if ls.faults != nil {
		f = *ls.faults
	}
	now := time.Now()
	if f == (Faults{}) { // the common case: no draws, so adding faults elsewhere changes no decision here
		n.seq++
		at := now
		if at.Before(ls.lastAt) {
			at = ls.lastAt
		}
		ls.lastAt = at
		return plan{at: []time.Time{at}, seq: n.seq}
	}
	if n.chance(f.Drop) {
		return plan{}
	}
	copies := 1
	if n.chance(f.Duplicate) {
		copies = 2
	}
	p := plan{seq: n.seq + 1}
	n.seq += uint64(copies)
	for range copies {
		p.at = append(p.at, n.arrival(ls, f, now, size))
	}
	return p
}

// arrival computes when one copy sent now arrives. Called with n.mu held.
func (n *MemNetwork) arrival(ls *linkState, f Faults, now time.Time, size int) time.Time {
	sent := now
	if f.Bandwidth > 0 {
		if ls.busyUntil.After(sent) {
			sent = ls.busyUntil
		}
		sent = sent.Add(time.Duration(float64(size) / float64(f.Bandwidth) * float64(time.Second)))
		ls.busyUntil = sent
	}
	at := sent.Add(f.Delay)
	if f.Jitter > 0 {
		at = at.Add(time.Duration(n.rng.Int64N(int64(f.Jitter))))
	}
	if n.chance(f.Reorder) {
		window := max(f.ReorderWindow, f.Jitter)
		if window <= 0 {
			window = 5 * time.Millisecond
		}
		return at.Add(time.Duration(n.rng.Int64N(int64(window))))
	}
	if at.Before(ls.lastAt) {
		at = ls.lastAt
	}
	ls.lastAt = at
	return at
}

// chance draws true with probability p (no draw when p is 0 or 1).
func (n *MemNetwork) chance(p float64) bool {
	switch {
	case p <= 0:
		return false
	case p >= 1:
		return true
	}
	return n.rng.Float64() < p
}
