package rafttest

import (
	"testing"

	"github.com/cockroachdb/datadriven"

	raft "github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// handleRestart crashes nodes and starts them again from their storage.
// Example:
//
//	restart 2
//
// Everything node 2 did not persist is lost: its volatile state (role,
// leader, progress, votes counted), the Ready it has not handled, the work
// queued for its local threads and the messages the network holds for it
// (its connections die with it). Messages it sent already stay in flight.
// A new RawNode is built with the node's original Config on the same
// storage; its state machine restarts from the storage's snapshot, and the
// committed entries after it are applied again. The restarted node's
// persisted state is printed. If NewRawNode refuses the storage, the error
// is printed and the old RawNode is left in place (the harness has no
// notion of a node that stays down).
func (env *InteractionEnv) handleRestart(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d)
	for _, id := range env.nodeIDs(t, d, false) {
		if err := env.Restart(id); err != nil {
			return err
		}
	}
	return nil
}

// Restart crashes a node and starts it again from its storage.
func (env *InteractionEnv) Restart(id uint64) error {
	nd, err := env.node(id)
	if err != nil {
		return err
	}
	env.printf("> %d crashed\n", id)
	for _, m := range nd.AppendWork {
		env.printf("  lost (append thread): %s\n", describeMsg(m))
	}
	for _, m := range nd.ApplyWork {
		env.printf("  lost (apply thread): %s\n", describeMsg(m))
	}
	nd.AppendWork, nd.ApplyWork = nil, nil
	var rest []*pb.Message
	for _, m := range env.Messages {
		if m.To == id {
			env.printf("  lost (in flight to %d): %s\n", id, describeMsg(m))
			continue
		}
		rest = append(rest, m)
	}
	env.Messages = rest

	snap, err := nd.Storage.Snapshot()
	if err != nil {
		return err
	}
	if pb.IsEmptySnap(snap) {
		nd.sm = stateMachine{confs: []confPoint{{cs: &pb.ConfState{}}}}
	} else if err := nd.sm.restore(snap); err != nil {
		return err
	}
	cfg := nd.Config
	cfg.Applied = snap.GetMetadata().GetIndex()
	rn, err := raft.NewRawNode(&cfg)
	if err != nil {
		return err
	}
	nd.RawNode = rn
	env.printf("> %d restarted\n", id)
	return env.describeStorage(id, "  ")
}
