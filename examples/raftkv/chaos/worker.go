package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/tickraft/raft/examples/raftkv/api"
)

// KeyPrefix is where the clients' keys live.
const KeyPrefix = "chaos/"

// Keys returns the bounded key set of n keys.
func Keys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%sk%02d", KeyPrefix, i)
	}
	return out
}

// httpClient makes single requests to one node: the workers decide
// themselves where to retry, so they know exactly when an outcome is
// unknown.
type httpClient struct{ c *http.Client }

func newHTTPClient() *httpClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &httpClient{c: &http.Client{Transport: tr}}
}

// call returns a network error, or the API error, or fills out.
func (h *httpClient) call(ctx context.Context, method, addr, path string, q url.Values, body, out any) (*api.Error, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	u := "http://" + addr + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	resp, err := h.c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		e := &api.Error{HTTPStatus: resp.StatusCode}
		if json.Unmarshal(b, e) != nil || e.Code == "" {
			return nil, fmt.Errorf("HTTP %d from %s: %.200s", resp.StatusCode, addr, b)
		}
		return e, nil
	}
	if out != nil {
		return nil, json.Unmarshal(b, out)
	}
	return nil, nil
}

// worker is one client: it runs operations one at a time, with its own
// exactly-once session, and records them.
type worker struct {
	id       int
	r        *run
	rng      *rand.Rand
	h        *httpClient
	client   int // porcupine client id: fresh after an unknown outcome
	leader   string
	session  uint64
	seq      uint64
	n        int
	versions map[string]uint64 // last version seen per key (cas targets)
}

// Operation timeouts: one attempt, and one operation with its retries.
const (
	attemptTimeout = time.Second
	opTimeout      = 4 * time.Second
)

func (w *worker) loop(ctx context.Context) {
	for ctx.Err() == nil {
		key := w.r.keys[w.rng.IntN(len(w.r.keys))]
		switch p := w.rng.IntN(100); {
		case p < 40:
			w.get(ctx, key)
		case p < 70:
			w.write(ctx, Input{Op: OpPut, Key: key, Value: w.value()})
		case p < 90:
			expect := w.versions[key]
			if w.rng.IntN(5) == 0 {
				expect = uint64(w.rng.IntN(3)) // absent, or most likely wrong
			}
			w.write(ctx, Input{Op: OpCAS, Key: key, Value: w.value(), Expect: expect})
		default:
			w.write(ctx, Input{Op: OpDelete, Key: key})
		}
	}
}

func (w *worker) value() string {
	w.n++
	return fmt.Sprintf("w%d-%d", w.id, w.n)
}

// target returns the node to try: the leader guess, or any node.
func (w *worker) target(any bool) string {
	eps := w.r.endpoints()
	if w.leader != "" && !any {
		return w.leader
	}
	return eps[w.rng.IntN(len(eps))]
}

func (w *worker) get(ctx context.Context, key string) {
	q := url.Values{"timeout": {attemptTimeout.String()}}
	if w.r.cfg.LeaseReads && w.rng.IntN(2) == 0 {
		q.Set("consistency", "lease")
	}
	node := w.target(true) // reads go to any node
	actx, cancel := context.WithTimeout(ctx, attemptTimeout+time.Second)
	defer cancel()
	call := w.r.rec.Now()
	var resp api.GetResponse
	e, err := w.h.call(actx, http.MethodGet, node, "/v1/kv/"+key, q, nil, &resp)
	ret := w.r.rec.Now()
	switch {
	case err != nil:
		return // observed nothing
	case e == nil:
		w.r.rec.Add(Op{Client: w.client, In: Input{Op: OpGet, Key: key}, Out: Output{OK: true, Value: resp.Value, Version: resp.Version}, Call: call, Return: ret, Node: node})
		w.versions[key] = resp.Version
	case e.Code == api.CodeNotFound:
		w.r.rec.Add(Op{Client: w.client, In: Input{Op: OpGet, Key: key}, Out: Output{}, Call: call, Return: ret, Node: node})
		w.versions[key] = 0
	}
}

// register opens a session (not part of the history).
func (w *worker) register(ctx context.Context) bool {
	for ctx.Err() == nil {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		var r api.RegisterResponse
		node := w.target(false)
		e, err := w.h.call(actx, http.MethodPost, node, "/v1/sessions", url.Values{"timeout": {attemptTimeout.String()}}, nil, &r)
		cancel()
		if err == nil && e == nil {
			w.session, w.seq, w.leader = r.ClientID, 0, node
			return true
		}
		w.redirect(e)
		sleep(ctx, 50*time.Millisecond)
	}
	return false
}

