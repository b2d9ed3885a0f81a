package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/tickraft/raft/examples/raftkv/api"
	"github.com/tickraft/raft/examples/raftkv/kv"
	"github.com/tickraft/raft/replica"
)

// handleInit founds a one-node cluster of this node.
func (s *Server) handleInit(w http.ResponseWriter, r *http.Request) error {
	if err := decodeBody(r, &struct{}{}); err != nil {
		return err
	}
	err := s.startReplica([]replica.Member{{ID: s.cfg.NodeID, Addr: s.RaftAddr()}})
	if err == errStarted {
		return apiErr(http.StatusConflict, api.CodeAlreadyInit, "node %d is already part of a cluster", s.cfg.NodeID)
	}
	if err != nil {
		return err
	}
	rep := s.replica()
	// Answer once the node leads and its API address is recorded, so the
	// next call (add-learner) finds a working leader.
	if err := rep.WaitFor(r.Context(), func(m replica.Metrics) bool { return m.Leader == s.cfg.NodeID }); err != nil {
		return err
	}
	for s.sm.Nodes()[s.cfg.NodeID] == "" {
		select {
		case <-r.Context().Done():
			return r.Context().Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return s.writeStatus(w, r)
}

func (s *Server) handleAddLearner(w http.ResponseWriter, r *http.Request) error {
	var req api.MemberRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.ID == 0 || req.RaftAddr == "" {
		return apiErr(http.StatusBadRequest, api.CodeBadRequest, "add-learner needs id and raft_addr (and api_addr)")
	}
	rep, err := s.running()
	if err != nil {
		return err
	}
	if !rep.IsLeader() {
		return &replica.NotLeaderError{LeaderID: rep.Leader().ID, LeaderAddr: rep.Leader().Addr}
	}
	if req.APIAddr != "" {
		if _, err := s.propose(r.Context(), kv.Request{Op: kv.OpSetNode, Version: req.ID, Value: []byte(req.APIAddr)}); err != nil {
			return err
		}
		// The new node must know where the members are before the log
		// reaches it: its answers to the leader go out on its own
		// connections.
		if err := s.introduce(r.Context(), rep, req.APIAddr); err != nil {
			return apiErr(http.StatusBadGateway, api.CodeInternal, "telling node %d (%s) the members' addresses: %v", req.ID, req.APIAddr, err)
		}
	}
	if err := rep.AddLearner(r.Context(), req.ID, req.RaftAddr, req.Wait); err != nil {
		return err
	}
	return s.writeStatus(w, r)
}

func (s *Server) handleChangeMembership(w http.ResponseWriter, r *http.Request) error {
	var req api.MembershipRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if len(req.Voters) == 0 {
		return apiErr(http.StatusBadRequest, api.CodeBadRequest, "change-membership needs voters")
	}
	rep, err := s.running()
	if err != nil {
		return err
	}
	ms, err := rep.Membership(r.Context())
	if err != nil {
		return err
	}
	addrs := map[uint64]string{}
	for _, m := range append(ms.Voters, ms.Learners...) {
		addrs[m.ID] = m.Addr
	}
	var voters []replica.Member
	for _, id := range req.Voters {
		a, ok := addrs[id]
		if !ok {
			return apiErr(http.StatusBadRequest, api.CodeBadRequest, "node %d is not a member: add it as a learner first", id)
		}
		voters = append(voters, replica.Member{ID: id, Addr: a})
	}
	if err := rep.ChangeMembership(r.Context(), voters...); err != nil {
		return err
	}
	return s.writeStatus(w, r)
}

func (s *Server) handleRemove(w http.ResponseWriter, r *http.Request) error {
	return s.memberCall(w, r, "remove", (*replica.Replica).RemoveNode)
}

func (s *Server) handleTransfer(w http.ResponseWriter, r *http.Request) error {
	return s.memberCall(w, r, "transfer-leader", (*replica.Replica).TransferLeadership)
}

// memberCall serves an admin call that names one member by id: it decodes
// the request, runs do on the replica and answers with the status.
func (s *Server) memberCall(w http.ResponseWriter, r *http.Request, name string,
	do func(*replica.Replica, context.Context, uint64) error) error {
	var req api.MemberRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	rep, err := s.running()
	if err != nil {
		return err
	}
	if req.ID == 0 {
		return apiErr(http.StatusBadRequest, api.CodeBadRequest, "%s needs an id", name)
	}
	if err := do(rep, r.Context(), req.ID); err != nil {
		return err
	}
	return s.writeStatus(w, r)
}

// introduce sends the members' raft addresses to a new node's API.
func (s *Server) introduce(ctx context.Context, rep *replica.Replica, target string) error {
	ms, err := rep.Membership(ctx)
	if err != nil {
		return err
	}
	var req api.PeersRequest
	for _, m := range append(ms.Voters, ms.Learners...) {
		req.Members = append(req.Members, api.MemberRequest{ID: m.ID, RaftAddr: m.Addr})
	}
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, s.scheme()+"://"+target+"/v1/internal/peers", bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := s.httpClient().Do(hr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	return nil
}

func (s *Server) handlePeers(w http.ResponseWriter, r *http.Request) error {
	var req api.PeersRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	for _, m := range req.Members {
		if m.ID != s.cfg.NodeID && m.ID != 0 && m.RaftAddr != "" {
			if err := s.gate.AddPeer(m.ID, m.RaftAddr); err != nil {
				return err
			}
		}
	}
	writeJSON(w, http.StatusOK, req)
	return nil
}

func (s *Server) handleDiskFault(w http.ResponseWriter, r *http.Request) error {
	var req api.DiskFaultRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	s.diskFail.Store(req.Fail)
	writeJSON(w, http.StatusOK, req)
	return nil
}

func (s *Server) handleFaults(w http.ResponseWriter, r *http.Request) error {
	var req api.FaultsRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	s.gate.setFaults(req.DropTo, req.DropFrom)
	writeJSON(w, http.StatusOK, req)
	return nil
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) error {
	return s.writeStatus(w, r)
}

func (s *Server) writeStatus(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.Status(r.Context()))
	return nil
}

// Status reports the node's view of the cluster.
func (s *Server) Status(ctx context.Context) api.Status {
	st := api.Status{NodeID: s.cfg.NodeID, ClusterID: s.cfg.ClusterID, Members: []api.MemberStatus{}, Uptime: time.Since(s.start).Round(time.Second).String()}
	sms := s.sm.Stats()
	st.SM = api.SMStatus{Kind: s.cfg.StateMachine, Keys: sms.Keys, Sessions: sms.Sessions, Applied: sms.Applied, Restores: sms.Restores}
	st.Leaders = s.leaders.list()
	rep := s.replica()
	if rep == nil {
		st.Role = "uninitialized"
		return st
	}
	st.Initialized = true
	m := rep.Metrics()
	st.Role, st.Term, st.Commit, st.Applied, st.Snapshot, st.LastIndex, st.Joint = m.Role, m.Term, m.Commit, m.Applied, m.Snapshot, m.LastIndex, m.Joint
	st.Snapshots = api.SnapshotStatus{Taken: m.SnapshotsTaken, Sent: m.SnapshotsSent, Received: m.SnapshotsReceived, Installed: m.SnapshotsInstalled}
	if m.Err != nil {
		st.Error = m.Err.Error()
		st.Role = "failed"
	}
	nodes := s.sm.Nodes()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	ms, err := rep.Membership(ctx)
	if err == nil {
		add := func(list []replica.Member, role string) {
			for _, mem := range list {
				e := api.MemberStatus{ID: mem.ID, Role: role, RaftAddr: mem.Addr}
				e.APIAddr, e.ClientAddr = splitNodeRecord(nodes[mem.ID])
				if p, ok := m.Peers[mem.ID]; ok {
					e.Match, e.Next, e.Lag, e.State = p.Match, p.Next, p.Lag, p.State
				}
				st.Members = append(st.Members, e)
			}
		}
		add(ms.Voters, "voter")
		add(ms.Learners, "learner")
		slices.SortFunc(st.Members, func(a, b api.MemberStatus) int { return int(a.ID) - int(b.ID) })
	}
	if m.Leader != 0 {
		l := rep.Leader()
		st.Leader = &api.MemberStatus{ID: m.Leader, RaftAddr: l.Addr}
		st.Leader.APIAddr, st.Leader.ClientAddr = splitNodeRecord(nodes[m.Leader])
	}
	return st
}

// leaderLog keeps the most recent leader changes this node saw.
type leaderLog struct {
	mu      sync.Mutex
	changes []api.LeaderChange
}

func (l *leaderLog) add(c api.LeaderChange) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.changes = append(l.changes, c)
	if len(l.changes) > 20 {
		l.changes = l.changes[len(l.changes)-20:]
	}
}

func (l *leaderLog) list() []api.LeaderChange {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]api.LeaderChange{}, l.changes...)
}

// watchLeader records every change of leader or term.
func (s *Server) watchLeader(r *replica.Replica) {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stopc:
		case <-r.Done():
		}
		cancel()
	}()
	var leader uint64
	for {
		err := r.WaitFor(ctx, func(m replica.Metrics) bool { return m.Leader != leader })
		if err != nil {
			return
		}
		m := r.Metrics()
		if m.Leader == leader {
			continue
		}
		leader = m.Leader
		if leader != 0 {
			s.leaders.add(api.LeaderChange{Time: time.Now(), Term: m.Term, Leader: leader})
			s.logger.Info("leader changed", "leader", leader, "term", m.Term)
		}
	}
}
