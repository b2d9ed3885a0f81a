package rafttest

import (
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	pb "github.com/tickraft/raft/raftpb"
)

// handleProcessAppendThread runs the append thread of nodes in
// AsyncStorageWrites mode. Example:
//
//	process-append-thread 2 count=1
//
// makes node 2 persist the first MsgStorageAppend waiting in its queue (all
// of them without count), then deliver the responses it carries: those to
// node 2 itself are stepped at once, the others go to the network.
func (env *InteractionEnv) handleProcessAppendThread(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d, "count")
	count := int(uintArg(t, d, "count", 0))
	for _, id := range env.nodeIDs(t, d, true) {
		if err := env.ProcessAppendThread(id, count); err != nil {
			return err
		}
	}
	return nil
}

// ProcessAppendThread handles up to count writes queued for a node's append
// thread (all of them when count is 0).
func (env *InteractionEnv) ProcessAppendThread(id uint64, count int) error {
	nd, err := env.node(id)
	if err != nil {
		return err
	}
	work := takeWork(&nd.AppendWork, count)
	for _, m := range work {
		env.printf("> %d processing append thread\n", id)
		var b strings.Builder
		describeMsgs(&b, "  ", []*pb.Message{m})
		env.printf("%s", b.String())
		var hs *pb.HardState
		if m.Term != 0 {
			hs = &pb.HardState{Term: m.Term, Vote: m.Vote, Commit: m.Commit}
		}
		if err := env.persist(nd, m.Snapshot, m.Entries, hs); err != nil {
			return err
		}
		env.respond(nd, m.Responses)
	}
	return nil
}

// respond delivers the responses of a local storage message once the work
// is done: the node's own are stepped now, the rest go to the network.
func (env *InteractionEnv) respond(nd *Node, resps []*pb.Message) {
	for _, r := range resps {
		if r.To != nd.ID {
			env.send(r)
			continue
		}
		if err := nd.Step(r); err != nil {
			env.printf("  %s: error: %v\n", describeMsg(r), err)
		}
	}
}

// takeWork removes and returns the first count messages of a queue (all
// when count is 0).
func takeWork(q *[]*pb.Message, count int) []*pb.Message {
	if count <= 0 || count > len(*q) {
		count = len(*q)
	}
	work := (*q)[:count:count]
	*q = append([]*pb.Message(nil), (*q)[count:]...)
	return work
}