func (w *worker) redirect(e *api.Error) {
	if e != nil && e.Code == api.CodeNotLeader && e.LeaderAPI != "" {
		w.leader = e.LeaderAPI
	} else {
		w.leader = ""
	}
}

// notApplied are the errors that say a write was not applied.
var notApplied = map[string]bool{api.CodeNotLeader: true, api.CodeNoLeader: true, api.CodeProposalLost: true,
	api.CodeProposalDropped: true, api.CodeNotInitialized: true, api.CodeNotMember: true}

func (w *worker) write(ctx context.Context, in Input) {
	if w.session == 0 && !w.register(ctx) {
		return
	}
	w.seq++
	req := api.WriteRequest{Op: in.Op, Key: in.Key, ClientID: w.session, Seq: w.seq, AckBelow: w.seq}
	if in.Op != OpDelete {
		req.Value = &in.Value
	}
	if in.Op == OpCAS {
		req.Version = &in.Expect
	}
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	op := Op{Client: w.client, In: in, Call: w.r.rec.Now()}
	unknown := false
	for attempt := 0; octx.Err() == nil; attempt++ {
		node := w.target(attempt > 0 && w.leader == "")
		op.Node = node
		actx, acancel := context.WithTimeout(octx, attemptTimeout)
		var resp api.WriteResponse
		e, err := w.h.call(actx, http.MethodPost, node, "/v1/kv", url.Values{"timeout": {attemptTimeout.String()}}, &req, &resp)
		acancel()
		switch {
		case err == nil && e == nil:
			op.Out, op.Return = Output{OK: in.Op != OpDelete || resp.Existed, Version: resp.Version}, w.r.rec.Now()
			if in.Op == OpDelete {
				op.Out.Version = 0
			}
			w.finish(op)
			w.duplicate(ctx, req, resp)
			return
		case err != nil:
			unknown, op.Err = true, err.Error()
			w.leader = ""
		case e.Code == api.CodeVersionMismatch && in.Op == OpCAS:
			op.Out, op.Return = Output{Version: e.Version}, w.r.rec.Now()
			w.finish(op)
			return
		case e.Code == api.CodeSessionExpired && !unknown:
			// Nothing was applied under the old session: a new one.
			if !w.register(octx) {
				break
			}
			req.ClientID, req.Seq, req.AckBelow = w.session, 1, 1
			w.seq = 1
			continue
		case e.Code == api.CodeSessionExpired || e.Code == api.CodeSessionStale:
			unknown, op.Err = true, e.Error()
			octxGiveUp(cancel)
			continue
		case notApplied[e.Code]:
			w.redirect(e)
		default:
			unknown, op.Err = true, e.Error()
			w.leader = ""
		}
		if w.leader == "" {
			sleep(octx, time.Duration(min(attempt+1, 8))*25*time.Millisecond)
		}
	}
	if !unknown {
		return // certainly not applied: nothing happened
	}
	op.Out = Output{Unknown: true}
	w.r.rec.Add(op)
	w.client = w.r.rec.NewClient()
	w.session = 0 // its outstanding seq is never retried: start afresh
}

func (w *worker) finish(op Op) {
	w.r.rec.Add(op)
	if op.In.Op == OpDelete {
		w.versions[op.In.Key] = 0
	} else if op.Out.OK || op.In.Op == OpPut {
		w.versions[op.In.Key] = op.Out.Version
	} else {
		w.versions[op.In.Key] = op.Out.Version
	}
}

// duplicate sometimes sends an answered write again, as a client whose
// answer was lost would: the session must answer with the first result and
// apply nothing.
func (w *worker) duplicate(ctx context.Context, req api.WriteRequest, first api.WriteResponse) {
	if w.rng.IntN(10) != 0 {
		return
	}
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	var resp api.WriteResponse
	node := w.target(true)
	e, err := w.h.call(actx, http.MethodPost, node, "/v1/kv", url.Values{"timeout": {attemptTimeout.String()}}, &req, &resp)
	if err != nil || e != nil {
		return // no answer, or not the leader: nothing learned
	}
	w.r.dupChecked.Add(1)
	if resp.Version != first.Version || resp.Existed != first.Existed {
		w.r.violation(fmt.Errorf("exactly-once: write %s seq %d/%d sent again to %s answered %+v, first answer %+v",
			req.Op, req.ClientID, req.Seq, node, resp, first))
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// octxGiveUp ends an operation's retries (its outcome stays as known).
func octxGiveUp(cancel context.CancelFunc) { cancel() }
