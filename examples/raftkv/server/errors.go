package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/tickraft/raft/examples/raftkv/kv"
	"github.com/tickraft/raft/replica"
)

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
)

// Error is the body of every error response.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// LeaderID and LeaderAPI name the leader for not_leader (when known).
	LeaderID  uint64 `json:"leader_id,omitempty"`
	LeaderAPI string `json:"leader_api,omitempty"`
	// Version is the key's current version for version_mismatch and
	// exists.
	Version uint64 `json:"version,omitempty"`
	status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func apiErr(status int, code, format string, args ...any) *Error {
	return &Error{status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// toError maps a replica or state machine outcome to an API error.
func (s *Server) toError(err error) *Error {
	var e *Error
	var nl *replica.NotLeaderError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &nl) && nl.LeaderID != 0:
		e := apiErr(http.StatusMisdirectedRequest, CodeNotLeader, "node %d is not the leader; the leader is node %d", s.cfg.NodeID, nl.LeaderID)
		e.LeaderID, e.LeaderAPI = nl.LeaderID, s.sm.Nodes()[nl.LeaderID]
		return e
	case errors.Is(err, replica.ErrNoLeader):
		return apiErr(http.StatusServiceUnavailable, CodeNoLeader, "no leader is known (an election is on): retry")
	case errors.Is(err, replica.ErrProposalLost):
		return apiErr(http.StatusServiceUnavailable, CodeProposalLost, "the leader changed before the write committed; it was not applied: retry")
	case errors.Is(err, replica.ErrProposalDropped):
		return apiErr(http.StatusServiceUnavailable, CodeProposalDropped, "the write was refused (leader transfer or overload); it was not applied: retry")
	case errors.Is(err, replica.ErrNotMember):
		return apiErr(http.StatusServiceUnavailable, CodeNotMember, "this node is not a member of the cluster (yet)")
	case errors.Is(err, replica.ErrStopped):
		return apiErr(http.StatusServiceUnavailable, CodeStopped, "this node is stopping or failed")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return apiErr(http.StatusGatewayTimeout, CodeTimeout, "timed out; a write may or may not have been applied")
	}
	return apiErr(http.StatusInternalServerError, CodeInternal, "%v", err)
}

// resultError maps a refused command's result to an error (nil: OK).
func resultError(r kv.Result) *Error {
	var e *Error
	switch r.Code {
	case kv.OK:
		return nil
	case kv.VersionMismatch:
		e = apiErr(http.StatusConflict, CodeVersionMismatch, "the key's version is %d", r.Version)
	case kv.Exists:
		e = apiErr(http.StatusConflict, CodeExists, "the key exists (version %d)", r.Version)
	case kv.SessionExpired:
		e = apiErr(http.StatusConflict, CodeSessionExpired, "unknown client session: register a new one")
	case kv.SessionStale:
		e = apiErr(http.StatusConflict, CodeSessionStale, "the seq was already acknowledged by the client")
	default:
		e = apiErr(http.StatusBadRequest, CodeBadRequest, "malformed command")
	}
	e.Version = r.Version
	return e
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.status, e)
}
