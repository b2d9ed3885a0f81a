package client

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickraft/raft/examples/raftkv/api"
	"github.com/tickraft/raft/examples/raftkv/wire"
)

// binFake is a scripted binary protocol node: register answers client ID
// 77; each write pops the next answer (nil: success at version 9; drop:
// close the connection without answering).
type binFake struct {
	ln net.Listener

	mu      sync.Mutex
	writes  []wire.Request
	answers []binAnswer
	conns   int
	// batch, when > 0, holds answers until that many gets arrived, then
	// sends them in reverse order.
	batch int
}

type binAnswer struct {
	err  *wire.Error
	drop bool
}

func newBinFake(t *testing.T) *binFake {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &binFake{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns++
			f.mu.Unlock()
			go f.serve(nc)
		}
	}()
	return f
}

func (f *binFake) addr() string { return f.ln.Addr().String() }

func (f *binFake) serve(nc net.Conn) {
	defer nc.Close()
	br := bufio.NewReader(nc)
	hello := make([]byte, wire.HelloSize)
	if _, err := io.ReadFull(br, hello); err != nil || wire.CheckHello(hello) != nil {
		return
	}
	nc.Write(binary.BigEndian.AppendUint32(wire.Hello(), 1<<20))
	var held []wire.Response
	for {
		body, err := wire.ReadFrame(br, nil, 1<<20)
		if err != nil {
			return
		}
		var req wire.Request
		if err := wire.DecodeRequest(body, &req); err != nil {
			return
		}
		resp := wire.Response{ID: req.ID}
		f.mu.Lock()
		switch req.Op {
		case wire.OpCancel:
			f.mu.Unlock()
			continue
		case wire.OpRegister:
			resp.Version = 77
		case wire.OpGet:
			resp.KVs = []wire.KV{{Key: req.Key, Value: append([]byte("value of "), req.Key...), Version: 1}}
			if f.batch > 0 {
				held = append(held, resp)
				if len(held) < f.batch {
					f.mu.Unlock()
					continue
				}
				var out []byte
				for i := len(held) - 1; i >= 0; i-- {
					out = wire.AppendResponse(out, &held[i])
				}
				held = nil
				f.mu.Unlock()
				nc.Write(out)
				continue
			}
		default:
			f.writes = append(f.writes, req)
			resp.Version = 9
			if len(f.answers) > 0 {
				a := f.answers[0]
				f.answers = f.answers[1:]
				if a.drop {
					f.mu.Unlock()
					return
				}
				resp.Err = a.err
			}
		}
		f.mu.Unlock()
		nc.Write(wire.AppendResponse(nil, &resp))
	}
}

func (f *binFake) script(as ...binAnswer) {
	f.mu.Lock()
	f.answers, f.writes = as, nil
	f.mu.Unlock()
}

func (f *binFake) got() []wire.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]wire.Request(nil), f.writes...)
}

func binClient(addrs []string, opts Options) *Client {
	opts.ClientAddrs = addrs
	return New([]string{"127.0.0.1:1"}, opts) // HTTP is never used
}

// TestBinaryRedirectAndRetrySameSeq: not_leader sends the write to the
// leader's client address; a dropped connection (unknown outcome) is
// retried with the same session seq.
func TestBinaryRedirectAndRetrySameSeq(t *testing.T) {
	leader, follower := newBinFake(t), newBinFake(t)
	follower.script(binAnswer{err: &wire.Error{Status: 421, Code: api.CodeNotLeader, Message: "m", LeaderID: 1, LeaderAPI: "127.0.0.1:2", LeaderClient: leader.addr()}})
	leader.script(binAnswer{drop: true})
	c := binClient([]string{follower.addr()}, Options{})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := c.Put(ctx, "k", "v")
	if err != nil || v != 9 {
		t.Fatalf("Put = %d, %v", v, err)
	}
	// not_leader at the follower, the drop at the leader, then (the
	// leader guess dropped) the client addresses again.
	fw, lw := follower.got(), leader.got()
	if len(fw) != 2 || len(lw) != 1 {
		t.Fatalf("writes: follower %d, leader %d", len(fw), len(lw))
	}
	for _, w := range append(fw, lw...) {
		if w.ClientID != 77 || w.Seq != 1 || w.Op != wire.OpPut || string(w.Value) != "v" {
			t.Fatalf("a retry changed the write: %+v", w)
		}
	}
}

