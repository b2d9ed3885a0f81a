package rafttest

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/datadriven"

	pb "github.com/tickraft/raft/raftpb"
)

// handleSendSnapshot puts on the network a MsgSnap carrying a node's latest
// snapshot, addressed to another node, as if the first had sent it in its
// current term. Example:
//
//	send-snapshot 1 3
//
// The message is printed and waits on the network like any other; deliver
// it with deliver-msgs.
func (env *InteractionEnv) handleSendSnapshot(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d)
	from, to, rest := env.twoIDs(t, d)
	if len(rest) > 0 {
		d.Fatalf(t, "send-snapshot takes two node IDs")
	}
	return env.SendSnapshot(from, to)
}

// SendSnapshot sends the latest snapshot in from's storage to node to.
func (env *InteractionEnv) SendSnapshot(from, to uint64) error {
	nd, err := env.node(from)
	if err != nil {
		return err
	}
	snap, err := nd.Storage.Snapshot()
	if err != nil {
		return err
	}
	if pb.IsEmptySnap(snap) {
		return fmt.Errorf("rafttest: node %d has no snapshot", from)
	}
	m := &pb.Message{
		Type:     pb.MsgSnap,
		From:     from,
		To:       to,
		Term:     nd.BasicStatus().Term,
		Snapshot: snap,
	}
	env.send(m)
	env.printf("%s\n", describeMsg(m))
	return nil
}
