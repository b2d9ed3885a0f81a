package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/tickraft/raft/examples/raftkv/api"
	"github.com/tickraft/raft/examples/raftkv/kv"
	"github.com/tickraft/raft/replica"
)

func apiErr(status int, code, format string, args ...any) *api.Error {
	return &api.Error{HTTPStatus: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// toError maps a replica or state machine outcome to an API error.
func (s *Server) toError(err error) *api.Error {
	var e *api.Error
	var nl *replica.NotLeaderError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &nl) && nl.LeaderID != 0:
		e := apiErr(http.StatusMisdirectedRequest, api.CodeNotLeader, "node %d is not the leader; the leader is node %d", s.cfg.NodeID, nl.LeaderID)
		e.LeaderID = nl.LeaderID
		e.LeaderAPI, e.LeaderClient = splitNodeRecord(s.sm.Nodes()[nl.LeaderID])
		return e
	case errors.Is(err, replica.ErrNoLeader):
		return apiErr(http.StatusServiceUnavailable, api.CodeNoLeader, "no leader is known (an election is on): retry")
	case errors.Is(err, replica.ErrProposalLost):
		return apiErr(http.StatusServiceUnavailable, api.CodeProposalLost, "the leader changed before the write committed; it was not applied: retry")
	case errors.Is(err, replica.ErrProposalDropped):
		return apiErr(http.StatusServiceUnavailable, api.CodeProposalDropped, "the write was refused (leader transfer or overload); it was not applied: retry")
	case errors.Is(err, replica.ErrNotMember):
		return apiErr(http.StatusServiceUnavailable, api.CodeNotMember, "this node is not a member of the cluster (yet)")
	case errors.Is(err, replica.ErrStopped):
		return apiErr(http.StatusServiceUnavailable, api.CodeStopped, "this node is stopping or failed")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return apiErr(http.StatusGatewayTimeout, api.CodeTimeout, "timed out; a write may or may not have been applied")
	}
	return apiErr(http.StatusInternalServerError, api.CodeInternal, "%v", err)
}

// resultError maps a refused command's result to an error (nil: OK).
func resultError(r kv.Result) *api.Error {
	var e *api.Error
	switch r.Code {
	case kv.OK:
		return nil
	case kv.VersionMismatch:
		e = apiErr(http.StatusConflict, api.CodeVersionMismatch, "the key's version is %d", r.Version)
	case kv.Exists:
		e = apiErr(http.StatusConflict, api.CodeExists, "the key exists (version %d)", r.Version)
	case kv.SessionExpired:
		e = apiErr(http.StatusConflict, api.CodeSessionExpired, "unknown client session: register a new one")
	case kv.SessionStale:
		e = apiErr(http.StatusConflict, api.CodeSessionStale, "the seq was already acknowledged by the client")
	default:
		e = apiErr(http.StatusBadRequest, api.CodeBadRequest, "malformed command")
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

func writeError(w http.ResponseWriter, e *api.Error) {
	writeJSON(w, e.HTTPStatus, e)
}
