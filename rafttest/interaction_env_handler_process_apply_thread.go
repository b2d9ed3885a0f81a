package rafttest

import (
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	pb "github.com/tickraft/raft/raftpb"
)

// handleProcessApplyThread runs the apply thread of nodes in
// AsyncStorageWrites mode. Example:
//
//	process-apply-thread 1
//
// makes node 1 apply the committed entries of every MsgStorageApply
// waiting in its queue (the first count of them with count=N), calling
// ApplyConfChange for configuration changes, then step the responses.
func (env *InteractionEnv) handleProcessApplyThread(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d, "count")
	count := int(uintArg(t, d, "count", 0))
	for _, id := range env.nodeIDs(t, d, true) {
		if err := env.ProcessApplyThread(id, count); err != nil {
			return err
		}
	}
	return nil
}

// ProcessApplyThread handles up to count messages queued for a node's apply
// thread (all of them when count is 0).
func (env *InteractionEnv) ProcessApplyThread(id uint64, count int) error {
	nd, err := env.node(id)
	if err != nil {
		return err
	}
	for _, m := range takeWork(&nd.ApplyWork, count) {
		env.printf("> %d processing apply thread\n", id)
		var b strings.Builder
		describeMsgs(&b, "  ", []*pb.Message{m})
		env.printf("%s", b.String())
		env.applyEntries(nd, m.Entries)
		env.respond(nd, m.Responses)
	}
	return nil
}
