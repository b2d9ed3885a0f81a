package driver

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// DefaultCompactEvery is how many applied entries pass between two
// snapshots of a node's log.
const DefaultCompactEvery = 10_000

// replica is one node's application: it carries out the node's Readies
// (persist, send, apply to a key-value map, advance) and compacts the log.
// It is the code both the cluster loop and the single-node loop run.
type replica struct {
	id uint64
	rn Node
	rd Ready

	// lead and leader are the node's view of the leadership, from the
	// latest SoftState.
	lead   uint64
	leader bool

	// kv is the state machine. Its keys and values are strings viewing
	// the committed entries' payloads (see apply).
	kv map[string]string

	applied      uint64
	snapIndex    uint64
	compactEvery uint64

	// send delivers a Ready's messages to their nodes.
	send func(msgs []Message)
	// softState, when set, is told of leadership changes.
	softState func(lead uint64, leader bool)
	// done, when set, is told of every put applied while this node leads.
	done func(id uint64)

	appliedIdx  atomic.Uint64 // applied, published for other goroutines
	compactions atomic.Uint64
	// snapshots counts snapshots received from a leader. The benchmark's
	// snapshots do not carry the key-value map (see maybeCompact), so a
	// node that received one has an incomplete map; the log keeps enough
	// entries that it should not happen.
	snapshots atomic.Uint64
}

func newReplica(rn Node, id, compactEvery uint64) replica {
	if compactEvery == 0 {
		compactEvery = DefaultCompactEvery
	}
	return replica{
		id:           id,
		rn:           rn,
		kv:           make(map[string]string),
		compactEvery: compactEvery,
	}
}

// handleReady takes one Ready from the node and carries it out.
func (r *replica) handleReady() error {
	rd := &r.rd
	r.rn.Ready(rd)
	if rd.SoftState {
		r.lead, r.leader = rd.Lead, rd.Leader
		if r.softState != nil {
			r.softState(rd.Lead, rd.Leader)
		}
	}
	// The storage is in memory, so persisting before sending costs the
	// leader nothing it could gain by sending first.
	if err := r.rn.Persist(); err != nil {
		return fmt.Errorf("node %d: persist: %w", r.id, err)
	}
	if len(rd.Messages) > 0 {
		r.send(rd.Messages)
	}
	if rd.SnapshotIndex != 0 {
		r.snapshots.Add(1)
		r.applied, r.snapIndex = rd.SnapshotIndex, rd.SnapshotIndex
	}
	for i := range rd.Committed {
		if err := r.apply(&rd.Committed[i]); err != nil {
			return err
		}
	}
	r.appliedIdx.Store(r.applied)
	if err := r.rn.Advance(); err != nil {
		return fmt.Errorf("node %d: advance: %w", r.id, err)
	}
	return r.maybeCompact()
}

func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (r *replica) apply(e *Entry) error {
	if e.Index <= r.applied {
		return nil
	}
	switch e.Kind {
	case EntryNormal:
		if len(e.Data) == 0 {
			break // a new leader's empty entry
		}
		id, key, value, err := decodePut(e.Data)
		if err != nil {
			return fmt.Errorf("node %d: entry %d: %w", r.id, e.Index, err)
		}
		// Both libraries forbid modifying an entry once it is handed
		// over, so the map may view the payload instead of copying it:
		// one map assignment and no allocation per put, so the state
		// machine does not crowd the libraries out of the profile.
		r.kv[unsafeString(key)] = unsafeString(value)
		if r.leader && r.done != nil {
			r.done(id)
		}
	case EntryConfChange, EntryConfChangeV2:
		if err := r.rn.ApplyConfChange(*e); err != nil {
			return fmt.Errorf("node %d: conf change at %d: %w", r.id, e.Index, err)
		}
	}
	r.applied = e.Index
	return nil
}

// maybeCompact snapshots the log every compactEvery applied entries and
// discards the entries older than compactEvery/2 before the snapshot: like
// an etcd server's catch-up entries, they let a follower that lags a little
// catch up from the log rather than from a snapshot. The log so holds
// between compactEvery/2 and 1.5*compactEvery entries.
//
// The snapshot's data is only the applied index: serializing the map at
// every snapshot would dominate the 1 KiB workloads and measure the
// harness, not the library.
func (r *replica) maybeCompact() error {
	if r.applied < r.snapIndex+r.compactEvery {
		return nil
	}
	var compactIndex uint64
	if keep := r.compactEvery / 2; r.applied > keep && r.applied-keep >= r.rn.FirstIndex() {
		compactIndex = r.applied - keep
	}
	data := binary.BigEndian.AppendUint64(nil, r.applied)
	if err := r.rn.Snapshot(r.applied, compactIndex, data); err != nil {
		return fmt.Errorf("node %d: snapshot at %d: %w", r.id, r.applied, err)
	}
	r.snapIndex = r.applied
	if compactIndex != 0 {
		r.compactions.Add(1)
	}
	return nil
}
