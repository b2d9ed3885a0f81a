package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/tickraft/raft/examples/raftkv/api"
	"github.com/tickraft/raft/examples/raftkv/kv"
	"github.com/tickraft/raft/replica"
)

// handler is an API handler; a returned error becomes a JSON error.
type handler func(w http.ResponseWriter, r *http.Request) error

// routes is the API: key operations under /v1/kv, admin under /v1/admin.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	table := []struct {
		pattern string
		h       handler
	}{
		{"GET /v1/kv/{key...}", s.handleGet},
		{"PUT /v1/kv/{key...}", s.handlePut},
		{"DELETE /v1/kv/{key...}", s.handleDelete},
		{"POST /v1/kv", s.handleCommand},
		{"GET /v1/scan", s.handleScan},
		{"POST /v1/sessions", s.handleRegister},
		{"POST /v1/admin/init", s.handleInit},
		{"POST /v1/admin/add-learner", s.handleAddLearner},
		{"POST /v1/admin/change-membership", s.handleChangeMembership},
		{"POST /v1/admin/remove", s.handleRemove},
		{"POST /v1/admin/transfer-leader", s.handleTransfer},
		{"GET /v1/admin/status", s.handleStatus},
		{"POST /v1/internal/propose", s.handleInternalPropose},
		{"POST /v1/internal/peers", s.handlePeers},
		{"GET /{$}", s.handlePage},
	}
	if s.cfg.TestHooks {
		table = append(table, struct {
			pattern string
			h       handler
		}{"POST /v1/test/faults", s.handleFaults}, struct {
			pattern string
			h       handler
		}{"POST /v1/test/disk", s.handleDiskFault})
	}
	for _, e := range table {
		mux.Handle(e.pattern, s.met.instrument(e.pattern, s.wrap(e.h)))
	}
	mux.Handle("GET /metrics", s.met.handler())
	if s.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.Handle("/", s.met.instrument("other", s.wrap(func(http.ResponseWriter, *http.Request) error {
		return apiErr(http.StatusNotFound, api.CodeUnknownOp, "no such endpoint")
	})))
	return mux
}

func (s *Server) wrap(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodySize)
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout(r))
		defer cancel()
		if err := h(w, r.WithContext(ctx)); err != nil {
			writeError(w, s.toError(err))
		}
	})
}

// requestTimeout is ?timeout= (a Go duration), default 5s, at most 1m.
func requestTimeout(r *http.Request) time.Duration {
	if d, err := time.ParseDuration(r.URL.Query().Get("timeout")); err == nil && d > 0 {
		return min(d, time.Minute)
	}
	return 5 * time.Second
}

// running returns the replica, or not_initialized.
func (s *Server) running() (*replica.Replica, error) {
	if r := s.replica(); r != nil {
		return r, nil
	}
	return nil, apiErr(http.StatusServiceUnavailable, api.CodeNotInitialized, "node %d is not part of a cluster yet: init it or add it as a learner", s.cfg.NodeID)
}

// decodeBody reads a JSON body strictly into v (an empty body leaves v).
func decodeBody(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return apiErr(http.StatusRequestEntityTooLarge, api.CodeBodyTooLarge, "the body exceeds %d bytes", mbe.Limit)
	}
	if err != nil {
		return apiErr(http.StatusBadRequest, api.CodeBadRequest, "reading the body: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apiErr(http.StatusBadRequest, api.CodeBadRequest, "malformed JSON: %v", err)
	}
	if dec.More() {
		return apiErr(http.StatusBadRequest, api.CodeBadRequest, "malformed JSON: more than one value")
	}
	return nil
}

var ops = map[string]kv.Op{"put": kv.OpPut, "delete": kv.OpDelete, "cas": kv.OpCAS, "put-if-absent": kv.OpPutIfAbsent}

func (s *Server) handlePut(w http.ResponseWriter, r *http.Request) error {
	var req api.WriteRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	req.Key, req.Op = r.PathValue("key"), "put"
	switch {
	case req.IfAbsent && req.Version != nil:
		return apiErr(http.StatusBadRequest, api.CodeBadRequest, "if_absent and version exclude each other")
	case req.IfAbsent:
		req.Op = "put-if-absent"
	case req.Version != nil:
		req.Op = "cas"
	}
	return s.write(w, r, req)
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) error {
	var req api.WriteRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	req.Key, req.Op = r.PathValue("key"), "delete"
	return s.write(w, r, req)
}

func (s *Server) handleCommand(w http.ResponseWriter, r *http.Request) error {
	var req api.WriteRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	return s.write(w, r, req)
}

