package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	lt "github.com/tickraft/raft/internal/lattrace"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tickraft/raft/examples/raftkv/api"
	"github.com/tickraft/raft/examples/raftkv/kv"
	"github.com/tickraft/raft/examples/raftkv/wire"
)

// The binary client protocol (package wire): one reader and one writer
// goroutine per connection and a goroutine per call, so calls complete out
// of order; the calls of all connections propose concurrently and batch in
// the replica; the writer coalesces answers and flushes only when none is
// waiting.

// nodeRecord is what a node records as its address in the replicated
// state: the API address, then the client protocol's when it serves one.
func nodeRecord(apiAddr, clientAddr string) string {
	if clientAddr == "" {
		return apiAddr
	}
	return apiAddr + " " + clientAddr
}

// splitNodeRecord reverses nodeRecord.
func splitNodeRecord(rec string) (apiAddr, clientAddr string) {
	apiAddr, clientAddr, _ = strings.Cut(rec, " ")
	return apiAddr, clientAddr
}

// clientProto is the binary protocol's listener and its connections.
type clientProto struct {
	s           *Server
	ln          net.Listener
	maxFrame    int
	maxConns    int
	maxInflight int

	mu sync.Mutex
	// conns are the open connections; closing: Shutdown began, no new
	// connection is served.
	conns   map[*cpConn]struct{}
	closing bool
	wg      sync.WaitGroup // the accept loop and every connection

	stats cpStats
}

// cpStats count the protocol's work for the metrics.
type cpStats struct {
	accepted, refused, badFrames atomic.Uint64
	calls, failed                [len(cpOps)]atomic.Uint64 // by op
}

func (s *Server) listenClients() error {
	if s.cfg.ClientAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.ClientAddr)
	if err != nil {
		return fmt.Errorf("server: client protocol listener: %w", err)
	}
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS.Clone())
	}
	p := &clientProto{s: s, ln: ln, maxFrame: int(s.cfg.MaxBodySize), maxConns: s.cfg.MaxClientConns,
		maxInflight: s.cfg.MaxInflightPerConn, conns: map[*cpConn]struct{}{}}
	if p.maxConns <= 0 {
		p.maxConns = 1024
	}
	if p.maxInflight <= 0 {
		p.maxInflight = 1024
	}
	s.cp = p
	return nil
}

// ClientAddr is the binary protocol's advertised address ("" when it is
// not served).
func (s *Server) ClientAddr() string {
	if s.cp == nil {
		return ""
	}
	return advertised(s.cfg.ClientAddr, s.cp.ln.Addr())
}

func (s *Server) closeClientListener() {
	if s.cp != nil {
		s.cp.ln.Close()
	}
}

// serveClients starts accepting binary protocol connections.
func (s *Server) serveClients() {
	p := s.cp
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return
	}
	p.wg.Add(1)
	go p.accept()
}

func (p *clientProto) accept() {
	defer p.wg.Done()
	for {
		nc, err := p.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			if !errors.Is(err, net.ErrClosed) {
				p.s.logger.Error("client protocol listener", slog.Any("error", err))
			}
			return
		}
		c := p.newConn(nc)
		p.mu.Lock()
		switch {
		case p.closing:
			p.mu.Unlock()
			nc.Close()
			continue
		case len(p.conns) >= p.maxConns:
			p.stats.refused.Add(1)
			p.wg.Add(1)
			p.mu.Unlock()
			go p.refuse(nc)
			continue
		}
		p.conns[c] = struct{}{}
		p.stats.accepted.Add(1)
		p.wg.Add(1)
		p.mu.Unlock()
		go c.serve()
	}
}

// refuse answers the handshake with too_many_connections and closes.
func (p *clientProto) refuse(nc net.Conn) {
	defer p.wg.Done()
	defer lingerClose(nc)
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	hello := make([]byte, wire.HelloSize)
	if _, err := io.ReadFull(nc, hello); err != nil {
		return
	}
	_, _ = nc.Write(p.greeting(&wire.Error{Status: http.StatusServiceUnavailable, Code: api.CodeTooManyConns,
		Message: fmt.Sprintf("node %d serves at most %d client connections", p.s.cfg.NodeID, p.maxConns)}))
}

