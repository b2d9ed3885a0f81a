package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickraft/raft/examples/raftkv/api"
	"github.com/tickraft/raft/examples/raftkv/wire"
)

// The binary client protocol (package wire): each node gets up to
// ConnsPerNode connections, each carrying any number of calls at once.
// Callers queue frames to one writer goroutine per connection, which
// flushes when no other frame is waiting; one reader goroutine hands each
// answer to its caller by request ID.

// binPool holds the connections, by node address.
type binPool struct {
	tls *tls.Config
	per int

	mu     sync.Mutex
	nodes  map[string][]*binSlot
	closed bool
	rr     atomic.Uint64
}

// binSlot is one connection to a node, dialed on first use and again after
// it broke.
type binSlot struct {
	mu sync.Mutex
	c  *binConn
}

func newBinPool(opts Options) *binPool {
	per := opts.ConnsPerNode
	if per <= 0 {
		per = 1
	}
	return &binPool{tls: opts.TLS, per: per, nodes: map[string][]*binSlot{}}
}

var errClosed = errors.New("raftkv: client closed")

func (p *binPool) get(ctx context.Context, addr string) (*binConn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errClosed
	}
	slots := p.nodes[addr]
	if slots == nil {
		slots = make([]*binSlot, p.per)
		for i := range slots {
			slots[i] = &binSlot{}
		}
		p.nodes[addr] = slots
	}
	p.mu.Unlock()
	s := slots[p.rr.Add(1)%uint64(len(slots))]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != nil && s.c.broken() == nil {
		return s.c, nil
	}
	c, err := dialBin(ctx, addr, p.tls)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.fail(errClosed)
		return nil, errClosed
	}
	s.c = c
	return c, nil
}

func (p *binPool) close() {
	p.mu.Lock()
	p.closed = true
	nodes := p.nodes
	p.nodes = nil
	p.mu.Unlock()
	for _, slots := range nodes {
		for _, s := range slots {
			s.mu.Lock()
			if s.c != nil {
				s.c.fail(errClosed)
			}
			s.mu.Unlock()
		}
	}
}

// binConn is one connection and its calls in flight.
type binConn struct {
	addr     string
	nc       net.Conn
	maxFrame int // the largest request frame the server takes
	wq       chan *[]byte
	done     chan struct{} // closed when the connection broke

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan binResult
	err     error // why it broke
}

type binResult struct {
	resp *wire.Response
	err  error
}

func dialBin(ctx context.Context, addr string, tc *tls.Config) (*binConn, error) {
	var nc net.Conn
	var err error
	if tc != nil {
		nc, err = (&tls.Dialer{Config: tc}).DialContext(ctx, "tcp", addr)
	} else {
		nc, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	if d, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(d)
	}
	greet := make([]byte, wire.HelloSize+4)
	if _, err = nc.Write(wire.Hello()); err == nil {
		_, err = io.ReadFull(nc, greet)
	}
	if err == nil {
		err = wire.CheckHello(greet[:wire.HelloSize])
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("raftkv: client protocol handshake with %s: %w", addr, err)
	}
	_ = nc.SetDeadline(time.Time{})
	c := &binConn{addr: addr, nc: nc, maxFrame: int(binary.BigEndian.Uint32(greet[wire.HelloSize:])),
		wq: make(chan *[]byte, 256), done: make(chan struct{}), pending: map[uint64]chan binResult{}}
	go c.readLoop()
	go c.writeLoop()
	return c, nil
}

func (c *binConn) broken() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// fail breaks the connection: every call in flight gets err (an unknown
// outcome for a write, as a lost HTTP connection).
func (c *binConn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	if err != errClosed {
		err = fmt.Errorf("raftkv: connection to %s: %v", c.addr, err)
	}
	c.err = err
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	close(c.done)
	c.nc.Close()
	for _, ch := range pending {
		ch <- binResult{err: err}
	}
}

