package raft

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/tickraft/raft/progress"
)

// BasicStatus is a snapshot of a node's state that costs no allocation.
type BasicStatus struct {
	ID uint64
	// Term, Vote and Commit are the node's hard state (not necessarily
	// persisted yet).
	Term, Vote, Commit uint64
	SoftState
	Applied        uint64
	LeadTransferee uint64
	// DroppedMessages counts network messages dropped as inconsistent.
	DroppedMessages uint64
	// Err is the storage failure that stopped the node, or nil.
	Err error
}

// Status is BasicStatus plus the configuration and, on a leader, the
// replication progress of every peer.
type Status struct {
	BasicStatus
	Config progress.Config
	// Progress is set only on the leader. The values are copies.
	Progress map[uint64]progress.Progress
}

// BasicStatus returns the node's basic status without allocating.
func (rn *RawNode) BasicStatus() BasicStatus {
	r := rn.raft
	return BasicStatus{
		ID:              r.id,
		Term:            r.Term,
		Vote:            r.Vote,
		Commit:          r.raftLog.committed,
		SoftState:       r.softState(),
		Applied:         r.raftLog.applied,
		LeadTransferee:  r.leadTransferee,
		DroppedMessages: r.droppedMsgs,
		Err:             r.failed,
	}
}

// Status returns the node's full status. It allocates; use BasicStatus or
// WithProgress on hot paths.
func (rn *RawNode) Status() Status {
	r := rn.raft
	s := Status{BasicStatus: rn.BasicStatus(), Config: r.trk.Config.Clone()}
	if r.state == StateLeader {
		s.Progress = make(map[uint64]progress.Progress, len(r.trk.Progress))
		r.trk.Visit(func(id uint64, pr *progress.Progress) {
			c := *pr
			c.Inflights = pr.Inflights.Clone()
			s.Progress[id] = c
		})
	}
	return s
}

// ProgressType tells voters from learners in WithProgress.
type ProgressType byte

// The kinds of peers WithProgress visits.
const (
	ProgressTypePeer ProgressType = iota
	ProgressTypeLearner
)

// WithProgress calls visitor with the progress of every peer, in ID order,
// without allocating. The Progress value must not be retained beyond the
// call (its Inflights are shared). Only a leader tracks progress: on any
// other node it visits nothing (what it holds is left from an earlier
// leadership, or was never maintained).
func (rn *RawNode) WithProgress(visitor func(id uint64, typ ProgressType, pr progress.Progress)) {
	if rn.raft.state != StateLeader {
		return
	}
	rn.raft.trk.Visit(func(id uint64, pr *progress.Progress) {
		typ := ProgressTypePeer
		if pr.IsLearner {
			typ = ProgressTypeLearner
		}
		visitor(id, typ, *pr)
	})
}

// MarshalJSON renders the status as JSON, with progress keyed by peer ID.
// Node IDs (id, vote, lead, leadTransferee and the progress keys) are
// decimal strings, as in the logs and configurations; strings, because
// IDs may exceed the integers a JSON reader keeps exactly (2^53).
func (s Status) MarshalJSON() ([]byte, error) {
	type prJSON struct {
		Match   uint64 `json:"match"`
		Next    uint64 `json:"next"`
		State   string `json:"state"`
		Learner bool   `json:"learner,omitempty"`
		Paused  bool   `json:"paused,omitempty"`
	}
	out := struct {
		ID             string            `json:"id"`
		Term           uint64            `json:"term"`
		Vote           string            `json:"vote"`
		Commit         uint64            `json:"commit"`
		Lead           string            `json:"lead"`
		RaftState      string            `json:"raftState"`
		Applied        uint64            `json:"applied"`
		LeadTransferee string            `json:"leadTransferee"`
		Config         string            `json:"config"`
		Progress       map[string]prJSON `json:"progress"`
		Dropped        uint64            `json:"droppedMessages"`
		Err            string            `json:"error,omitempty"`
	}{
		ID: idString(s.ID), Term: s.Term, Vote: idString(s.Vote), Commit: s.Commit,
		Lead: idString(s.Lead), RaftState: s.RaftState.String(), Applied: s.Applied,
		LeadTransferee: idString(s.LeadTransferee), Config: s.Config.String(),
		Progress: map[string]prJSON{}, Dropped: s.DroppedMessages,
	}
	if s.Err != nil {
		out.Err = s.Err.Error()
	}
	for id, pr := range s.Progress {
		out.Progress[idString(id)] = prJSON{
			Match: pr.Match, Next: pr.Next, State: pr.State.String(), Learner: pr.IsLearner, Paused: pr.IsPaused(),
		}
	}
	return json.Marshal(out)
}

// idString renders a node ID for JSON: decimal, as everywhere else.
func idString(id uint64) string { return strconv.FormatUint(id, 10) }

// String renders the status as JSON.
func (s Status) String() string {
	b, err := s.MarshalJSON()
	if err != nil {
		return fmt.Sprintf("<status: %v>", err)
	}
	return string(b)
}