// greeting is the server's handshake, followed by a connection error when
// e is set.
func (p *clientProto) greeting(e *wire.Error) []byte {
	b := binary.BigEndian.AppendUint32(wire.Hello(), uint32(p.maxFrame))
	if e != nil {
		b = wire.AppendResponse(b, &wire.Response{Err: e})
	}
	return b
}

// drainClients stops reading requests, lets the calls in flight finish and
// their answers go out, and closes the connections; at ctx's end it closes
// them and cancels what is left.
func (s *Server) drainClients(ctx context.Context) error {
	p := s.cp
	if p == nil {
		return nil
	}
	p.mu.Lock()
	p.closing = true
	conns := make([]*cpConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	p.ln.Close()
	for _, c := range conns {
		c.stopping.Store(true)
		_ = c.nc.SetReadDeadline(time.Now())
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	for _, c := range conns {
		c.abort()
		c.nc.Close()
	}
	<-done
	return fmt.Errorf("server: client connections did not drain: %w", ctx.Err())
}

// cpConn is one binary protocol connection.
type cpConn struct {
	p  *clientProto
	nc net.Conn
	// out carries answers to the writer. Every call takes a token from sem
	// before it starts and the writer returns it once its answer is
	// written, so out (with room for all the tokens and one connection
	// error) never blocks and a connection holds a bounded amount of work.
	out chan outFrame
	sem chan struct{}
	// ctx ends when the client is gone (or a drain ran out of time): the
	// calls in flight are canceled.
	ctx      context.Context
	cancel   context.CancelFunc
	stopping atomic.Bool // Shutdown asked the reader to stop
	inflight sync.WaitGroup

	mu    sync.Mutex
	calls map[uint64]context.CancelFunc // by request ID, for OpCancel
}

type outFrame struct {
	b     *[]byte
	token bool // a call's answer: return its token
}

func (p *clientProto) newConn(nc net.Conn) *cpConn {
	c := &cpConn{p: p, nc: nc, out: make(chan outFrame, p.maxInflight+1), sem: make(chan struct{}, p.maxInflight),
		calls: map[uint64]context.CancelFunc{}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// setReadDeadline sets the deadline unless the drain began (the drain's
// own deadline must not be overwritten).
func (c *cpConn) setReadDeadline(t time.Time) bool {
	_ = c.nc.SetReadDeadline(t)
	return !c.stopping.Load()
}

func (c *cpConn) serve() {
	defer c.p.wg.Done()
	// linger: the last frame is an error the client must get to read.
	linger := false
	defer func() {
		c.p.mu.Lock()
		delete(c.p.conns, c)
		c.p.mu.Unlock()
		c.abort()
		if linger {
			lingerClose(c.nc)
		} else {
			c.nc.Close()
		}
	}()
	br := bufio.NewReaderSize(c.nc, 64<<10)
	if ok, refused := c.handshake(br); !ok {
		linger = refused
		return
	}
	written := make(chan struct{})
	go c.writeLoop(written)
	if e := c.readLoop(br); e != nil {
		c.p.stats.badFrames.Add(1)
		// A protocol error: the client's calls in flight are abandoned
		// and the error is the connection's last frame.
		c.abort()
		c.inflight.Wait()
		b := wire.AppendResponse(getBuf(), &wire.Response{Err: e})
		c.out <- outFrame{b: &b}
		linger = true
	} else {
		if !c.stopping.Load() {
			c.abort() // the client left: nobody waits for the answers
		}
		c.inflight.Wait()
	}
	close(c.out)
	<-written
}

// handshake greets the client; refused: it was answered with an error.
func (c *cpConn) handshake(br *bufio.Reader) (ok, refused bool) {
	if !c.setReadDeadline(time.Now().Add(10 * time.Second)) {
		return false, false
	}
	hello := make([]byte, wire.HelloSize)
	if _, err := io.ReadFull(br, hello); err != nil {
		return false, false
	}
	var e *wire.Error
	if err := wire.CheckHello(hello); err != nil {
		e = &wire.Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Message: err.Error()}
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(c.p.greeting(e)); err != nil || e != nil {
		return false, err == nil
	}
	_ = c.nc.SetWriteDeadline(time.Time{})
	return c.setReadDeadline(time.Time{}), false
}

// lingerClose closes once the peer could read what was sent: it ends the
// write side and discards what the peer still sends (for a second at
// most), since closing with unread input makes the kernel reset the
// connection, which can destroy the last frame before the peer reads it.
func lingerClose(nc net.Conn) {
	if cw, ok := nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		_ = nc.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, io.LimitReader(nc, 1<<20))
	}
	nc.Close()
}

// readLoop decodes and starts calls until the client closes, the drain
// stops it, or a frame is malformed (returned as the connection's error).
func (c *cpConn) readLoop(br *bufio.Reader) *wire.Error {
	var buf []byte
	var req wire.Request
	for {
		body, err := wire.ReadFrame(br, buf, c.p.maxFrame)
		buf = body
		switch {
		case errors.Is(err, wire.ErrFrameTooLarge):
			return &wire.Error{Status: http.StatusRequestEntityTooLarge, Code: api.CodeBodyTooLarge, Message: err.Error()}
		case err != nil:
			return nil // the client left, or the drain
		}
		if err := wire.DecodeRequest(body, &req); err != nil {
			return &wire.Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Message: err.Error()}
		}
		if req.ID == 0 {
			return &wire.Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Message: "request ID 0 is reserved for connection errors"}
		}
		lt.Mark(lt.SRead, req.ID)
		if req.Op == wire.OpCancel {
			c.cancelCall(req.Version)
			continue
		}
		select {
		case c.sem <- struct{}{}:
		case <-c.ctx.Done():
			return nil // the writer failed: the client is gone
		}
		c.start(&req)
	}
}

