package transport

import "time"

// Faults describes how a link misbehaves. The zero value is a perfect link.
type Faults struct {
}

// delivery plan for one message: when each copy arrives.
type plan struct {
	cut bool        // the link is cut: nothing arrives, and the sender hears so
	at  []time.Time // arrival time of each copy; empty: lost without a word
	seq uint64      // sequence number of the first copy
}

// plan decides the fate of one message of size bytes on link l. Called with
// n.mu held.
func (n *MemNetwork) plan(l link, size int) plan {
	n.seq++
	return plan{at: []time.Time{time.Now()}, seq: n.seq}
}