// TestBinaryNoRetryWithoutSession: without a session a lost connection is
// an unknown outcome returned as is, not retried; a refusal is returned
// at once.
func TestBinaryNoRetryWithoutSession(t *testing.T) {
	n := newBinFake(t)
	c := binClient([]string{n.addr()}, Options{NoSession: true})
	defer c.Close()
	ctx := context.Background()
	n.script(binAnswer{drop: true})
	_, err := c.Put(ctx, "k", "v")
	var e *Error
	if err == nil || errors.As(err, &e) || len(n.got()) != 1 {
		t.Fatalf("Put over a dropped connection = %v after %d writes", err, len(n.got()))
	}
	if n.got()[0].ClientID != 0 {
		t.Fatalf("sessionless write carried a session: %+v", n.got()[0])
	}
	n.script(binAnswer{err: &wire.Error{Status: 409, Code: api.CodeVersionMismatch, Message: "m", Version: 4}})
	_, err = c.CAS(ctx, "k", "v", 3)
	if !errors.As(err, &e) || e.Code != api.CodeVersionMismatch || e.Version != 4 || e.HTTPStatus != 409 || len(n.got()) != 1 {
		t.Fatalf("CAS = %v after %d writes", err, len(n.got()))
	}
	if w := n.got()[0]; w.Op != wire.OpCAS || w.Version != 3 {
		t.Fatalf("CAS sent as %+v", w)
	}
}

// TestBinaryExpiredSession: as over HTTP, an expiry after an uncertain
// attempt is an unknown outcome.
func TestBinaryExpiredSession(t *testing.T) {
	n := newBinFake(t)
	c := binClient([]string{n.addr()}, Options{})
	defer c.Close()
	ctx := context.Background()
	expired := binAnswer{err: &wire.Error{Status: 409, Code: api.CodeSessionExpired, Message: "m"}}
	n.script(expired)
	if _, err := c.Put(ctx, "k", "v"); err != nil {
		t.Fatalf("first-attempt expiry: %v", err)
	}
	n.script(binAnswer{err: &wire.Error{Status: 503, Code: api.CodeStopped, Message: "m"}}, expired)
	if _, err := c.Put(ctx, "k", "v"); !errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("expiry after a retry: %v", err)
	}
}

// TestBinaryMultiplexed: concurrent calls share one connection and each
// gets its own answer though the answers come back in reverse order.
func TestBinaryMultiplexed(t *testing.T) {
	n := newBinFake(t)
	const calls = 50
	n.batch = calls
	c := binClient([]string{n.addr()}, Options{})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := strings.Repeat("k", i+1)
			r, err := c.Get(ctx, key, "")
			if err == nil && (r.Key != key || r.Value != "value of "+key) {
				err = errors.New("wrong answer " + r.Key + " " + r.Value)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conns != 1 {
		t.Fatalf("%d connections, want 1", n.conns)
	}
}

// TestBinaryCloseFailsCalls: Close ends the calls in flight.
func TestBinaryCloseFailsCalls(t *testing.T) {
	n := newBinFake(t)
	n.batch = 1000 // never answers
	c := binClient([]string{n.addr()}, Options{})
	done := make(chan error, 1)
	go func() { _, err := c.Get(context.Background(), "k", ""); done <- err }()
	for {
		n.mu.Lock()
		up := n.conns
		n.mu.Unlock()
		if up > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	c.Close()
	if err := <-done; err == nil {
		t.Fatal("a call survived Close")
	}
}
