package kv

import (
	"maps"

	"github.com/tickraft/raft/replica"
)

// StateMachine is a raftkv state machine: the replica applies commands to
// it; the server reads it (after a read barrier) concurrently with applies.
type StateMachine interface {
	replica.StateMachine
	// Get returns a key's value and version.
	Get(key []byte) (KV, bool, error)
	// Scan returns up to limit keys in [start, end) in order (end nil: no
	// upper bound).
	Scan(start, end []byte, limit int) ([]KV, error)
	// Nodes returns the API addresses the cluster recorded, by node ID.
	Nodes() map[uint64]string
	// Stats returns sizes for metrics.
	Stats() Stats
	// Close releases the state machine's resources.
	Close() error
}

// Stats are a state machine's gauges and counters.
type Stats struct {
	Keys     int    // number of keys (pebble: not tracked, -1)
	Sessions int    // open client sessions
	Applied  uint64 // last applied log index
	Commands uint64 // commands applied since start
	Restores uint64 // snapshots restored since start
}

// PrefixEnd returns the smallest key greater than every key with the
// prefix (nil when there is none: the prefix is all 0xff).
func PrefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

func copyNodes(m map[uint64]string) map[uint64]string { return maps.Clone(m) }
