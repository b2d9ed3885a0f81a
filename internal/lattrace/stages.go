// Package lattrace records when a put passes each stage of its path
// (client, server, raft loop, transport, storage, apply), for the one-client
// latency breakdown in bench/PROFILE.md. It is compiled in only with the
// build tag lattrace, and then records only when $LATTRACE names a file
// prefix: each process appends "unix-nanos stage index" lines to
// $LATTRACE.<pid>. Without the tag Mark is an empty function the compiler
// removes, so the marks cost nothing.
package lattrace

import "github.com/tickraft/raft/raftpb"

// Stages.
const (
	CCall        = 1  // client: call queued to its writer
	CFlushed     = 2  // client: request flushed to the socket
	CRead        = 3  // client: answer decoded
	CDone        = 4  // client: call returns
	SRead        = 10 // server: request decoded
	SPropose     = 11 // server: call goroutine calls Propose
	RStepProp    = 12 // replica loop: proposals stepped
	RReadyEnt    = 13 // replica loop: MsgStorageAppend with entries queued (idx: last)
	RSendApp     = 14 // replica loop: MsgApp with entries handed to the transport (idx: last)
	TWrite       = 15 // transport: frame with MsgApp entries / MsgAppResp written (idx)
	STSaveStart  = 16 // storage: Save of entries starts (idx: last)
	STSaveEnd    = 17 // storage: Save (with sync) returned
	STResp       = 18 // storage: responses released (idx: MsgAppResp index)
	TRecv        = 19 // transport: MsgApp with entries / MsgAppResp received (idx)
	RStepResp    = 20 // replica loop: MsgAppResp stepped (idx)
	RReadyCommit = 21 // replica loop: MsgStorageApply queued (idx: last)
	AStart       = 22 // apply: entries start (idx: last)
	ADone        = 23 // apply: proposals completed
	SProposed    = 24 // server: Propose returned
	SAnswer      = 25 // server: answer queued to the writer
	SFlushed     = 26 // server: answer flushed
	RWake        = 27 // replica loop woke
)

// MarkMessage marks stage for a message the breakdown follows: an append
// with entries (by its last index) or an append response (by its index).
// Other messages are not marked.
func MarkMessage(stage uint8, m *raftpb.Message) {
	if !On {
		return
	}
	if n := len(m.Entries); m.Type == raftpb.MsgApp && n > 0 {
		Mark(stage, m.Entries[n-1].Index)
	} else if m.Type == raftpb.MsgAppResp {
		Mark(stage, m.Index)
	}
}