// abort cancels the connection's context and every call in flight.
func (c *cpConn) abort() {
	c.cancel() // first: a call registered after the loop below sees it
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cancel := range c.calls {
		cancel()
	}
}

func (c *cpConn) cancelCall(id uint64) {
	c.mu.Lock()
	cancel := c.calls[id]
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// cpCall is one call in flight; it owns copies of what it needs from the
// frame (which the reader reuses).
type cpCall struct {
	id      uint64
	op      wire.Op
	h       cpHandler
	timeout time.Duration
	cmd     []byte // a write's command
	req     wire.Request
}

// cpHandler serves one op, filling resp.
type cpHandler func(s *Server, ctx context.Context, call *cpCall, resp *wire.Response) error

// cpPrepare validates a request in the reader (errors are answered
// without starting the call) and copies what the call keeps.
type cpPrepare func(s *Server, req *wire.Request, call *cpCall) error

var cpOps = [...]struct {
	prepare cpPrepare
	h       cpHandler
}{
	wire.OpPut:         {prepareWrite, handleWrite},
	wire.OpDelete:      {prepareWrite, handleWrite},
	wire.OpCAS:         {prepareWrite, handleWrite},
	wire.OpPutIfAbsent: {prepareWrite, handleWrite},
	wire.OpGet:         {prepareKeys, handleGet},
	wire.OpScan:        {prepareKeys, handleScan},
	wire.OpRegister:    {nil, handleRegister},
}

var cmdPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func getBuf() []byte { return (*cmdPool.Get().(*[]byte))[:0] }

func putBuf(b *[]byte) {
	if cap(*b) <= 64<<10 {
		cmdPool.Put(b)
	}
}

var callPool = sync.Pool{New: func() any { return new(cpCall) }}

// start validates req and runs it in its own goroutine; the caller holds a
// token for it.
func (c *cpConn) start(req *wire.Request) {
	call := callPool.Get().(*cpCall)
	if cap(call.cmd) > 64<<10 {
		call.cmd = nil // do not keep a large value's buffer in the pool
	}
	*call = cpCall{id: req.ID, op: req.Op, cmd: call.cmd[:0], timeout: 5 * time.Second}
	if req.TimeoutMS > 0 {
		call.timeout = min(time.Duration(req.TimeoutMS)*time.Millisecond, time.Minute)
	}
	var op struct {
		prepare cpPrepare
		h       cpHandler
	}
	if int(req.Op) < len(cpOps) {
		op = cpOps[req.Op]
	}
	call.h = op.h
	if op.h != nil {
		c.p.stats.calls[req.Op].Add(1)
	}
	if op.h == nil {
		c.answer(call, nil, apiErr(http.StatusBadRequest, api.CodeUnknownOp, "unknown operation %v", req.Op))
		return
	}
	if op.prepare != nil {
		if err := op.prepare(c.p.s, req, call); err != nil {
			c.answer(call, nil, err)
			return
		}
	}
	// Not derived from c.ctx: registering every call with the
	// connection's context costs a shared lock twice per call; abort
	// cancels the calls through c.calls instead.
	ctx, cancel := context.WithTimeout(context.Background(), call.timeout)
	c.mu.Lock()
	c.calls[call.id] = cancel
	c.mu.Unlock()
	if c.ctx.Err() != nil {
		cancel() // abort ran before the call was registered
	}
	c.inflight.Add(1)
	go func() {
		defer c.inflight.Done()
		var resp wire.Response
		err := call.h(c.p.s, ctx, call, &resp)
		c.mu.Lock()
		delete(c.calls, call.id)
		c.mu.Unlock()
		cancel()
		lt.Mark(lt.SProposed, call.id)
		c.answer(call, &resp, err)
		lt.Mark(lt.SAnswer, 0)
	}()
}

// answer sends a call's response (or err) to the writer and recycles the
// call.
func (c *cpConn) answer(call *cpCall, resp *wire.Response, err error) {
	if resp == nil {
		resp = &wire.Response{}
	}
	resp.ID = call.id
	if err != nil {
		if int(call.op) < len(c.p.stats.failed) {
			c.p.stats.failed[call.op].Add(1)
		}
		e := c.p.s.toError(err)
		*resp = wire.Response{ID: call.id, Err: &wire.Error{Status: uint64(e.HTTPStatus), Code: e.Code, Message: e.Message,
			LeaderID: e.LeaderID, LeaderAPI: e.LeaderAPI, LeaderClient: e.LeaderClient, Version: e.Version}}
	}
	b := wire.AppendResponse(getBuf(), resp)
	call.req = wire.Request{}
	callPool.Put(call)
	c.out <- outFrame{b: &b, token: true}
}

// writeLoop writes answers, flushing when no other answer is waiting; on
// a write error it cancels the calls and keeps consuming (discarding), so
// calls never block.
func (c *cpConn) writeLoop(done chan<- struct{}) {
	defer close(done)
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	failed := false
	for f := range c.out {
		if !failed {
			if _, err := bw.Write(*f.b); err != nil {
				failed = true
			}
		}
		putBuf(f.b)
		if f.token {
			<-c.sem
		}
		if !failed && c.idle() {
			failed = bw.Flush() != nil
			lt.Mark(lt.SFlushed, 0)
		}
		if failed {
			c.abort()
			c.nc.Close() // stops the reader
		}
	}
}

// idle reports that no answer waits, after letting the calls woken with
// the last one (the replica completes a batch at once) queue theirs: one
// flush then carries them all.
func (c *cpConn) idle() bool {
	if len(c.out) > 0 {
		return false
	}
	runtime.Gosched()
	return len(c.out) == 0
}

var wireWriteOps = [...]kv.Op{wire.OpPut: kv.OpPut, wire.OpDelete: kv.OpDelete, wire.OpCAS: kv.OpCAS, wire.OpPutIfAbsent: kv.OpPutIfAbsent}

// prepareWrite validates a write as the HTTP API does and encodes its
// command.
func prepareWrite(s *Server, req *wire.Request, call *cpCall) error {
	op := wireWriteOps[req.Op]
	w := writeShape{op: op, name: req.Op.String(), key: req.Key, value: req.Value,
		hasValue: op != kv.OpDelete || len(req.Value) > 0, hasVersion: op == kv.OpCAS || req.Version != 0,
		version: req.Version, clientID: req.ClientID, seq: req.Seq, ackBelow: req.AckBelow}
	cmd, err := s.checkWrite(w)
	if err != nil {
		return err
	}
	call.cmd = cmd.Encode(call.cmd)
	return nil
}

func handleWrite(s *Server, ctx context.Context, call *cpCall, resp *wire.Response) error {
	lt.Mark(lt.SPropose, call.id)
	res, err := s.proposeCmd(ctx, call.cmd)
	resp.Version, resp.Existed = res.Version, res.Existed
	return err
}

// prepareKeys copies a read's keys (the frame is reused).
func prepareKeys(_ *Server, req *wire.Request, call *cpCall) error {
	call.req = *req
	call.cmd = append(append(call.cmd, req.Key...), req.End...)
	call.req.Key, call.req.End = call.cmd[:len(req.Key)], call.cmd[len(req.Key):]
	call.req.Value = nil
	return nil
}

func handleGet(s *Server, ctx context.Context, call *cpCall, resp *wire.Response) error {
	key := call.req.Key
	if len(key) == 0 {
		return apiErr(http.StatusBadRequest, api.CodeBadRequest, "the key is empty")
	}
	idx, cons, err := s.readAt(ctx, call.req.Consistency.String())
	if err != nil {
		return err
	}
	got, ok, err := s.sm.Get(key)
	if err != nil {
		return err
	}
	if !ok {
		return apiErr(http.StatusNotFound, api.CodeNotFound, "no key %q", key)
	}
	resp.ReadIndex, resp.Consistency = idx, consistencyOf(cons)
	resp.KVs = []wire.KV{{Key: key, Value: got.Value, Version: got.Version}}
	return nil
}

func consistencyOf(name string) wire.Consistency {
	c, _ := wire.ParseConsistency(name)
	return c
}

func handleScan(s *Server, ctx context.Context, call *cpCall, resp *wire.Response) error {
	r := &call.req
	limit := 100
	if r.Limit > 0 {
		if r.Limit > 10000 {
			return apiErr(http.StatusBadRequest, api.CodeBadRequest, "limit must be 1..10000")
		}
		limit = int(r.Limit)
	}
	start, end := r.Key, r.End
	if r.Prefix {
		if len(r.End) > 0 {
			return apiErr(http.StatusBadRequest, api.CodeBadRequest, "prefix excludes start and end")
		}
		end = kv.PrefixEnd(start)
	} else if len(end) == 0 {
		end = nil
	}
	kvs, more, idx, cons, err := s.scan(ctx, r.Consistency.String(), start, end, limit)
	if err != nil {
		return err
	}
	resp.More, resp.ReadIndex, resp.Consistency = more, idx, consistencyOf(cons)
	resp.KVs = make([]wire.KV, len(kvs))
	for i, e := range kvs {
		resp.KVs[i] = wire.KV{Key: e.Key, Value: e.Value, Version: e.Version}
	}
	return nil
}

func handleRegister(s *Server, ctx context.Context, _ *cpCall, resp *wire.Response) error {
	res, err := s.propose(ctx, kv.Request{Op: kv.OpRegister})
	resp.Version = res.Version
	return err
}

// collect emits the protocol's metrics.
func (p *clientProto) collect(e emit) {
	G, C := prometheus.GaugeValue, prometheus.CounterValue
	p.mu.Lock()
	open := len(p.conns)
	p.mu.Unlock()
	e("raftkv_client_connections", "Open binary client protocol connections.", G, float64(open))
	e("raftkv_client_connections_accepted_total", "Binary client protocol connections accepted.", C, float64(p.stats.accepted.Load()))
	e("raftkv_client_connections_refused_total", "Connections refused over -max-client-conns.", C, float64(p.stats.refused.Load()))
	e("raftkv_client_bad_frames_total", "Connections closed on a malformed or oversized frame.", C, float64(p.stats.badFrames.Load()))
	for op := range p.stats.calls {
		if cpOps[op].h == nil {
			continue
		}
		name := wire.Op(op).String()
		e("raftkv_client_calls_total", "Binary client protocol calls by op.", C, float64(p.stats.calls[op].Load()), "op", name)
		e("raftkv_client_calls_failed_total", "Binary client protocol calls answered with an error, by op.", C, float64(p.stats.failed[op].Load()), "op", name)
	}
}
