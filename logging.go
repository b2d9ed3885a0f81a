package raft

// Attribute keys of the node's slog records. They are part of the API:
// log pipelines may filter on them, so they do not change.
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
)
