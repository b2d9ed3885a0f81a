package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// kvNode is one member of the cluster as an application embeds it: a
// RawNode, the MemoryStorage that stands in for its disk, and the state
// machine the log drives, a tiny key-value store.
type kvNode struct {
	id      uint64
	rn      *raft.RawNode
	storage *raft.MemoryStorage

	// kv is the state machine. It reflects exactly the entries up to
	// applied: the application must know this index to take snapshots and,
	// after a restart, to tell the node where it stands (Config.Applied).
	kv      map[string]string
	applied uint64
	// conf is the configuration as of applied, as returned by
	// ApplyConfChange or carried by a snapshot. It goes into every snapshot
	// the application takes.
	conf *pb.ConfState

	// readStates collects the answers to ReadIndex requests made here.
	readStates []raft.ReadState
}

// newKVNode creates a node with empty storage. Founding members then call
// Bootstrap; a node that joins later does not: the leader sends it the log
// (or a snapshot) once a configuration change adds it.
func newKVNode(id, seed uint64) (*kvNode, error) {
	storage := raft.NewMemoryStorage()
	rn, err := raft.NewRawNode(&raft.Config{
		ID:            id,
		Storage:       storage,
		ElectionTick:  10, // a follower campaigns after 10 to 19 ticks of silence
		HeartbeatTick: 1,  // a leader sends heartbeats on every tick
		// Elections draw their randomized timeouts from this seed (mixed
		// with the ID, so nodes differ), so every run with the same seed is
		// identical.
		Seed: seed,
		// PreVote keeps a node that was cut off from bumping the term and
		// disrupting the cluster when it returns. CheckQuorum is left off on
		// purpose so that an isolated leader keeps believing it leads, which
		// is the situation stage 3 wants to show; with it on, the isolated
		// leader would step down by itself after an election timeout.
		PreVote: true,
	})
	if err != nil {
		return nil, err
	}
	return &kvNode{id: id, rn: rn, storage: storage, kv: map[string]string{}, conf: &pb.ConfState{}}, nil
}

// persist carries out step 1 of a Ready: make the snapshot, the entries and
// the hard state durable. With MemoryStorage "durable" means stored in
// memory; a real application writes and fsyncs (when rd.MustSync) here.
//
// It returns the entries the new ones replace: a follower's uncommitted
// tail that the leader overwrote. Only the demo's narrative needs them.
func (n *kvNode) persist(rd *raft.Ready) (replaced []*pb.Entry, err error) {
	if rd.Snapshot != nil && !pb.IsEmptySnap(rd.Snapshot) {
		if err := n.storage.ApplySnapshot(rd.Snapshot); err != nil {
			return nil, fmt.Errorf("node %d: saving snapshot: %w", n.id, err)
		}
	}
	if len(rd.Entries) > 0 {
		replaced = n.overwritten(rd.Entries)
		if err := n.storage.Append(rd.Entries); err != nil {
			return nil, fmt.Errorf("node %d: appending entries: %w", n.id, err)
		}
	}
	if rd.HardState != nil {
		if err := n.storage.SetHardState(rd.HardState); err != nil {
			return nil, fmt.Errorf("node %d: saving hard state: %w", n.id, err)
		}
	}
	return replaced, nil
}

// overwritten returns the stored entries that ents will replace: those at
// the same index with a different term.
func (n *kvNode) overwritten(ents []*pb.Entry) []*pb.Entry {
	first, _ := n.storage.FirstIndex()
	last, _ := n.storage.LastIndex()
	lo := max(ents[0].Index, first)
	if lo > last {
		return nil
	}
	old, err := n.storage.Entries(lo, last+1, ^uint64(0))
	if err != nil {
		return nil
	}
	var replaced []*pb.Entry
	for _, o := range old {
		if k := o.Index - ents[0].Index; k >= uint64(len(ents)) || ents[k].Term != o.Term {
			replaced = append(replaced, o)
		}
	}
	return replaced
}

// restore replaces the state machine with a snapshot's contents (step 3 of
// a Ready, before the committed entries).
func (n *kvNode) restore(snap *pb.Snapshot) error {
	kv := map[string]string{}
	if err := json.Unmarshal(snap.Data, &kv); err != nil {
		return fmt.Errorf("node %d: decoding snapshot: %w", n.id, err)
	}
	n.kv = kv
	n.applied = snap.Metadata.Index
	n.conf = snap.Metadata.ConfState
	return nil
}

// applyEntry applies one committed entry (step 3 of a Ready). A normal
// entry is a "put key=value" command; a configuration change entry is
// decoded and handed back to the node with ApplyConfChange, whose result
// is the configuration the application keeps. It returns the change when
// the entry held one, for the narrative.
func (n *kvNode) applyEntry(e *pb.Entry) (change pb.ConfChangeI, err error) {
	switch e.Type {
	case pb.EntryNormal:
		if len(e.Data) > 0 { // a new leader's first entry is empty
			k, v, err := parsePut(e.Data)
			if err != nil {
				return nil, fmt.Errorf("node %d: entry %d: %w", n.id, e.Index, err)
			}
			n.kv[k] = v
		}
	case pb.EntryConfChange, pb.EntryConfChangeV2:
		cc, err := pb.UnmarshalConfChange(e)
		if err != nil {
			return nil, fmt.Errorf("node %d: entry %d: %w", n.id, e.Index, err)
		}
		cs, err := n.rn.ApplyConfChange(cc)
		if err != nil {
			// Every node refuses the same entries, so a real application
			// may log this and go on; for the demo it is a failure.
			return nil, fmt.Errorf("node %d: entry %d: %w", n.id, e.Index, err)
		}
		n.conf = cs
		change = cc
	}
	n.applied = e.Index
	return change, nil
}

// snapshotData encodes the state machine for a snapshot. encoding/json
// writes map keys in sorted order, so equal stores give equal bytes.
func (n *kvNode) snapshotData() ([]byte, error) {
	return json.Marshal(n.kv)
}

// put encodes a write as the data of a log entry.
func put(key, value string) []byte {
	return []byte("put " + key + "=" + value)
}

func parsePut(data []byte) (key, value string, err error) {
	cmd, ok := strings.CutPrefix(string(data), "put ")
	if ok {
		key, value, ok = strings.Cut(cmd, "=")
	}
	if !ok {
		return "", "", fmt.Errorf("not a put command: %q", data)
	}
	return key, value, nil
}

// describeKV prints the store as {a=1 b=2}, keys sorted.
func describeKV(kv map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		parts = append(parts, k+"="+kv[k])
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// digest is a short fingerprint of the store, to compare nodes at a glance.
func digest(kv map[string]string) string {
	sum := sha256.Sum256([]byte(describeKV(kv)))
	return hex.EncodeToString(sum[:4])
}
