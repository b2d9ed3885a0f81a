package rafttest

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	pb "github.com/tickraft/raft/raftpb"
)

// stateMachine is the application state the harness keeps for a node: the
// data of the normal entries it applied, in order, and the configurations
// it went through, so that a snapshot can be built at any applied index.
// It lives in memory: a restart rebuilds it from the snapshot in storage.
type stateMachine struct {
	// index is the index of the last entry applied (or of the snapshot the
	// state was restored from).
	index uint64
	// data holds the applied payloads. Those restored from a snapshot carry
	// the snapshot's index.
	data []appliedDatum
	// confs are the configurations in force from each index on, oldest
	// first; confs[0] is the one the state started from.
	confs []confPoint
}

type appliedDatum struct {
	index uint64
	data  string
}

type confPoint struct {
	index uint64
	cs    *pb.ConfState
}

// restore replaces the state with the contents of a snapshot.
func (sm *stateMachine) restore(s *pb.Snapshot) error {
	md := s.GetMetadata()
	items, err := decodeSnapshotData(s.GetData())
	if err != nil {
		return err
	}
	sm.index = md.GetIndex()
	sm.data = sm.data[:0]
	for _, it := range items {
		sm.data = append(sm.data, appliedDatum{index: md.GetIndex(), data: it})
	}
	cs := md.GetConfState()
	if cs == nil {
		cs = &pb.ConfState{}
	}
	sm.confs = []confPoint{{index: md.GetIndex(), cs: proto.Clone(cs).(*pb.ConfState)}}
	return nil
}

// applyData records the payload of a normal entry. Empty payloads (the
// leaders' empty entries) are not application data.
func (sm *stateMachine) applyData(index uint64, data []byte) {
	if len(data) > 0 {
		sm.data = append(sm.data, appliedDatum{index: index, data: string(data)})
	}
	sm.index = index
}

// applyConf records the configuration resulting from the change at index.
func (sm *stateMachine) applyConf(index uint64, cs *pb.ConfState) {
	sm.confs = append(sm.confs, confPoint{index: index, cs: proto.Clone(cs).(*pb.ConfState)})
	sm.index = index
}

// snapshotAt returns the data and configuration of the state at index,
// which must not be beyond what was applied.
func (sm *stateMachine) snapshotAt(index uint64) ([]byte, *pb.ConfState, error) {
	if index > sm.index {
		return nil, nil, fmt.Errorf("rafttest: index %d is beyond the applied index %d", index, sm.index)
	}
	if len(sm.confs) == 0 || index < sm.confs[0].index {
		return nil, nil, fmt.Errorf("rafttest: index %d is before the state's origin", index)
	}
	var items []string
	for _, d := range sm.data {
		if d.index <= index {
			items = append(items, d.data)
		}
	}
	cs := sm.confs[0].cs
	for _, c := range sm.confs {
		if c.index <= index {
			cs = c.cs
		}
	}
	return encodeSnapshotData(items), cs, nil
}

// describe renders the state as `Index:5 Data:["a" "b"]`.
func (sm *stateMachine) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Index:%d Data:[", sm.index)
	for i, d := range sm.data {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Quote(d.data))
	}
	b.WriteByte(']')
	return b.String()
}

// Snapshot data is the list of applied payloads, each Go-quoted, separated
// by spaces.
func encodeSnapshotData(items []string) []byte {
	var b strings.Builder
	for i, it := range items {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Quote(it))
	}
	return []byte(b.String())
}

func decodeSnapshotData(data []byte) ([]string, error) {
	var items []string
	s := strings.TrimSpace(string(data))
	for s != "" {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return nil, fmt.Errorf("rafttest: undecodable snapshot data %q", data)
		}
		it, err := strconv.Unquote(q)
		if err != nil {
			return nil, fmt.Errorf("rafttest: undecodable snapshot data %q", data)
		}
		items = append(items, it)
		s = strings.TrimSpace(s[len(q):])
	}
	return items, nil
}
