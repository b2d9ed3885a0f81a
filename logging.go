package raft

// Attribute keys of the node's slog records. They are part of the API:
// log pipelines may filter on them, so they do not change. Every attribute
// the package logs uses one of them (TestLogKeysAreDeclared checks).
const (
	keyNode      = "raft_id"
	keyTerm      = "term"
	keyRole      = "role"
	keyPrevRole  = "prev_role"
	keyLeader    = "leader"
	keyVote      = "vote"
	keyFrom      = "from"
	keyTo        = "to"
	keyMsgType   = "msg_type"
	keyIndex     = "index"
	keyCommit    = "commit"
	keyApplied   = "applied"
	keyLastIndex = "last_index"
	keyCampaign  = "campaign"
	keyConfig    = "config"
	keyProgress  = "progress"
	keySnapIndex = "snapshot_index"
	keySnapTerm  = "snapshot_term"
	keyError     = "error"

	keyMsgTerm         = "msg_term"       // the term a message carried
	keyLogTerm         = "log_term"       // an append's previous entry's term
	keyHintIndex       = "hint_index"     // a rejection's hint
	keyHintTerm        = "hint_term"      // the term at the hint
	keyTransferee      = "transferee"     // the target of a leader transfer
	keyChange          = "change"         // a configuration change, as text
	keyGranted         = "granted"        // a vote's answer
	keyVotesGranted    = "votes_granted"  // the tally of an election
	keyVotesRejected   = "votes_rejected" // the tally of an election
	keySinceLeader     = "ticks_since_leader"
	keyUncommittedSize = "uncommitted_size" // the leader's uncommitted payload bytes
	keyLimit           = "limit"            // the limit a value reached
	keyPending         = "pending"          // requests waiting
)
