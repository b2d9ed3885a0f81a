package rafttest

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	raft "github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// The output of the harness is built from the raftpb Describe functions
// and the renderings below, never from log records.

// endpoint names a message's sender or recipient: a node ID, or one of the
// local threads of AsyncStorageWrites mode.
func endpoint(id uint64) string {
	switch id {
	case raft.LocalAppendThread:
		return "AppendThread"
	case raft.LocalApplyThread:
		return "ApplyThread"
	}
	return strconv.FormatUint(id, 10)
}

// describeMsg renders a message on one line as DescribeMessage does, but
// with the local threads named, and without the Responses of a storage
// message (describeMsgs prints them on lines of their own).
func describeMsg(m *pb.Message) string {
	c := proto.Clone(m).(*pb.Message)
	c.From, c.To, c.Responses = 0, 0, nil
	s := strings.TrimPrefix(pb.DescribeMessage(c, nil), "0->0 ")
	return endpoint(m.From) + "->" + endpoint(m.To) + " " + s
}

// describeMsgs writes one message per line at the given indentation; the
// responses a storage message carries follow it, indented further.
func describeMsgs(b *strings.Builder, indent string, msgs []*pb.Message) {
	for _, m := range msgs {
		b.WriteString(indent)
		b.WriteString(describeMsg(m))
		b.WriteByte('\n')
		if len(m.Responses) > 0 {
			b.WriteString(indent)
			b.WriteString("  Responses:\n")
			describeMsgs(b, indent+"  ", m.Responses)
		}
	}
}

// describeEntries writes one entry per line at the given indentation.
func describeEntries(b *strings.Builder, indent string, ents []*pb.Entry) {
	for _, e := range ents {
		b.WriteString(indent)
		b.WriteString(pb.DescribeEntry(e, nil))
		b.WriteByte('\n')
	}
}

// describeReady renders the contents of a Ready, one section per non-empty
// field, in the order the application handles them.
func describeReady(rd raft.Ready) string {
	var b strings.Builder
	if rd.SoftState != nil {
		fmt.Fprintf(&b, "  SoftState: %s Lead:%d\n", rd.RaftState, rd.Lead)
	}
	if rd.HardState != nil {
		fmt.Fprintf(&b, "  HardState: %s\n", pb.DescribeHardState(rd.HardState))
	}
	if rd.Snapshot != nil {
		fmt.Fprintf(&b, "  Snapshot: %s\n", pb.DescribeSnapshot(rd.Snapshot))
	}
	if len(rd.Entries) > 0 {
		b.WriteString("  Entries:\n")
		describeEntries(&b, "    ", rd.Entries)
	}
	if len(rd.Messages) > 0 {
		b.WriteString("  Messages:\n")
		describeMsgs(&b, "    ", rd.Messages)
	}
	if len(rd.CommittedEntries) > 0 {
		b.WriteString("  CommittedEntries:\n")
		describeEntries(&b, "    ", rd.CommittedEntries)
	}
	if len(rd.ReadStates) > 0 {
		b.WriteString("  ReadStates:\n")
		for _, rs := range rd.ReadStates {
			fmt.Fprintf(&b, "    Index:%d RequestCtx:%q\n", rs.Index, rs.RequestCtx)
		}
	}
	return b.String()
}

// describeBasic renders the volatile state of a node on one line.
func describeBasic(s raft.BasicStatus) string {
	return fmt.Sprintf("%s Term:%d Vote:%d Lead:%d Commit:%d Applied:%d",
		s.RaftState, s.Term, s.Vote, s.Lead, s.Commit, s.Applied)
}

// membership says what a node is in its own view of the configuration.
func membership(s raft.Status) string {
	id := s.ID
	if _, ok := s.Config.Voters.IDs()[id]; ok {
		if _, next := s.Config.LearnersNext[id]; next {
			return "Voter, next Learner"
		}
		return "Voter"
	}
	if _, ok := s.Config.Learners[id]; ok {
		return "Learner"
	}
	return "not a member"
}
