// Package api holds the wire types of raftkv's HTTP JSON API, shared by
// the server and the client.
package api

import "time"

// The stable error codes of the API (clients switch on them).
const (
	CodeBadRequest      = "bad_request"
	CodeBodyTooLarge    = "body_too_large"
	CodeValueTooLarge   = "value_too_large"
	CodeKeyTooLarge     = "key_too_large"
	CodeUnknownOp       = "unknown_operation"
	CodeNotFound        = "not_found"
	CodeNotLeader       = "not_leader"
	CodeNoLeader        = "no_leader"
	CodeNotInitialized  = "not_initialized"
	CodeAlreadyInit     = "already_initialized"
	CodeVersionMismatch = "version_mismatch"
	CodeExists          = "exists"
	CodeSessionExpired  = "session_expired"
	CodeSessionStale    = "session_stale"
	CodeProposalLost    = "proposal_lost"
	CodeProposalDropped = "proposal_dropped"
	CodeTimeout         = "timeout"
	CodeStopped         = "stopped"
	CodeNotMember       = "not_member"
	CodeInternal        = "internal"
	// CodeTooManyConns: the binary client protocol refused a connection.
	CodeTooManyConns = "too_many_connections"
)

// Error is the body of every error response.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// LeaderID and LeaderAPI name the leader for not_leader (when known).
	LeaderID  uint64 `json:"leader_id,omitempty"`
	LeaderAPI string `json:"leader_api,omitempty"`
	// LeaderClient is the leader's binary client protocol address (when
	// it serves one).
	LeaderClient string `json:"leader_client,omitempty"`
	// Version is the key's current version for version_mismatch and
	// exists.
	Version uint64 `json:"version,omitempty"`
	// HTTPStatus is the response status (not in the body).
	HTTPStatus int `json:"-"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// WriteRequest is the body of POST /v1/kv (and, without op and key, of
// PUT and DELETE /v1/kv/{key}).
type WriteRequest struct {
	Op    string  `json:"op,omitempty"` // put, delete, cas, put-if-absent
	Key   string  `json:"key,omitempty"`
	Value *string `json:"value,omitempty"`
	// Version is the expected version for cas (0: the key must be absent).
	// On PUT it turns the put into a cas.
	Version *uint64 `json:"version,omitempty"`
	// IfAbsent on PUT makes it put-if-absent.
	IfAbsent bool `json:"if_absent,omitempty"`
	// The exactly-once session (from POST /v1/sessions), optional.
	ClientID uint64 `json:"client_id,omitempty"`
	Seq      uint64 `json:"seq,omitempty"`
	AckBelow uint64 `json:"ack_below,omitempty"`
}

// WriteResponse is the answer to a write.
type WriteResponse struct {
	Op      string `json:"op"`
	Key     string `json:"key"`
	Version uint64 `json:"version"` // the key's new version (the write's log index)
	Existed bool   `json:"existed,omitempty"`
}

// KeyValue is one key in a read's answer.
type KeyValue struct {
	Key     string `json:"key"`
	Value   string `json:"value"`
	Version uint64 `json:"version"`
}

// GetResponse is the answer to GET /v1/kv/{key}.
type GetResponse struct {
	KeyValue
	Consistency string `json:"consistency"`
	ReadIndex   uint64 `json:"read_index"`
}

// ScanResponse is the answer to GET /v1/scan.
type ScanResponse struct {
	KVs         []KeyValue `json:"kvs"`
	More        bool       `json:"more"` // the limit cut the scan short
	Consistency string     `json:"consistency"`
	ReadIndex   uint64     `json:"read_index"`
}

// MemberRequest names a node for the admin calls.
type MemberRequest struct {
	ID       uint64 `json:"id"`
	RaftAddr string `json:"raft_addr,omitempty"`
	APIAddr  string `json:"api_addr,omitempty"`
	// Wait (add-learner): return only once the learner caught up.
	Wait bool `json:"wait,omitempty"`
}

// MembershipRequest is the body of change-membership.
type MembershipRequest struct {
	Voters []uint64 `json:"voters"`
}

// PeersRequest is the body of POST /v1/internal/peers: raft addresses a
// new node dials before it has the log.
type PeersRequest struct {
	Members []MemberRequest `json:"members"`
}

// FaultsRequest is the body of the test hook POST /v1/test/faults: raft
// messages to and from these peers are dropped (empty lists heal).
type FaultsRequest struct {
	DropTo   []uint64 `json:"drop_to"`
	DropFrom []uint64 `json:"drop_from"`
}

// Status is the answer to GET /v1/admin/status.
type Status struct {
	NodeID      uint64         `json:"node_id"`
	ClusterID   uint64         `json:"cluster_id"`
	Initialized bool           `json:"initialized"`
	Role        string         `json:"role"`
	Term        uint64         `json:"term"`
	Leader      *MemberStatus  `json:"leader,omitempty"`
	Commit      uint64         `json:"commit_index"`
	Applied     uint64         `json:"applied_index"`
	Snapshot    uint64         `json:"snapshot_index"`
	LastIndex   uint64         `json:"last_index"`
	Members     []MemberStatus `json:"members"`
	Joint       bool           `json:"joint,omitempty"`
	SM          SMStatus       `json:"state_machine"`
	Leaders     []LeaderChange `json:"leader_changes"`
	Snapshots   SnapshotStatus `json:"snapshots"`
	Error       string         `json:"error,omitempty"`
	Uptime      string         `json:"uptime"`
}

// MemberStatus is one member, with the leader's view of its replication
// (on the leader only).
type MemberStatus struct {
	ID       uint64 `json:"id"`
	Role     string `json:"role,omitempty"` // voter or learner
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
	// ClientAddr is the binary client protocol address (when served).
	ClientAddr string `json:"client_addr,omitempty"`
	Match      uint64 `json:"match,omitempty"`
	Next       uint64 `json:"next,omitempty"`
	Lag        uint64 `json:"lag"`
	State      string `json:"state,omitempty"`
}

// SMStatus describes the state machine.
type SMStatus struct {
	Kind     string `json:"kind"`
	Keys     int    `json:"keys"`
	Sessions int    `json:"sessions"`
	Applied  uint64 `json:"applied_index"`
	Restores uint64 `json:"restores"`
}

// SnapshotStatus counts snapshots.
type SnapshotStatus struct {
	Taken     uint64 `json:"taken"`
	Sent      uint64 `json:"sent"`
	Received  uint64 `json:"received"`
	Installed uint64 `json:"installed"`
}

// LeaderChange is one leader this node saw.
type LeaderChange struct {
	Time   time.Time `json:"time"`
	Term   uint64    `json:"term"`
	Leader uint64    `json:"leader"`
}

// RegisterResponse is the answer to POST /v1/sessions.
type RegisterResponse struct {
	ClientID uint64 `json:"client_id"`
}

// DiskFaultRequest is the body of the test hook POST /v1/test/disk.
type DiskFaultRequest struct {
	// Fail makes every later wal and snapshot write and sync fail.
	Fail bool `json:"fail"`
}
