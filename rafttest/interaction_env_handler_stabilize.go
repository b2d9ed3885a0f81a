package rafttest

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// handleStabilize runs the cluster until nothing is left to do. Example:
//
//	stabilize 1 2
//
// repeats, until a round changes nothing: every node given (every node
// when none is) handles its Ready, runs its append and apply threads in
// AsyncStorageWrites mode, and receives the messages the network holds for
// it. Nodes not given are left alone, and so are the messages for them.
// Everything done is printed. When run on every node, messages addressed to
// nodes that do not exist are dropped.
func (env *InteractionEnv) handleStabilize(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d)
	all := len(positional(d)) == 0
	return env.Stabilize(all, env.nodeIDs(t, d, true)...)
}

// maxStabilizeRounds bounds Stabilize: a cluster that does not settle in
// this many rounds has a livelock worth reporting.
const maxStabilizeRounds = 1000

// Stabilize processes Readies, local threads and message deliveries of the
// given nodes until none has anything to do. With dropUnknown, messages to
// nodes that do not exist are dropped along the way.
func (env *InteractionEnv) Stabilize(dropUnknown bool, ids ...uint64) error {
	for range maxStabilizeRounds {
		busy := false
		for _, id := range ids {
			if env.Nodes[id-1].HasReady() {
				busy = true
				if err := env.ProcessReady(id); err != nil {
					return err
				}
			}
		}
		for _, id := range ids {
			nd := env.Nodes[id-1]
			if len(nd.AppendWork) > 0 {
				busy = true
				if err := env.ProcessAppendThread(id, 0); err != nil {
					return err
				}
			}
			if len(nd.ApplyWork) > 0 {
				busy = true
				if err := env.ProcessApplyThread(id, 0); err != nil {
					return err
				}
			}
		}
		if dropUnknown {
			env.dropMsgsToUnknown()
		}
		for _, id := range ids {
			if env.DeliverMsgs(id, MsgFilter{Type: -1}) > 0 {
				busy = true
			}
		}
		if !busy {
			return nil
		}
	}
	return fmt.Errorf("rafttest: the cluster did not stabilize within %d rounds", maxStabilizeRounds)
}
