// Package client is the Go client of raftkv, over its HTTP API or its
// binary client protocol: it finds the leader (following not_leader
// answers), retries writes through leader changes and dead nodes within
// the caller's deadline, and makes retried writes exactly-once with a
// client session (Raft thesis §6.3).
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/tickraft/raft/examples/raftkv/api"
	"github.com/tickraft/raft/examples/raftkv/wire"
)

// Options configure a Client.
type Options struct {
	// TLS, when set, talks HTTPS with this config.
	TLS *tls.Config
	// NoSession turns exactly-once sessions off: writes are then retried
	// only when the server says they were not applied.
	NoSession bool
	// AttemptTimeout bounds one request (default 2s), so a dead node costs
	// one attempt, not the whole deadline.
	AttemptTimeout time.Duration
	// DefaultTimeout applies to calls whose context has no deadline
	// (default 10s).
	DefaultTimeout time.Duration
	// ClientAddrs, when set, are the nodes' binary client protocol
	// addresses (their -client-addr): key operations and session
	// registration use that protocol, many calls at once over each
	// connection; admin calls and Status stay on the HTTP API (endpoints).
	ClientAddrs []string
	// ConnsPerNode is the number of binary protocol connections per node
	// (default 1).
	ConnsPerNode int
}

// Client talks to a raftkv cluster. It is safe for concurrent use; its
// writes share one session.
type Client struct {
	endpoints []string
	opts      Options
	http      *http.Client
	scheme    string

	// bin is the binary protocol's connections (nil without
	// Options.ClientAddrs).
	bin *binPool

	mu        sync.Mutex
	leader    string // the endpoint to try first
	binLeader string // the client address to try first

	sessMu      sync.Mutex
	clientID    uint64
	nextSeq     uint64
	outstanding map[uint64]bool
}

// Error is an API error (see the api.Code* constants).
type Error = api.Error

// ErrUnknownOutcome: a write may or may not have been applied (its session
// expired while it was being retried, or sessions are off).
var ErrUnknownOutcome = errors.New("raftkv: write outcome unknown")

// New returns a client of the cluster whose API addresses (host:port) are
// endpoints.
func New(endpoints []string, opts Options) *Client {
	if opts.AttemptTimeout == 0 {
		opts.AttemptTimeout = 2 * time.Second
	}
	if opts.DefaultTimeout == 0 {
		opts.DefaultTimeout = 10 * time.Second
	}
	c := &Client{endpoints: slices.Clone(endpoints), opts: opts, scheme: "http", outstanding: map[uint64]bool{}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	if opts.TLS != nil {
		tr.TLSClientConfig, c.scheme = opts.TLS, "https"
	}
	c.http = &http.Client{Transport: tr}
	if len(endpoints) > 0 {
		c.leader = endpoints[0]
	}
	if len(opts.ClientAddrs) > 0 {
		c.opts.ClientAddrs = slices.Clone(opts.ClientAddrs)
		c.bin, c.binLeader = newBinPool(opts), opts.ClientAddrs[0]
	}
	return c
}

// Close releases idle connections (and closes the binary protocol's: its
// calls in flight fail).
func (c *Client) Close() {
	c.http.CloseIdleConnections()
	if c.bin != nil {
		c.bin.close()
	}
}

// Code returns err's API error code ("" if it is not an API error).
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// IsNotFound reports a get of a missing key.
func IsNotFound(err error) bool { return Code(err) == api.CodeNotFound }

// call is one logical request, retried across nodes.
type call struct {
	method, path string
	query        url.Values
	body         any
	// node pins the request to one endpoint (status, init): no redirects.
	node string
	// write: retried only on errors that say it was not applied, unless it
	// carries a session.
	write, session bool
	// uncertain is set when an attempt failed without saying whether the
	// write was applied.
	uncertain bool
	// bin: over the binary protocol (targets are client addresses).
	bin bool
}

// retryable says whether an error may go to another node, and whether the
// write it answered was certainly not applied.
func retryable(err error) (retry, notApplied bool) {
	var e *Error
	if !errors.As(err, &e) {
		return true, false // network: unknown outcome
	}
	switch e.Code {
	case api.CodeNotLeader, api.CodeNoLeader, api.CodeProposalLost, api.CodeProposalDropped,
		api.CodeNotInitialized, api.CodeNotMember:
		return true, true
	case api.CodeStopped, api.CodeTimeout:
		return true, false
	}
	return false, false
}

func (c *Client) do(ctx context.Context, cl *call, out any) error {
	var body []byte
	if cl.body != nil {
		body, _ = json.Marshal(cl.body)
	}
	return c.retry(ctx, cl, func(ctx context.Context, target string) error {
		return c.once(ctx, target, cl, body, out)
	})
}

// retry runs attempts of cl until one succeeds, following the leader,
// within ctx (DefaultTimeout when it has no deadline).
func (c *Client) retry(ctx context.Context, cl *call, try func(ctx context.Context, target string) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.DefaultTimeout)
		defer cancel()
	}
	target := cl.node
	var last error
	for attempt := 0; ; attempt++ {
		if target == "" {
			target = c.pick(attempt, cl.bin)
		}
		err := try(ctx, target)
		if err == nil {
			if cl.node == "" {
				c.setLeader(target, cl.bin)
			}
			return nil
		}
		last = err
		retry, notApplied := retryable(err)
		if !notApplied && Code(err) != api.CodeSessionExpired {
			cl.uncertain = true
		}
		if !retry || cl.node != "" || (cl.write && !cl.session && !notApplied) || errors.Is(err, errClosed) {
			return err
		}
		var e *Error
		next := ""
		if errors.As(err, &e) && e.Code == api.CodeNotLeader {
			next = e.LeaderAPI // straight there, no wait
			if cl.bin {
				next = e.LeaderClient
			}
		}
		if next == "" {
			if err := sleep(ctx, backoff(attempt)); err != nil {
				return fmt.Errorf("%w (last error: %v)", err, last)
			}
		}
		c.setLeader(next, cl.bin)
		target = next
		if ctx.Err() != nil {
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
		}
	}
}

