// Code below gives the generated enum values the short names users of
// etcd-style raft know (MsgApp rather than MessageType_MsgApp). The
// generated names stay valid.

package raftpb

// Short names of the EntryType values.
const (
	EntryNormal       = EntryType_EntryNormal
	EntryConfChange   = EntryType_EntryConfChange
	EntryConfChangeV2 = EntryType_EntryConfChangeV2
)

// Short names of the MessageType values.
const (
	MsgHup               = MessageType_MsgHup
	MsgBeat              = MessageType_MsgBeat
	MsgProp              = MessageType_MsgProp
	MsgApp               = MessageType_MsgApp
	MsgAppResp           = MessageType_MsgAppResp
	MsgVote              = MessageType_MsgVote
	MsgVoteResp          = MessageType_MsgVoteResp
	MsgSnap              = MessageType_MsgSnap
	MsgHeartbeat         = MessageType_MsgHeartbeat
	MsgHeartbeatResp     = MessageType_MsgHeartbeatResp
	MsgUnreachable       = MessageType_MsgUnreachable
	MsgSnapStatus        = MessageType_MsgSnapStatus
	MsgCheckQuorum       = MessageType_MsgCheckQuorum
	MsgTransferLeader    = MessageType_MsgTransferLeader
	MsgTimeoutNow        = MessageType_MsgTimeoutNow
	MsgReadIndex         = MessageType_MsgReadIndex
	MsgReadIndexResp     = MessageType_MsgReadIndexResp
	MsgPreVote           = MessageType_MsgPreVote
	MsgPreVoteResp       = MessageType_MsgPreVoteResp
	MsgStorageAppend     = MessageType_MsgStorageAppend
	MsgStorageAppendResp = MessageType_MsgStorageAppendResp
	MsgStorageApply      = MessageType_MsgStorageApply
	MsgStorageApplyResp  = MessageType_MsgStorageApplyResp
	MsgForgetLeader      = MessageType_MsgForgetLeader
)

// Short names of the ConfChangeType values.
const (
	ConfChangeAddNode        = ConfChangeType_ConfChangeAddNode
	ConfChangeRemoveNode     = ConfChangeType_ConfChangeRemoveNode
	ConfChangeUpdateNode     = ConfChangeType_ConfChangeUpdateNode
	ConfChangeAddLearnerNode = ConfChangeType_ConfChangeAddLearnerNode
)

// Short names of the ConfChangeTransition values.
const (
	ConfChangeTransitionAuto          = ConfChangeTransition_ConfChangeTransitionAuto
	ConfChangeTransitionJointImplicit = ConfChangeTransition_ConfChangeTransitionJointImplicit
	ConfChangeTransitionJointExplicit = ConfChangeTransition_ConfChangeTransitionJointExplicit
)