var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// call sends req (its ID is set here) and waits for its answer or ctx; a
// call given up on is canceled on the server too.
func (c *binConn) call(ctx context.Context, req *wire.Request) (*wire.Response, error) {
	ch := make(chan binResult, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.nextID++
	req.ID = c.nextID
	c.pending[req.ID] = ch
	c.mu.Unlock()
	bp := framePool.Get().(*[]byte)
	*bp = wire.AppendRequest((*bp)[:0], req)
	if len(*bp)-4 > c.maxFrame {
		framePool.Put(bp)
		c.forget(req.ID)
		return nil, &Error{HTTPStatus: http.StatusRequestEntityTooLarge, Code: api.CodeBodyTooLarge,
			Message: fmt.Sprintf("the request takes %d bytes, the server's limit is %d", len(*bp)-4, c.maxFrame)}
	}
	select {
	case c.wq <- bp:
	case <-c.done:
		framePool.Put(bp)
		return nil, c.broken()
	case <-ctx.Done():
		framePool.Put(bp)
		c.forget(req.ID)
		return nil, ctx.Err()
	}
	select {
	case r := <-ch:
		return r.resp, r.err
	case <-ctx.Done():
		if c.forget(req.ID) {
			cb := framePool.Get().(*[]byte)
			*cb = wire.AppendRequest((*cb)[:0], &wire.Request{ID: req.ID, Op: wire.OpCancel, Version: req.ID})
			select {
			case c.wq <- cb:
			default: // a full queue: the server's timeout ends it
				framePool.Put(cb)
			}
		}
		return nil, ctx.Err()
	}
}

// forget drops a pending call, reporting whether it was still pending.
func (c *binConn) forget(id uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.pending[id]
	delete(c.pending, id)
	return ok
}

func (c *binConn) writeLoop() {
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	for {
		select {
		case bp := <-c.wq:
			_, err := bw.Write(*bp)
			framePool.Put(bp)
			if err == nil && c.idle() {
				err = bw.Flush()
			}
			if err != nil {
				c.fail(err)
				return
			}
		case <-c.done:
			return
		}
	}
}

// idle reports that no frame waits, after letting other callers that are
// ready queue theirs: one flush then carries them all.
func (c *binConn) idle() bool {
	if len(c.wq) > 0 {
		return false
	}
	runtime.Gosched()
	return len(c.wq) == 0
}

func (c *binConn) readLoop() {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	var buf []byte
	for {
		body, err := wire.ReadFrame(br, buf, wire.DefaultMaxFrame)
		if err != nil {
			c.fail(err)
			return
		}
		buf = body
		resp := new(wire.Response)
		if err := wire.DecodeResponse(body, resp); err != nil {
			c.fail(err)
			return
		}
		if resp.ID == 0 {
			// The server's last word on this connection.
			c.fail(fmt.Errorf("closed by the server: %v", fromWire(resp.Err)))
			return
		}
		c.mu.Lock()
		ch := c.pending[resp.ID]
		delete(c.pending, resp.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- binResult{resp: resp}
		}
	}
}

func fromWire(e *wire.Error) *Error {
	if e == nil {
		return &Error{Code: api.CodeInternal, Message: "a connection error without details"}
	}
	return &Error{HTTPStatus: int(e.Status), Code: e.Code, Message: e.Message, LeaderID: e.LeaderID,
		LeaderAPI: e.LeaderAPI, LeaderClient: e.LeaderClient, Version: e.Version}
}

// onceBin sends one binary call to target.
func (c *Client) onceBin(ctx context.Context, target string, req *wire.Request) (*wire.Response, error) {
	actx, cancel := context.WithTimeout(ctx, c.opts.AttemptTimeout)
	defer cancel()
	req.TimeoutMS = uint64(c.opts.AttemptTimeout / time.Millisecond)
	conn, err := c.bin.get(actx, target)
	if err != nil {
		return nil, err
	}
	resp, err := conn.call(actx, req)
	if err != nil {
		return nil, err
	}
	if resp.Err != nil {
		return nil, fromWire(resp.Err)
	}
	return resp, nil
}

// doBin is do over the binary protocol.
func (c *Client) doBin(ctx context.Context, cl *call, req *wire.Request) (*wire.Response, error) {
	cl.bin = true
	var resp *wire.Response
	err := c.retry(ctx, cl, func(ctx context.Context, target string) error {
		r, err := c.onceBin(ctx, target, req)
		resp = r
		return err
	})
	return resp, err
}

var binWriteOps = map[string]wire.Op{"put": wire.OpPut, "delete": wire.OpDelete, "cas": wire.OpCAS, "put-if-absent": wire.OpPutIfAbsent}

// toBinWrite is a write request over the binary protocol.
func toBinWrite(req api.WriteRequest) (*wire.Request, error) {
	op, ok := binWriteOps[req.Op]
	if !ok {
		return nil, &Error{HTTPStatus: http.StatusBadRequest, Code: api.CodeUnknownOp,
			Message: fmt.Sprintf("unknown operation %q (put, delete, cas, put-if-absent)", req.Op)}
	}
	out := &wire.Request{Op: op, Key: []byte(req.Key), ClientID: req.ClientID, Seq: req.Seq, AckBelow: req.AckBelow}
	if req.Value != nil {
		out.Value = []byte(*req.Value)
	}
	if req.Version != nil {
		out.Version = *req.Version
	}
	return out, nil
}

func binConsistency(cons Consistency) (wire.Consistency, error) {
	c, ok := wire.ParseConsistency(string(cons))
	if !ok {
		return 0, &Error{HTTPStatus: http.StatusBadRequest, Code: api.CodeBadRequest,
			Message: fmt.Sprintf("unknown consistency %q (linearizable, lease, stale)", cons)}
	}
	return c, nil
}

func (c *Client) getBin(ctx context.Context, key string, cons Consistency) (api.GetResponse, error) {
	wc, err := binConsistency(cons)
	if err != nil {
		return api.GetResponse{}, err
	}
	resp, err := c.doBin(ctx, &call{}, &wire.Request{Op: wire.OpGet, Consistency: wc, Key: []byte(key)})
	if err != nil {
		return api.GetResponse{}, err
	}
	if len(resp.KVs) != 1 {
		return api.GetResponse{}, fmt.Errorf("raftkv: a get answered with %d keys", len(resp.KVs))
	}
	kv := resp.KVs[0]
	return api.GetResponse{KeyValue: api.KeyValue{Key: key, Value: string(kv.Value), Version: kv.Version},
		Consistency: resp.Consistency.String(), ReadIndex: resp.ReadIndex}, nil
}

func (c *Client) scanBin(ctx context.Context, o ScanOptions) (api.ScanResponse, error) {
	wc, err := binConsistency(o.Consistency)
	if err != nil {
		return api.ScanResponse{}, err
	}
	req := &wire.Request{Op: wire.OpScan, Consistency: wc, Key: []byte(o.Start), End: []byte(o.End)}
	if o.Prefix != "" {
		if o.Start != "" || o.End != "" {
			return api.ScanResponse{}, &Error{HTTPStatus: http.StatusBadRequest, Code: api.CodeBadRequest, Message: "prefix excludes start and end"}
		}
		req.Prefix, req.Key = true, []byte(o.Prefix)
	}
	if o.Limit > 0 {
		req.Limit = uint64(o.Limit)
	}
	resp, err := c.doBin(ctx, &call{}, req)
	if err != nil {
		return api.ScanResponse{}, err
	}
	out := api.ScanResponse{KVs: make([]api.KeyValue, 0, len(resp.KVs)), More: resp.More,
		Consistency: resp.Consistency.String(), ReadIndex: resp.ReadIndex}
	for _, kv := range resp.KVs {
		out.KVs = append(out.KVs, api.KeyValue{Key: string(kv.Key), Value: string(kv.Value), Version: kv.Version})
	}
	return out, nil
}