// toRequest validates a write and builds its command.
func (s *Server) toRequest(req api.WriteRequest) (kv.Request, error) {
	op, ok := ops[req.Op]
	if !ok {
		return kv.Request{}, apiErr(http.StatusBadRequest, api.CodeUnknownOp, "unknown operation %q (put, delete, cas, put-if-absent)", req.Op)
	}
	w := writeShape{op: op, name: req.Op, key: []byte(req.Key), hasValue: req.Value != nil, hasVersion: req.Version != nil,
		clientID: req.ClientID, seq: req.Seq, ackBelow: req.AckBelow}
	if req.Value != nil {
		w.value = []byte(*req.Value)
	}
	if req.Version != nil {
		w.version = *req.Version
	}
	return s.checkWrite(w)
}

// writeShape is a write as either API states it.
type writeShape struct {
	op                      kv.Op
	name                    string
	key, value              []byte
	hasValue, hasVersion    bool
	version                 uint64
	clientID, seq, ackBelow uint64
}

// checkWrite validates a write (the same rules and errors for both APIs)
// and builds its command; key and value are not copied.
func (s *Server) checkWrite(w writeShape) (kv.Request, error) {
	switch {
	case len(w.key) == 0:
		return kv.Request{}, apiErr(http.StatusBadRequest, api.CodeBadRequest, "the key is empty")
	case len(w.key) > s.cfg.MaxKeySize:
		return kv.Request{}, apiErr(http.StatusRequestEntityTooLarge, api.CodeKeyTooLarge, "the key exceeds %d bytes", s.cfg.MaxKeySize)
	case w.hasValue && len(w.value) > s.cfg.MaxValueSize:
		return kv.Request{}, apiErr(http.StatusRequestEntityTooLarge, api.CodeValueTooLarge, "the value exceeds %d bytes", s.cfg.MaxValueSize)
	case w.op != kv.OpDelete && !w.hasValue:
		return kv.Request{}, apiErr(http.StatusBadRequest, api.CodeBadRequest, "%s needs a value", w.name)
	case w.op == kv.OpDelete && w.hasValue:
		return kv.Request{}, apiErr(http.StatusBadRequest, api.CodeBadRequest, "delete takes no value")
	case w.op == kv.OpCAS && !w.hasVersion:
		return kv.Request{}, apiErr(http.StatusBadRequest, api.CodeBadRequest, "cas needs a version (0: absent)")
	case w.op != kv.OpCAS && w.hasVersion:
		return kv.Request{}, apiErr(http.StatusBadRequest, api.CodeBadRequest, "only cas takes a version")
	case (w.clientID == 0) != (w.seq == 0):
		return kv.Request{}, apiErr(http.StatusBadRequest, api.CodeBadRequest, "client_id and seq go together")
	}
	return kv.Request{Op: w.op, Key: w.key, Value: w.value, Version: w.version, ClientID: w.clientID, Seq: w.seq, AckBelow: w.ackBelow}, nil
}

func (s *Server) write(w http.ResponseWriter, r *http.Request, req api.WriteRequest) error {
	cmd, err := s.toRequest(req)
	if err != nil {
		return err
	}
	res, err := s.propose(r.Context(), cmd)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.WriteResponse{Op: req.Op, Key: req.Key, Version: res.Version, Existed: res.Existed})
	return nil
}

// propose replicates a command and returns its result (an error for a
// refused one).
func (s *Server) propose(ctx context.Context, req kv.Request) (kv.Result, error) {
	return s.proposeCmd(ctx, req.Encode(nil))
}

// proposeCmd is propose of an encoded command (the replica copies it).
func (s *Server) proposeCmd(ctx context.Context, cmd []byte) (kv.Result, error) {
	rep, err := s.running()
	if err != nil {
		return kv.Result{}, err
	}
	out, err := rep.Propose(ctx, cmd)
	if err != nil {
		return kv.Result{}, err
	}
	res, ok := out.(kv.Result)
	if !ok {
		return kv.Result{}, fmt.Errorf("unexpected result %T", out)
	}
	if e := resultError(res); e != nil {
		return res, e
	}
	return res, nil
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) error {
	res, err := s.propose(r.Context(), kv.Request{Op: kv.OpRegister})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.RegisterResponse{ClientID: res.Version})
	return nil
}

// read waits for the consistency asked by ?consistency= and returns the
// index the read reflects and the consistency served.
func (s *Server) read(r *http.Request) (uint64, string, error) {
	return s.readAt(r.Context(), r.URL.Query().Get("consistency"))
}

