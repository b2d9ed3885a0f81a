package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/tickraft/raft/examples/raftkv/api"
)

var errDropped = errors.New("server: dropped by the test fault hook")

// join asks the members named by Config.Join to add this empty node as a
// learner, following not_leader answers, until one succeeds (the leader
// then starts replicating to it, which starts the replica) or the server
// stops. Promoting it to voter is the operator's change-membership.
func (s *Server) join() {
	defer s.wg.Done()
	body, _ := json.Marshal(api.MemberRequest{ID: s.cfg.NodeID, RaftAddr: s.RaftAddr(), APIAddr: s.APIAddr()})
	for i := 0; s.replica() == nil || s.sm.Nodes()[s.cfg.NodeID] == ""; i++ {
		target := s.cfg.Join[i%len(s.cfg.Join)]
		for hop := 0; hop < 3 && target != ""; hop++ {
			next, err := s.askAdd(target, body)
			if err == nil {
				s.logger.Info("joined the cluster as a learner", slog.String("via", target))
				return
			}
			s.logger.Debug("join attempt", slog.String("via", target), slog.Any("error", err))
			target = next
		}
		select {
		case <-s.stopc:
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// askAdd posts add-learner to one node; on not_leader it returns the
// leader's API address.
func (s *Server) askAdd(target string, body []byte) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.scheme()+"://"+target+"/v1/admin/add-learner", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	resp, err := s.httpClient().Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return "", nil
	}
	var e api.Error
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return e.LeaderAPI, &e
}
