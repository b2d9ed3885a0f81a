package rafttest

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/datadriven"
	"google.golang.org/protobuf/proto"

	raft "github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// handleProcessReady handles one Ready of each node given (of every node
// with one when none is given). Example:
//
//	process-ready 1 2
//
// prints each Ready, then what applying it did. A node without a Ready
// prints nothing.
func (env *InteractionEnv) handleProcessReady(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d)
	for _, id := range env.nodeIDs(t, d, true) {
		if err := env.ProcessReady(id); err != nil {
			return err
		}
	}
	return nil
}

// ProcessReady takes a node's Ready, if it has one, and handles it as an
// application would. In synchronous mode: persist the snapshot, entries
// and hard state; send the messages; apply the snapshot and the committed
// entries; call Advance. In AsyncStorageWrites mode: send the messages
// for other nodes and queue those for the local append and apply threads.
func (env *InteractionEnv) ProcessReady(id uint64) error {
	nd, err := env.node(id)
	if err != nil {
		return err
	}
	if !nd.HasReady() {
		return nil
	}
	rd := nd.Ready()
	if readyIsEmpty(rd) {
		// The library promises HasReady is true only when there is work.
		return fmt.Errorf("node %d: HasReady was true for an empty Ready", id)
	}
	sync := ""
	if rd.MustSync {
		sync = " (MustSync)"
	}
	env.printf("> %d handling Ready%s\n%s", id, sync, describeReady(rd))

	if nd.Config.AsyncStorageWrites {
		for _, m := range rd.Messages {
			switch m.To {
			case raft.LocalAppendThread:
				nd.AppendWork = append(nd.AppendWork, m)
			case raft.LocalApplyThread:
				nd.ApplyWork = append(nd.ApplyWork, m)
			default:
				env.send(m)
			}
		}
		return nil
	}

	if err := env.persist(nd, rd.Snapshot, rd.Entries, rd.HardState); err != nil {
		return err
	}
	env.send(rd.Messages...)
	env.applyEntries(nd, rd.CommittedEntries)
	if err := nd.Advance(rd); err != nil {
		env.printf("  Advance: error: %v\n", err)
	}
	return nil
}

// readyIsEmpty reports whether a Ready holds no work at all.
func readyIsEmpty(rd raft.Ready) bool {
	return rd.SoftState == nil && rd.HardState == nil && len(rd.ReadStates) == 0 && len(rd.Entries) == 0 &&
		rd.Snapshot == nil && len(rd.CommittedEntries) == 0 && len(rd.Messages) == 0
}

// persist writes to a node's storage, in the order the contract requires:
// snapshot, entries, hard state. A snapshot is applied to the state
// machine at once (it replaces the state).
func (env *InteractionEnv) persist(nd *Node, snap *pb.Snapshot, ents []*pb.Entry, hs *pb.HardState) error {
	if snap != nil {
		if err := nd.Storage.ApplySnapshot(snap); err != nil {
			return fmt.Errorf("rafttest: persisting the snapshot: %w", err)
		}
		if err := nd.sm.restore(snap); err != nil {
			return err
		}
	}
	if err := nd.Storage.Append(ents); err != nil {
		return fmt.Errorf("rafttest: persisting entries: %w", err)
	}
	if hs != nil {
		if err := nd.Storage.SetHardState(hs); err != nil {
			return fmt.Errorf("rafttest: persisting the hard state: %w", err)
		}
	}
	return nil
}

// applyEntries applies committed entries to a node's state machine,
// calling ApplyConfChange for configuration changes and printing the
// configuration that results. Entries already covered by the state (by a
// snapshot applied meanwhile) are skipped.
func (env *InteractionEnv) applyEntries(nd *Node, ents []*pb.Entry) {
	for _, e := range ents {
		if e.Index <= nd.sm.index {
			continue
		}
		var cc pb.ConfChangeI
		switch e.Type {
		case pb.EntryConfChange:
			var v1 pb.ConfChange
			if err := proto.Unmarshal(e.Data, &v1); err != nil {
				env.printf("  %d cannot decode %s: %v\n", nd.ID, pb.DescribeEntry(e, nil), err)
				continue
			}
			cc = &v1
		case pb.EntryConfChangeV2:
			var v2 pb.ConfChangeV2
			if err := proto.Unmarshal(e.Data, &v2); err != nil {
				env.printf("  %d cannot decode %s: %v\n", nd.ID, pb.DescribeEntry(e, nil), err)
				continue
			}
			cc = &v2
		default:
			nd.sm.applyData(e.Index, e.Data)
			continue
		}
		cs, err := nd.ApplyConfChange(cc)
		if err != nil {
			env.printf("  %d/%d conf change refused: %v\n", e.Term, e.Index, err)
			nd.sm.index = e.Index
			continue
		}
		env.printf("  %d/%d conf change applied: %s\n", e.Term, e.Index, pb.DescribeConfState(cs))
		nd.sm.applyConf(e.Index, cs)
	}
}