func backoff(attempt int) time.Duration {
	return min(time.Duration(attempt+1)*25*time.Millisecond, 500*time.Millisecond)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pick returns the leader guess, or rotates through the endpoints (the
// client addresses for bin).
func (c *Client) pick(attempt int, bin bool) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if bin {
		if c.binLeader != "" {
			return c.binLeader
		}
		return c.opts.ClientAddrs[attempt%len(c.opts.ClientAddrs)]
	}
	if c.leader != "" {
		return c.leader
	}
	return c.endpoints[attempt%len(c.endpoints)]
}

func (c *Client) setLeader(addr string, bin bool) {
	c.mu.Lock()
	if bin {
		c.binLeader = addr
	} else {
		c.leader = addr
	}
	c.mu.Unlock()
}

// once sends one HTTP request.
func (c *Client) once(ctx context.Context, target string, cl *call, body []byte, out any) error {
	actx, cancel := context.WithTimeout(ctx, c.opts.AttemptTimeout)
	defer cancel()
	u := c.scheme + "://" + target + cl.path
	q := cl.query
	if q == nil {
		q = url.Values{}
	}
	q.Set("timeout", c.opts.AttemptTimeout.String())
	u += "?" + q.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		e := &Error{HTTPStatus: resp.StatusCode}
		if json.Unmarshal(b, e) != nil || e.Code == "" {
			return fmt.Errorf("raftkv: HTTP %d from %s: %.200s", resp.StatusCode, target, b)
		}
		return e
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// session returns the session and a new seq for a write, registering the
// session first if needed.
func (c *Client) session(ctx context.Context) (id, seq, ackBelow uint64, err error) {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	if c.clientID == 0 {
		id, err := c.register(ctx)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("raftkv: registering a session: %w", err)
		}
		c.clientID, c.nextSeq = id, 1
	}
	seq = c.nextSeq
	c.nextSeq++
	c.outstanding[seq] = true
	ackBelow = seq
	for s := range c.outstanding {
		ackBelow = min(ackBelow, s)
	}
	return c.clientID, seq, ackBelow, nil
}

// register opens a session (retried as a read: a duplicate only leaves
// an unused session).
func (c *Client) register(ctx context.Context) (uint64, error) {
	if c.bin != nil {
		resp, err := c.doBin(ctx, &call{}, &wire.Request{Op: wire.OpRegister})
		if err != nil {
			return 0, err
		}
		return resp.Version, nil
	}
	var r api.RegisterResponse
	err := c.do(ctx, &call{method: http.MethodPost, path: "/v1/sessions"}, &r)
	return r.ClientID, err
}

// done marks a seq answered; on an expired session the next write
// registers a new one.
func (c *Client) done(id, seq uint64, expired bool) {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	if id != c.clientID {
		return
	}
	delete(c.outstanding, seq)
	if expired {
		c.clientID, c.outstanding = 0, map[uint64]bool{}
	}
}

// write sends a write with the session (retried as the same command).
func (c *Client) write(ctx context.Context, req api.WriteRequest) (api.WriteResponse, error) {
	var out api.WriteResponse
	if c.opts.NoSession {
		return c.send(ctx, &call{method: http.MethodPost, path: "/v1/kv", body: &req, write: true}, req)
	}
	for first := true; ; first = false {
		var err error
		req.ClientID, req.Seq, req.AckBelow, err = c.session(ctx)
		if err != nil {
			return out, err
		}
		cl := &call{method: http.MethodPost, path: "/v1/kv", body: &req, write: true, session: true}
		out, err = c.send(ctx, cl, req)
		expired := Code(err) == api.CodeSessionExpired
		c.done(req.ClientID, req.Seq, expired)
		if !expired {
			return out, err
		}
		if cl.uncertain {
			// An earlier attempt may have been applied before the session
			// was evicted: nothing can tell any more.
			return out, fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
		}
		if !first {
			return out, err // expired twice, never applied
		}
		// Every attempt was refused or never applied: nothing was;
		// once more with a new session.
	}
}

// send sends a write over the binary protocol or HTTP.
func (c *Client) send(ctx context.Context, cl *call, req api.WriteRequest) (api.WriteResponse, error) {
	var out api.WriteResponse
	if c.bin == nil {
		err := c.do(ctx, cl, &out)
		return out, err
	}
	breq, err := toBinWrite(req)
	if err != nil {
		return out, err
	}
	resp, err := c.doBin(ctx, cl, breq)
	if err != nil {
		return out, err
	}
	return api.WriteResponse{Op: req.Op, Key: req.Key, Version: resp.Version, Existed: resp.Existed}, nil
}

// Put sets key to value and returns its new version.
func (c *Client) Put(ctx context.Context, key, value string) (uint64, error) {
	r, err := c.write(ctx, api.WriteRequest{Op: "put", Key: key, Value: &value})
	return r.Version, err
}

// CAS sets key to value if its version is version (0: absent). A mismatch
// is an error with code version_mismatch and the current version.
func (c *Client) CAS(ctx context.Context, key, value string, version uint64) (uint64, error) {
	r, err := c.write(ctx, api.WriteRequest{Op: "cas", Key: key, Value: &value, Version: &version})
	return r.Version, err
}

// PutIfAbsent sets key to value unless it exists (code exists).
func (c *Client) PutIfAbsent(ctx context.Context, key, value string) (uint64, error) {
	r, err := c.write(ctx, api.WriteRequest{Op: "put-if-absent", Key: key, Value: &value})
	return r.Version, err
}

// Delete removes key and reports whether it existed.
func (c *Client) Delete(ctx context.Context, key string) (bool, error) {
	r, err := c.write(ctx, api.WriteRequest{Op: "delete", Key: key})
	return r.Existed, err
}

// Consistency of a read: "linearizable" (default), "lease" or "stale".
type Consistency string

// Get reads a key (not found: an error with IsNotFound).
func (c *Client) Get(ctx context.Context, key string, cons Consistency) (api.GetResponse, error) {
	if c.bin != nil {
		return c.getBin(ctx, key, cons)
	}
	var out api.GetResponse
	q := url.Values{}
	if cons != "" {
		q.Set("consistency", string(cons))
	}
	err := c.do(ctx, &call{method: http.MethodGet, path: "/v1/kv/" + escapeKey(key), query: q}, &out)
	return out, err
}

// escapeKey escapes a key for the URL path, keeping its slashes.
func escapeKey(k string) string {
	return (&url.URL{Path: k}).EscapedPath()
}

// ScanOptions select keys: Prefix, or [Start, End); Limit (default 100).
type ScanOptions struct {
	Prefix, Start, End string
	Limit              int
	Consistency        Consistency
}

// Scan reads keys in order.
func (c *Client) Scan(ctx context.Context, o ScanOptions) (api.ScanResponse, error) {
	if c.bin != nil {
		return c.scanBin(ctx, o)
	}
	q := url.Values{}
	for k, v := range map[string]string{"prefix": o.Prefix, "start": o.Start, "end": o.End, "consistency": string(o.Consistency)} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	var out api.ScanResponse
	err := c.do(ctx, &call{method: http.MethodGet, path: "/v1/scan", query: q}, &out)
	return out, err
}

// Status returns node's status (node: an API address; "" the leader, or
// whichever endpoint answers).
func (c *Client) Status(ctx context.Context, node string) (api.Status, error) {
	var out api.Status
	err := c.do(ctx, &call{method: http.MethodGet, path: "/v1/admin/status", node: node}, &out)
	return out, err
}

// Init founds a one-node cluster on node.
func (c *Client) Init(ctx context.Context, node string) (api.Status, error) {
	var out api.Status
	err := c.do(ctx, &call{method: http.MethodPost, path: "/v1/admin/init", node: node}, &out)
	return out, err
}

// AddLearner adds a non-voting member; with wait, returns once it caught
// up.
func (c *Client) AddLearner(ctx context.Context, id uint64, raftAddr, apiAddr string, wait bool) (api.Status, error) {
	var out api.Status
	err := c.do(ctx, c.admin("add-learner", api.MemberRequest{ID: id, RaftAddr: raftAddr, APIAddr: apiAddr, Wait: wait}), &out)
	return out, err
}

// ChangeMembership makes voters the voters (each must be a member).
func (c *Client) ChangeMembership(ctx context.Context, voters ...uint64) (api.Status, error) {
	var out api.Status
	err := c.do(ctx, c.admin("change-membership", api.MembershipRequest{Voters: voters}), &out)
	return out, err
}

// Remove removes a member.
func (c *Client) Remove(ctx context.Context, id uint64) (api.Status, error) {
	var out api.Status
	err := c.do(ctx, c.admin("remove", api.MemberRequest{ID: id}), &out)
	return out, err
}

// TransferLeader hands leadership to id.
func (c *Client) TransferLeader(ctx context.Context, id uint64) (api.Status, error) {
	var out api.Status
	err := c.do(ctx, c.admin("transfer-leader", api.MemberRequest{ID: id}), &out)
	return out, err
}

// admin calls are retried like writes without a session: only when they
// were certainly not carried out.
func (c *Client) admin(op string, body any) *call {
	return &call{method: http.MethodPost, path: "/v1/admin/" + op, body: body, write: true}
}
