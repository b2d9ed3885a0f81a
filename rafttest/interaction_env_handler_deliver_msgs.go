package rafttest

import (
	"testing"

	"github.com/cockroachdb/datadriven"

	pb "github.com/tickraft/raft/raftpb"
)

// handleDeliverMsgs hands nodes the messages the network holds for them.
// Example:
//
//	deliver-msgs 2 3 type=MsgApp from=1 drop
//
// removes from the network every MsgApp from node 1 addressed to node 2,
// then those to node 3, and drops them instead of stepping them. Without
// node IDs every node receives its messages, in ID order; without type or
// from, messages of every type and sender are taken. A message that crosses
// the partition is dropped whatever the options. Each message is printed;
// an error from Step follows it.
func (env *InteractionEnv) handleDeliverMsgs(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d, "type", "from", "drop")
	f := MsgFilter{Type: -1}
	if d.HasArg("type") {
		var s string
		d.ScanArgs(t, "type", &s)
		v, ok := pb.MessageType_value[s]
		if !ok {
			d.Fatalf(t, "unknown message type %q", s)
		}
		f.Type = pb.MessageType(v)
	}
	f.From = uintArg(t, d, "from", 0)
	f.Drop = boolArg(t, d, "drop")
	for _, id := range env.nodeIDs(t, d, true, "drop") {
		env.DeliverMsgs(id, f)
	}
	return nil
}

// MsgFilter selects the messages DeliverMsgs takes off the network, and
// what it does with them.
type MsgFilter struct {
	// Type, unless negative, is the only message type taken.
	Type pb.MessageType
	// From, unless 0, is the only sender whose messages are taken.
	From uint64
	// Drop drops the messages taken instead of stepping them.
	Drop bool
}

func (f MsgFilter) match(m *pb.Message) bool {
	return (f.Type < 0 || m.Type == f.Type) && (f.From == 0 || m.From == f.From)
}

// DeliverMsgs takes the messages addressed to node id that match f off the
// network, in sending order, and steps them on the node, or drops them if
// f.Drop is set or the partition separates sender and recipient. It
// reports how many messages it took.
func (env *InteractionEnv) DeliverMsgs(id uint64, f MsgFilter) int {
	var mine, rest []*pb.Message
	for _, m := range env.Messages {
		if m.To == id && f.match(m) {
			mine = append(mine, m)
		} else {
			rest = append(rest, m)
		}
	}
	env.Messages = rest
	if len(mine) == 0 {
		return 0
	}
	env.printf("> %d receiving messages\n", id)
	nd, err := env.node(id)
	for _, m := range mine {
		switch {
		case err != nil:
			env.printf("  dropped (no such node): %s\n", describeMsg(m))
		case env.partitioned(m.From, m.To):
			env.printf("  dropped (partition): %s\n", describeMsg(m))
		case f.Drop:
			env.printf("  dropped: %s\n", describeMsg(m))
		default:
			env.printf("  %s\n", describeMsg(m))
			if serr := nd.Step(m); serr != nil {
				env.printf("    error: %v\n", serr)
			}
		}
	}
	return len(mine)
}

// dropMsgsToUnknown removes from the network every message addressed to a
// node that does not exist, printing them.
func (env *InteractionEnv) dropMsgsToUnknown() {
	var rest []*pb.Message
	for _, m := range env.Messages {
		if _, err := env.node(m.To); err != nil {
			env.printf("> dropped (no such node): %s\n", describeMsg(m))
			continue
		}
		rest = append(rest, m)
	}
	env.Messages = rest
}
