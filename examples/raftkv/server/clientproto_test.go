package server_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickraft/raft/examples/raftkv/api"
	"github.com/tickraft/raft/examples/raftkv/client"
	"github.com/tickraft/raft/examples/raftkv/server"
	"github.com/tickraft/raft/examples/raftkv/wire"
)

// node is an in-process server.
type node struct {
	s      *server.Server
	served chan error
	down   bool
}

func (n *node) shutdown(t testing.TB) error {
	t.Helper()
	if n.down {
		return nil
	}
	n.down = true
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := n.s.Shutdown(ctx)
	<-n.served
	return err
}

func newNode(t testing.TB, id uint64, mod func(*server.Config)) *node {
	t.Helper()
	cfg := server.Config{NodeID: id, RaftAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", ClientAddr: "127.0.0.1:0",
		DataDir: t.TempDir(), StateMachine: "memory", TickInterval: 20 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{s: s, served: make(chan error, 1)}
	go func() { n.served <- s.Serve() }()
	t.Cleanup(func() { n.shutdown(t) })
	return n
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// cluster3 starts three in-process nodes and forms a cluster led by node
// 1, and waits until every node recorded its client address.
func cluster3(t testing.TB) []*node {
	t.Helper()
	ctx := testCtx(t)
	var ns []*node
	var apis []string
	for id := uint64(1); id <= 3; id++ {
		n := newNode(t, id, nil)
		ns = append(ns, n)
		apis = append(apis, n.s.APIAddr())
	}
	admin := client.New(apis, client.Options{})
	defer admin.Close()
	if _, err := admin.Init(ctx, apis[0]); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 3; i++ {
		if _, err := admin.AddLearner(ctx, uint64(i+1), ns[i].s.RaftAddr(), apis[i], true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.ChangeMembership(ctx, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	for {
		st, err := admin.Status(ctx, apis[0])
		if err != nil {
			t.Fatal(err)
		}
		ok := len(st.Members) == 3
		for i, m := range st.Members {
			ok = ok && m.ClientAddr == ns[i].s.ClientAddr()
		}
		if ok {
			return ns
		}
		select {
		case <-ctx.Done():
			t.Fatalf("client addresses not recorded: %+v", st.Members)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func clientAddrs(ns []*node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.s.ClientAddr())
	}
	return out
}

func apiAddrs(ns []*node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.s.APIAddr())
	}
	return out
}

// raw is a hand-driven protocol connection.
type raw struct {
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string, hello []byte) *raw {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if _, err := nc.Write(hello); err != nil {
		t.Fatal(err)
	}
	r := &raw{nc: nc, br: bufio.NewReader(nc)}
	greet := make([]byte, wire.HelloSize+4)
	if _, err := io.ReadFull(r.br, greet); err != nil {
		t.Fatalf("reading the greeting: %v", err)
	}
	if err := wire.CheckHello(greet[:wire.HelloSize]); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *raw) send(t *testing.T, reqs ...wire.Request) {
	t.Helper()
	var b []byte
	for i := range reqs {
		b = wire.AppendRequest(b, &reqs[i])
	}
	if _, err := r.nc.Write(b); err != nil {
		t.Fatal(err)
	}
}

func (r *raw) recv(t *testing.T) wire.Response {
	t.Helper()
	body, err := wire.ReadFrame(r.br, nil, wire.DefaultMaxFrame)
	if err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	var resp wire.Response
	if err := wire.DecodeResponse(body, &resp); err != nil {
		t.Fatal(err)
	}
	return resp
}

// expectConnError reads the connection's error frame and then its end.
func (r *raw) expectConnError(t *testing.T, code string) {
	t.Helper()
	resp := r.recv(t)
	if resp.ID != 0 || resp.Err == nil || resp.Err.Code != code {
		t.Fatalf("got %+v (err %+v), want a connection error %s", resp, resp.Err, code)
	}
	if _, err := r.br.ReadByte(); err != io.EOF {
		t.Fatalf("after the connection error: %v, want EOF", err)
	}
}

// TestMalformedFrames: every kind of bad input gets a connection error
// naming it and the connection closed; the server keeps serving others.
func TestMalformedFrames(t *testing.T) {
	n := newNode(t, 1, func(c *server.Config) { c.MaxBodySize = 1 << 10 })
	addr := n.s.ClientAddr()

	t.Run("handshake", func(t *testing.T) {
		r := dialRaw(t, addr, []byte("GET / HTTP/1.1\r\n"))
		r.expectConnError(t, api.CodeBadRequest)
	})
	t.Run("version", func(t *testing.T) {
		h := wire.Hello()
		h[len(h)-1] = 99
		r := dialRaw(t, addr, h)
		r.expectConnError(t, api.CodeBadRequest)
	})
	t.Run("garbage", func(t *testing.T) {
		r := dialRaw(t, addr, wire.Hello())
		b := binary.BigEndian.AppendUint32(nil, 5)
		r.nc.Write(append(b, 1, 2, 3, 4, 5))
		r.expectConnError(t, api.CodeBadRequest)
	})
	t.Run("garbage and more", func(t *testing.T) {
		// Input the server never reads must not cost the client the
		// error frame (a close with unread input resets the connection).
		r := dialRaw(t, addr, wire.Hello())
		b := binary.BigEndian.AppendUint32(nil, 5)
		b = append(b, 1, 2, 3, 4, 5)
		go r.nc.Write(append(b, make([]byte, 256<<10)...))
		r.expectConnError(t, api.CodeBadRequest)
	})
	t.Run("unknown op", func(t *testing.T) {
		r := dialRaw(t, addr, wire.Hello())
		b := wire.AppendRequest(nil, &wire.Request{ID: 1, Op: wire.OpGet, Key: []byte("k")})
		b[12] = 200
		r.nc.Write(b)
		r.expectConnError(t, api.CodeBadRequest)
	})
	t.Run("too large", func(t *testing.T) {
		r := dialRaw(t, addr, wire.Hello())
		r.nc.Write(binary.BigEndian.AppendUint32(nil, 1<<30))
		r.expectConnError(t, api.CodeBodyTooLarge)
	})
	t.Run("id 0", func(t *testing.T) {
		r := dialRaw(t, addr, wire.Hello())
		r.send(t, wire.Request{ID: 0, Op: wire.OpGet, Key: []byte("k")})
		r.expectConnError(t, api.CodeBadRequest)
	})
	t.Run("still serving", func(t *testing.T) {
		// A valid request to an uninitialized node: its error, and the
		// connection stays open for the next.
		r := dialRaw(t, addr, wire.Hello())
		r.send(t, wire.Request{ID: 7, Op: wire.OpPut, Key: []byte("k"), Value: []byte("v")},
			wire.Request{ID: 8, Op: wire.OpPut, Value: []byte("v")},
			wire.Request{ID: 9, Op: wire.OpPut, Key: []byte("k"), Value: []byte("v"), Version: 3})
		got := map[uint64]string{}
		for range 3 {
			resp := r.recv(t)
			if resp.Err == nil {
				t.Fatalf("request %d succeeded on an uninitialized node", resp.ID)
			}
			got[resp.ID] = resp.Err.Code
		}
		want := map[uint64]string{7: api.CodeNotInitialized, 8: api.CodeBadRequest, 9: api.CodeBadRequest}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("codes %v, want %v", got, want)
		}
	})
	// The five bad frames after a good handshake are counted.
	expectMetric(t, n.s.APIAddr(), "raftkv_client_bad_frames_total 5")
	expectMetric(t, n.s.APIAddr(), `raftkv_client_calls_failed_total{op="put"} 3`)
}

func expectMetric(t *testing.T, apiAddr, line string) {
	t.Helper()
	resp, err := http.Get("http://" + apiAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "\n"+line+"\n") {
		t.Fatalf("no %q in the metrics", line)
	}
}

func TestConnectionLimit(t *testing.T) {
	n := newNode(t, 1, func(c *server.Config) { c.MaxClientConns = 1 })
	first := dialRaw(t, n.s.ClientAddr(), wire.Hello())
	second := dialRaw(t, n.s.ClientAddr(), wire.Hello())
	second.expectConnError(t, api.CodeTooManyConns)
	first.send(t, wire.Request{ID: 1, Op: wire.OpRegister})
	if resp := first.recv(t); resp.ID != 1 || resp.Err == nil || resp.Err.Code != api.CodeNotInitialized {
		t.Fatalf("the first connection: %+v", resp)
	}
	expectMetric(t, n.s.APIAddr(), "raftkv_client_connections_refused_total 1")
	expectMetric(t, n.s.APIAddr(), "raftkv_client_connections 1")
}

// TestSameAnswersAsHTTP runs the same operations through the HTTP and the
// binary client and compares what they return, errors included.
func TestSameAnswersAsHTTP(t *testing.T) {
	ns := cluster3(t)
	ctx := testCtx(t)
	hc := client.New(apiAddrs(ns), client.Options{})
	bc := client.New(apiAddrs(ns), client.Options{ClientAddrs: clientAddrs(ns)})
	defer hc.Close()
	defer bc.Close()
	script := func(c *client.Client, p string) []string {
		var out []string
		rec := func(v any, err error) {
			var e *client.Error
			if errors.As(err, &e) {
				out = append(out, fmt.Sprintf("error %s %d %q leader=%d", e.Code, e.HTTPStatus, e.Message, e.LeaderID))
				return
			}
			if err != nil {
				out = append(out, "error "+err.Error())
				return
			}
			out = append(out, fmt.Sprintf("%+v", v))
		}
		v1, err := c.Put(ctx, p+"a", "1")
		rec(v1 > 0, err)
		rec(c.Put(ctx, p+"b", ""))
		rec(c.CAS(ctx, p+"a", "2", v1))
		rec(c.CAS(ctx, p+"a", "3", v1))
		rec(c.PutIfAbsent(ctx, p+"a", "4"))
		rec(c.PutIfAbsent(ctx, p+"c", "5"))
		rec(c.Delete(ctx, p+"c"))
		rec(c.Delete(ctx, p+"c"))
		rec(c.Put(ctx, "", "x"))
		rec(c.Put(ctx, p+string(make([]byte, 5000)), "x"))
		g, err := c.Get(ctx, p+"a", "")
		rec(fmt.Sprint(g.Value, g.Consistency, g.ReadIndex > 0), err)
		g, err = c.Get(ctx, p+"a", "stale")
		rec(fmt.Sprint(g.Value, g.Consistency), err)
		g, err = c.Get(ctx, p+"a", "lease")
		rec(fmt.Sprint(g.Value, g.Consistency), err)
		rec(c.Get(ctx, p+"zz", ""))
		rec(c.Get(ctx, p+"a", "bogus"))
		sc, err := c.Scan(ctx, client.ScanOptions{Prefix: p})
		rec(fmt.Sprint(keysOf(sc.KVs, p), sc.More, sc.Consistency), err)
		sc, err = c.Scan(ctx, client.ScanOptions{Start: p + "a", End: p + "b", Limit: 1})
		rec(fmt.Sprint(keysOf(sc.KVs, p), sc.More), err)
		sc, err = c.Scan(ctx, client.ScanOptions{Start: p, Limit: 1})
		rec(fmt.Sprint(keysOf(sc.KVs, p), sc.More), err)
		rec(c.Scan(ctx, client.ScanOptions{Prefix: p, Limit: 20000}))
		rec(c.Scan(ctx, client.ScanOptions{Prefix: p, End: "x"}))
		return out
	}
	h := script(hc, "h/")
	b := script(bc, "b/")
	t.Logf("HTTP answers: %q", h)
	// The versions differ; the messages name them and the keys.
	for i := range h {
		hs, bs := h[i], b[i]
		if !similar(hs, bs) {
			t.Errorf("step %d:\nHTTP:   %s\nbinary: %s", i, hs, bs)
		}
	}
}

func keysOf(kvs []api.KeyValue, p string) []string {
	var out []string
	for _, kv := range kvs {
		out = append(out, kv.Key[len(p):]+"="+kv.Value)
	}
	return out
}

// similar compares two results with digits and key prefixes blanked.
func similar(a, b string) bool {
	norm := func(s string) string {
		out := []byte{}
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case c >= '0' && c <= '9':
				c = '#'
			case (c == 'h' || c == 'b') && i+1 < len(s) && s[i+1] == '/':
				c = 'P'
			}
			out = append(out, c)
		}
		return string(out)
	}
	return norm(a) == norm(b)
}

// TestRedirectAfterLeaderChange: a follower answers not_leader with the
// leader's client address; the client follows it, and follows the next
// leader after a transfer.
func TestRedirectAfterLeaderChange(t *testing.T) {
	ns := cluster3(t)
	ctx := testCtx(t)
	r := dialRaw(t, ns[1].s.ClientAddr(), wire.Hello())
	r.send(t, wire.Request{ID: 5, Op: wire.OpPut, Key: []byte("k"), Value: []byte("v")})
	resp := r.recv(t)
	if resp.Err == nil || resp.Err.Code != api.CodeNotLeader || resp.Err.LeaderID != 1 || resp.Err.LeaderClient != ns[0].s.ClientAddr() {
		t.Fatalf("a follower's answer: %+v", resp.Err)
	}
	// The client starts at a follower.
	addrs := clientAddrs(ns)
	c := client.New(apiAddrs(ns), client.Options{ClientAddrs: []string{addrs[2], addrs[0], addrs[1]}})
	defer c.Close()
	if _, err := c.Put(ctx, "a", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TransferLeader(ctx, 3); err != nil {
		t.Fatal(err)
	}
	// The old leader now redirects to node 3.
	for {
		r := dialRaw(t, ns[0].s.ClientAddr(), wire.Hello())
		r.send(t, wire.Request{ID: 6, Op: wire.OpPut, Key: []byte("k"), Value: []byte("v")})
		resp := r.recv(t)
		if resp.Err != nil && resp.Err.Code == api.CodeNotLeader && resp.Err.LeaderClient == addrs[2] {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("node 1 does not redirect to node 3: %+v", resp.Err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	v, err := c.Put(ctx, "a", "2")
	if err != nil {
		t.Fatal(err)
	}
	g, err := c.Get(ctx, "a", "")
	if err != nil || g.Value != "2" || g.Version != v {
		t.Fatalf("get after the transfer: %+v, %v (put version %d)", g, err, v)
	}
	st, err := c.Status(ctx, ns[2].s.APIAddr())
	if err != nil || st.Leader == nil || st.Leader.ID != 3 {
		t.Fatalf("node 3 status: %+v %v", st.Leader, err)
	}
}

// TestPipelined: many calls in flight on one connection, answered by ID
// (in any order), and many concurrent client calls over one connection.
func TestPipelined(t *testing.T) {
	ns := cluster3(t)
	ctx := testCtx(t)
	const n = 300
	r := dialRaw(t, ns[0].s.ClientAddr(), wire.Hello())
	var reqs []wire.Request
	for i := 1; i <= n; i++ {
		reqs = append(reqs, wire.Request{ID: uint64(i), Op: wire.OpPut, Key: fmt.Appendf(nil, "raw/%03d", i), Value: fmt.Appendf(nil, "v%d", i)})
	}
	r.send(t, reqs...) // one write: the server reads them back to back
	seen := map[uint64]uint64{}
	for range n {
		resp := r.recv(t)
		if resp.Err != nil {
			t.Fatalf("request %d: %+v", resp.ID, resp.Err)
		}
		if _, dup := seen[resp.ID]; dup || resp.ID < 1 || resp.ID > n {
			t.Fatalf("unexpected answer ID %d", resp.ID)
		}
		seen[resp.ID] = resp.Version
	}

	c := client.New(apiAddrs(ns), client.Options{ClientAddrs: clientAddrs(ns), ConnsPerNode: 1})
	defer c.Close()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Put(ctx, fmt.Sprintf("c/%03d", i), fmt.Sprint("v", i)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, p := range []string{"raw/", "c/"} {
		sc, err := c.Scan(ctx, client.ScanOptions{Prefix: p, Limit: 1000})
		if err != nil || len(sc.KVs) != n {
			t.Fatalf("scan %s: %d keys, %v", p, len(sc.KVs), err)
		}
		for _, kv := range sc.KVs {
			var i int
			fmt.Sscanf(kv.Key[len(p):], "%d", &i)
			if kv.Value != fmt.Sprint("v", i) {
				t.Fatalf("%s = %q", kv.Key, kv.Value)
			}
			if p == "raw/" && seen[uint64(i)] != kv.Version {
				t.Fatalf("%s: version %d, the put answered %d", kv.Key, kv.Version, seen[uint64(i)])
			}
		}
	}
}

// TestCancel: a call that cannot finish (no quorum) ends with its context,
// and a cancel frame ends it on the server.
func TestCancel(t *testing.T) {
	ns := cluster3(t)
	ctx := testCtx(t)
	c := client.New(apiAddrs(ns), client.Options{ClientAddrs: clientAddrs(ns)[:1], NoSession: true})
	defer c.Close()
	if _, err := c.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	ns[1].shutdown(t)
	ns[2].shutdown(t)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := c.Put(cctx, "k", "w"); done <- err }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("a canceled put: %v", err)
	}

	r := dialRaw(t, ns[0].s.ClientAddr(), wire.Hello())
	r.send(t, wire.Request{ID: 1, Op: wire.OpPut, TimeoutMS: 60000, Key: []byte("k"), Value: []byte("x")})
	r.send(t, wire.Request{ID: 2, Op: wire.OpCancel, Version: 1})
	// Without the cancel the answer would come after a minute: a broken
	// cancel fails here (the margin is for a loaded machine).
	r.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp := r.recv(t)
	r.nc.SetReadDeadline(time.Time{})
	if resp.ID != 1 || resp.Err == nil || resp.Err.Code != api.CodeTimeout {
		t.Fatalf("the canceled call's answer: %+v %+v", resp, resp.Err)
	}

	// A client that leaves abandons its calls: the server cancels them
	// (else the drain below would wait the minute out and fail).
	gone := dialRaw(t, ns[0].s.ClientAddr(), wire.Hello())
	gone.send(t, wire.Request{ID: 1, Op: wire.OpPut, TimeoutMS: 60000, Key: []byte("k"), Value: []byte("z")},
		wire.Request{ID: 2, Op: wire.OpGet, Consistency: wire.Stale, Key: []byte("k")})
	if resp := gone.recv(t); resp.ID != 2 {
		t.Fatalf("the stale get: %+v %+v", resp, resp.Err)
	}
	gone.nc.Close()

	// A drain answers the calls in flight before closing: the stale get
	// answered proves the server read the put before it.
	r.send(t, wire.Request{ID: 3, Op: wire.OpPut, TimeoutMS: 300, Key: []byte("k"), Value: []byte("y")},
		wire.Request{ID: 4, Op: wire.OpGet, Consistency: wire.Stale, Key: []byte("k")})
	if resp := r.recv(t); resp.ID != 4 || resp.Err != nil || string(resp.KVs[0].Value) != "v" {
		t.Fatalf("the stale get: %+v %+v", resp, resp.Err)
	}
	if err := ns[0].shutdown(t); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if resp := r.recv(t); resp.ID != 3 || resp.Err == nil || resp.Err.Code != api.CodeTimeout {
		t.Fatalf("the drained call's answer: %+v %+v", resp, resp.Err)
	}
	if _, err := r.br.ReadByte(); err != io.EOF {
		t.Fatalf("after the drain: %v, want EOF", err)
	}
}

// TestShutdownMidFlight: the leader drains while many calls are in flight;
// the client retries through the new leader and every put succeeds
// and is read back.
func TestShutdownMidFlight(t *testing.T) {
	ns := cluster3(t)
	ctx := testCtx(t)
	c := client.New(apiAddrs(ns), client.Options{ClientAddrs: clientAddrs(ns), DefaultTimeout: 30 * time.Second})
	defer c.Close()
	const workers, each = 32, 40
	var done atomic.Int64
	half := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := c.Put(ctx, fmt.Sprintf("w%02d/%03d", w, i), fmt.Sprint(w*1000+i)); err != nil {
					errs <- fmt.Errorf("worker %d put %d: %w", w, i, err)
				}
				if done.Add(1) == workers*each/4 {
					close(half)
				}
			}
		}()
	}
	<-half
	if err := ns[0].shutdown(t); err != nil {
		t.Errorf("the leader's shutdown: %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	sc, err := c.Scan(ctx, client.ScanOptions{Prefix: "w", Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range sc.KVs {
		var w, i int
		fmt.Sscanf(kv.Key, "w%02d/%03d", &w, &i)
		if kv.Value != fmt.Sprint(w*1000+i) {
			t.Fatalf("%s = %q", kv.Key, kv.Value)
		}
		keys = append(keys, kv.Key)
	}
	if len(keys) != workers*each || !slices.IsSorted(keys) {
		t.Fatalf("%d keys, want %d", len(keys), workers*each)
	}
}

// BenchmarkBinaryPut: puts from 64 goroutines through one client over the
// binary protocol to an in-process 3-node cluster (memory state machine,
// wal fsync on); allocations are the whole process's (3 nodes and the
// client).
func BenchmarkBinaryPut(b *testing.B) {
	ns := cluster3(b)
	c := client.New(apiAddrs(ns), client.Options{ClientAddrs: clientAddrs(ns)})
	defer c.Close()
	ctx := context.Background()
	var seq atomic.Int64
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Put(ctx, fmt.Sprint("k", seq.Add(1)%100000), "0123456789abcdef"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
