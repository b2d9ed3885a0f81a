package raft

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	pb "github.com/tickraft/raft/raftpb"
)

// msgTypeHandling says, for every message type, who handles it: "step" (the
// same in every role, in step), or the roles whose tables have a handler
// (l, f, c for leader, follower, candidate), and whether a peer's message
// of the type must carry a term. A type missing here fails
// TestMessageTypesAreCovered: a new type must be placed deliberately.
var msgTypeHandling = map[string]struct {
	roles     string
	needsTerm bool
}{
	"MsgHup":               {"step", false},
	"MsgBeat":              {"l", false},
	"MsgProp":              {"lfc", false},
	"MsgApp":               {"fc", true},
	"MsgAppResp":           {"l", true},
	"MsgVote":              {"step", true},
	"MsgVoteResp":          {"c", true},
	"MsgSnap":              {"fc", true},
	"MsgHeartbeat":         {"fc", true},
	"MsgHeartbeatResp":     {"l", true},
	"MsgUnreachable":       {"l", false},
	"MsgSnapStatus":        {"l", false},
	"MsgCheckQuorum":       {"l", false},
	"MsgTransferLeader":    {"lfc", false},
	"MsgTimeoutNow":        {"f", true},
	"MsgReadIndex":         {"lfc", false},
	"MsgReadIndexResp":     {"f", true},
	"MsgPreVote":           {"step", true},
	"MsgPreVoteResp":       {"c", true},
	"MsgStorageAppend":     {"", false},
	"MsgStorageAppendResp": {"step", false},
	"MsgStorageApply":      {"", false},
	"MsgStorageApplyResp":  {"step", false},
	"MsgForgetLeader":      {"lf", false},
}

// Every value of the MessageType enum is within the handler tables, is
// handled where msgTypeHandling says (no role silently ignores a type it
// should handle), and is classified by needsTerm as listed. A type added to
// the enum fails here until it is placed.
func TestMessageTypesAreCovered(t *testing.T) {
	tables := map[byte]*handlerTable{'l': &leaderHandlers, 'f': &followerHandlers, 'c': &candidateHandlers}
	require.Len(t, pb.MessageType_name, int(lastMessageType)+1, "the enum is not 0..lastMessageType")
	for v, name := range pb.MessageType_name {
		typ := pb.MessageType(v)
		want, ok := msgTypeHandling[name]
		require.True(t, ok, "message type %s is not placed in msgTypeHandling", name)
		require.LessOrEqual(t, typ, lastMessageType, name)
		for role, table := range tables {
			has := table[typ] != nil
			require.Equal(t, strings.IndexByte(want.roles, role) >= 0, has, "%s in role %c", name, role)
		}
		require.Equal(t, want.needsTerm, needsTerm(typ), "needsTerm(%s)", name)
	}
	require.Len(t, msgTypeHandling, len(pb.MessageType_name), "msgTypeHandling lists types the enum lacks")
}