// readAt waits for the named consistency ("": linearizable).
func (s *Server) readAt(ctx context.Context, name string) (uint64, string, error) {
	rep, err := s.running()
	if err != nil {
		return 0, "", err
	}
	c := replica.Linearizable
	switch name {
	case "", "linearizable":
		name = "linearizable"
	case "lease":
		if !s.cfg.LeaseReads {
			name = "linearizable" // no lease on this node: the stronger read
		}
	case "stale":
		c = replica.Stale
	default:
		return 0, "", apiErr(http.StatusBadRequest, api.CodeBadRequest, "unknown consistency %q (linearizable, lease, stale)", name)
	}
	if plantedBug(bugStaleReads) { // chaos tests' planted bug (planted.go)
		c = replica.Stale
	}
	idx, err := rep.Read(ctx, c)
	return idx, name, err
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) error {
	key := r.PathValue("key")
	if key == "" {
		return apiErr(http.StatusBadRequest, api.CodeBadRequest, "the key is empty")
	}
	idx, cons, err := s.read(r)
	if err != nil {
		return err
	}
	got, ok, err := s.sm.Get([]byte(key))
	if err != nil {
		return err
	}
	if !ok {
		return apiErr(http.StatusNotFound, api.CodeNotFound, "no key %q", key)
	}
	writeJSON(w, http.StatusOK, api.GetResponse{KeyValue: api.KeyValue{Key: key, Value: string(got.Value), Version: got.Version}, Consistency: cons, ReadIndex: idx})
	return nil
}

// handleScan serves ?prefix= or ?start=&end= (end exclusive), ?limit=
// (default 100, at most 10000).
func (s *Server) handleScan(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := 100
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 || n > 10000 {
			return apiErr(http.StatusBadRequest, api.CodeBadRequest, "limit must be 1..10000")
		}
		limit = n
	}
	start, end := []byte(q.Get("start")), []byte(q.Get("end"))
	if p := q.Get("prefix"); p != "" {
		if q.Has("start") || q.Has("end") {
			return apiErr(http.StatusBadRequest, api.CodeBadRequest, "prefix excludes start and end")
		}
		start, end = []byte(p), kv.PrefixEnd([]byte(p))
	} else if len(end) == 0 {
		end = nil
	}
	kvs, more, idx, cons, err := s.scan(r.Context(), q.Get("consistency"), start, end, limit)
	if err != nil {
		return err
	}
	resp := api.ScanResponse{KVs: []api.KeyValue{}, More: more, Consistency: cons, ReadIndex: idx}
	for _, e := range kvs {
		resp.KVs = append(resp.KVs, api.KeyValue{Key: string(e.Key), Value: string(e.Value), Version: e.Version})
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// scan reads up to limit keys of [start, end) after the read barrier.
func (s *Server) scan(ctx context.Context, consistency string, start, end []byte, limit int) (kvs []kv.KV, more bool, idx uint64, cons string, err error) {
	idx, cons, err = s.readAt(ctx, consistency)
	if err != nil {
		return nil, false, 0, "", err
	}
	kvs, err = s.sm.Scan(start, end, limit+1)
	if err != nil {
		return nil, false, 0, "", err
	}
	if len(kvs) > limit {
		kvs, more = kvs[:limit], true
	}
	return kvs, more, idx, cons, nil
}

// handleInternalPropose is the leader's end of forwarding: the body is an
// encoded command, the answer its kv.Result.
func (s *Server) handleInternalPropose(w http.ResponseWriter, r *http.Request) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return apiErr(http.StatusRequestEntityTooLarge, api.CodeBodyTooLarge, "%v", err)
	}
	req, err := kv.Decode(b)
	if err != nil {
		return apiErr(http.StatusBadRequest, api.CodeBadRequest, "%v", err)
	}
	rep, err := s.running()
	if err != nil {
		return err
	}
	res, err := rep.Propose(r.Context(), req.Encode(nil))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// forward implements replica.ForwardFunc over the leader's internal
// propose endpoint; the leader's errors come back as the replica's.
func (s *Server) forward(ctx context.Context, leader replica.Member, cmd []byte) (any, error) {
	target, _ := splitNodeRecord(s.sm.Nodes()[leader.ID])
	if target == "" {
		return nil, &replica.NotLeaderError{LeaderID: leader.ID, LeaderAddr: leader.Addr}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.scheme()+"://"+target+"/v1/internal/propose", bytes.NewReader(cmd))
	if err != nil {
		return nil, err
	}
	resp, err := s.httpClient().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, replica.ErrNoLeader
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		var res kv.Result
		if err := json.Unmarshal(body, &res); err != nil {
			return nil, fmt.Errorf("forwarded write: %w", err)
		}
		return res, nil
	}
	var e api.Error
	if err := json.Unmarshal(body, &e); err != nil || e.Code == "" {
		return nil, fmt.Errorf("forwarded write: HTTP %d", resp.StatusCode)
	}
	e.HTTPStatus = resp.StatusCode
	if e.Code == api.CodeNotLeader || e.Code == api.CodeNoLeader {
		return nil, replica.ErrNoLeader // leadership moved on: the client retries
	}
	return nil, &e
}

func (s *Server) scheme() string {
	if s.cfg.TLS != nil {
		return "https"
	}
	return "http"
}

func (s *Server) httpClient() *http.Client {
	s.clientOnce.Do(func() {
		s.client = http.DefaultClient
		if s.cfg.TLS != nil {
			c := s.cfg.TLS.Clone()
			c.NextProtos = nil
			s.client = &http.Client{Transport: &http.Transport{TLSClientConfig: c}}
		}
	})
	return s.client
}
