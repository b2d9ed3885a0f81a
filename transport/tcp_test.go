package transport

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/tickraft/raft/raftpb"
)

// quietLogger keeps expected errors out of the test output unless -v.
func quietLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newTCP(t testing.TB, id uint64, mod func(*TCPConfig)) *TCP {
	t.Helper()
	cfg := TCPConfig{ID: id, ClusterID: 0xc1, ListenAddr: "127.0.0.1:0", Logger: quietLogger(t), SnapshotDir: t.TempDir()}
	if mod != nil {
		mod(&cfg)
	}
	tr, err := NewTCP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// pair starts two connected transports, 1 and 2.
func pair(t testing.TB, mod func(*TCPConfig)) (*TCP, *TCP, *recorder, *recorder) {
	t.Helper()
	a, b := newTCP(t, 1, mod), newTCP(t, 2, mod)
	ra, rb := newRecorder(), newRecorder()
	must(t, a.AddPeer(2, b.Addr().String()))
	must(t, b.AddPeer(1, a.Addr().String()))
	must(t, a.Start(ra))
	must(t, b.Start(rb))
	return a, b, ra, rb
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestTCPSendReceive(t *testing.T) {
	a, b, ra, rb := pair(t, nil)
	const n = 5000
	for i := uint64(0); i < n; i++ {
		if i%500 == 0 { // keep the queue (4096) from overflowing
			rb.waitFor(t, "progress", func() bool { return len(rb.msgs) >= int(i)-1000 })
		}
		a.Send([]*raftpb.Message{appMsg(1, 2, i, int(i%300))})
		if i%100 == 0 {
			b.Send([]*raftpb.Message{msg(2, 1, raftpb.MsgAppResp, i)})
		}
	}
	rb.waitFor(t, "all messages", func() bool { return len(rb.msgs) == n })
	ra.waitFor(t, "responses", func() bool { return len(ra.msgs) == n/100 })
	for i, m := range rb.msgs {
		want := appMsg(1, 2, uint64(i), i%300)
		if m.Index != want.Index || m.From != 1 || !bytes.Equal(m.Entries[0].Data, want.Entries[0].Data) {
			t.Fatalf("message %d: got %s", i, raftpb.DescribeMessage(m, nil))
		}
	}
	sa, sb := a.Stats().Peers[2], b.Stats().Peers[1]
	if sa.MsgsSent != n || sb.MsgsReceived != n || sa.Dropped != 0 || !sa.Connected {
		t.Fatalf("stats: sender %+v receiver %+v", sa, sb)
	}
	if sa.BytesSent == 0 || sb.BytesReceived == 0 || sb.BytesReceived > sa.BytesSent {
		t.Fatalf("byte counts: sent %d received %d", sa.BytesSent, sb.BytesReceived)
	}
}

// queueBeforeStart fills a's queue to 2 before any connection exists, so the
// writer finds all of them at once when it starts.
func queueBeforeStart(t *testing.T, mod func(*TCPConfig), msgs []*raftpb.Message) (*TCP, *recorder) {
	a, b := newTCP(t, 1, mod), newTCP(t, 2, mod)
	rb := newRecorder()
	must(t, b.AddPeer(1, a.Addr().String()))
	must(t, b.Start(rb))
	must(t, a.AddPeer(2, b.Addr().String()))
	a.Send(msgs)
	must(t, a.Start(newRecorder()))
	rb.waitFor(t, "delivery", func() bool { return len(rb.msgs) == len(msgs) })
	// The sender counts a frame once its write returned, which may be
	// after the receiver has it.
	waitUntil(t, "sender's count", func() bool { return a.Stats().Peers[2].MsgsSent == uint64(len(msgs)) })
	return a, rb
}

func TestTCPBatchingByCount(t *testing.T) {
	var msgs []*raftpb.Message
	for i := range 1000 {
		msgs = append(msgs, msg(1, 2, raftpb.MsgApp, uint64(i)))
	}
	a, rb := queueBeforeStart(t, func(c *TCPConfig) { c.MaxBatchMsgs = 256 }, msgs)
	if f := a.Stats().Peers[2].FramesSent; f != 4 {
		t.Fatalf("1000 queued messages went in %d frames, want 4 of at most 256", f)
	}
	for i, m := range rb.msgs {
		if m.Index != uint64(i) {
			t.Fatalf("message %d has index %d", i, m.Index)
		}
	}
}

func TestTCPBatchingByBytes(t *testing.T) {
	var msgs []*raftpb.Message
	for i := range 10 {
		msgs = append(msgs, appMsg(1, 2, uint64(i), 300<<10)) // 300 KiB each
	}
	a, _ := queueBeforeStart(t, func(c *TCPConfig) { c.MaxBatchBytes = 1 << 20 }, msgs)
	// Three fit in 1 MiB, a fourth does not: 3+3+3+1.
	if f := a.Stats().Peers[2].FramesSent; f != 4 {
		t.Fatalf("10 x 300 KiB went in %d frames, want 4", f)
	}
}

func TestTCPOversizedMessageDropped(t *testing.T) {
	a, b, ra, rb := pair(t, func(c *TCPConfig) { c.MaxFrameSize = 64 << 10 })
	a.Send([]*raftpb.Message{appMsg(1, 2, 1, 100<<10), msg(1, 2, raftpb.MsgHeartbeat, 2)})
	rb.waitFor(t, "heartbeat", func() bool { return len(rb.msgs) == 1 })
	ra.waitFor(t, "unreachable", func() bool { return len(ra.unreachable) > 0 })
	if rb.msgs[0].Type != raftpb.MsgHeartbeat || a.Stats().Peers[2].Dropped != 1 {
		t.Fatalf("got %s, dropped %d", rb.msgs[0].Type, a.Stats().Peers[2].Dropped)
	}
	_ = b
}

func TestTCPPriorityLane(t *testing.T) {
	var msgs []*raftpb.Message
	for i := range 100 {
		msgs = append(msgs, appMsg(1, 2, uint64(i), 64<<10))
	}
	msgs = append(msgs, msg(1, 2, raftpb.MsgHeartbeat, 1000), msg(1, 2, raftpb.MsgVote, 1001))
	_, rb := queueBeforeStart(t, nil, msgs)
	if rb.msgs[0].Type != raftpb.MsgHeartbeat || rb.msgs[1].Type != raftpb.MsgVote {
		t.Fatalf("heartbeat and vote waited behind appends: first %s, %s", rb.msgs[0].Type, rb.msgs[1].Type)
	}
	for i, m := range rb.msgs[2:] {
		if m.Index != uint64(i) {
			t.Fatalf("appends reordered: %d at %d", m.Index, i)
		}
	}
}

// blackhole accepts connections and never answers.
func blackhole(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return ln
}

func TestTCPBackpressure(t *testing.T) {
	ln := blackhole(t)
	a := newTCP(t, 1, func(c *TCPConfig) { c.QueueSize = 10; c.DialTimeout = time.Minute })
	ra := newRecorder()
	must(t, a.AddPeer(2, ln.Addr().String()))
	must(t, a.Start(ra))
	var msgs []*raftpb.Message
	for i := range 25 {
		msgs = append(msgs, msg(1, 2, raftpb.MsgApp, uint64(i)))
	}
	a.Send(msgs) // never blocks although the peer never answers
	ra.waitFor(t, "unreachable", func() bool { return len(ra.unreachable) > 0 })
	st := a.Stats().Peers[2]
	ra.mu.Lock()
	reported := append([]uint64(nil), ra.unreachable...)
	ra.mu.Unlock()
	if st.Dropped != 15 || st.QueueLen != 10 || reported[0] != 2 {
		t.Fatalf("dropped %d queued %d reported %v; want 15, 10, [2]", st.Dropped, st.QueueLen, reported)
	}
	// Unknown peers are dropped and reported too.
	a.Send([]*raftpb.Message{msg(1, 9, raftpb.MsgApp, 0)})
	ra.waitFor(t, "unreachable 9", func() bool { return len(ra.unreachable) > 0 && ra.unreachable[len(ra.unreachable)-1] == 9 })
}

func TestTCPReconnect(t *testing.T) {
	a, b, ra, rb := pair(t, func(c *TCPConfig) { c.BackoffMax = 100 * time.Millisecond })
	a.Send([]*raftpb.Message{msg(1, 2, raftpb.MsgHeartbeat, 1)})
	rb.waitFor(t, "first", func() bool { return len(rb.msgs) == 1 })

	// A killed connection is redialed.
	b.killConnections()
	sendUntil(t, a, rb, 2)

	// A restarted peer on the same address is found again; while it is
	// down, messages drop and raft hears the peer is unreachable.
	addr := b.Addr().String()
	must(t, b.Close())
	ra.waitFor(t, "unreachable while down", func() bool {
		a.Send([]*raftpb.Message{msg(1, 2, raftpb.MsgHeartbeat, 3)})
		return len(ra.unreachable) > 0
	})
	b2 := newTCP(t, 2, func(c *TCPConfig) { c.ListenAddr = addr })
	rb2 := newRecorder()
	must(t, b2.AddPeer(1, a.Addr().String()))
	must(t, b2.Start(rb2))
	sendUntil(t, a, rb2, 4)
	st := a.Stats().Peers[2]
	if st.Reconnects < 2 || st.Dropped == 0 {
		t.Fatalf("stats after two reconnects: %+v", st)
	}
}

// sendUntil sends heartbeats with index idx until r receives one.
func sendUntil(t *testing.T, a *TCP, r *recorder, idx uint64) {
	t.Helper()
	r.waitFor(t, "delivery after reconnect", func() bool {
		for _, m := range r.msgs {
			if m.Index == idx {
				return true
			}
		}
		a.Send([]*raftpb.Message{msg(1, 2, raftpb.MsgHeartbeat, idx)})
		return false
	})
}

func TestTCPAddressChange(t *testing.T) {
	a, _, _, _ := pair(t, nil)
	c := newTCP(t, 2, nil) // node 2 moved to a new address
	rc := newRecorder()
	must(t, c.Start(rc))
	must(t, a.AddPeer(2, c.Addr().String()))
	sendUntil(t, a, rc, 7)
}

func TestTCPHandshakeRejections(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*TCPConfig)
		id   uint64 // the node listening where 1 expects node 2
	}{
		{"wrong cluster", func(c *TCPConfig) { c.ClusterID = 0xbad }, 2},
		{"wrong node", nil, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTCP(t, 1, nil)
			b := newTCP(t, tc.id, tc.mod)
			ra, rb := newRecorder(), newRecorder()
			must(t, a.AddPeer(2, b.Addr().String()))
			must(t, a.Start(ra))
			must(t, b.Start(rb))
			ra.waitFor(t, "rejections on both sides", func() bool {
				a.Send([]*raftpb.Message{msg(1, 2, raftpb.MsgHeartbeat, 1)})
				return a.Stats().HandshakeRejects > 0 && b.Stats().HandshakeRejects > 0 && len(ra.unreachable) > 0
			})
			if a.Stats().Peers[2].HandshakeRejects == 0 || a.Stats().Peers[2].Connected {
				t.Fatalf("peer stats %+v", a.Stats().Peers[2])
			}
			if rb.numMsgs() != 0 {
				t.Fatal("message delivered across a refused handshake")
			}
		})
	}
}

// rawDial connects to tr and sends hello h, returning the connection and the
// reply.
func rawDial(t *testing.T, tr *TCP, h hello) (net.Conn, reply) {
	t.Helper()
	conn, err := net.Dial("tcp", tr.Addr().String())
	must(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = conn.Write(h.marshal())
	must(t, err)
	conn.SetDeadline(time.Now().Add(time.Minute))
	r, err := readReply(conn)
	must(t, err)
	return conn, r
}

func TestTCPHandshakeRejectsVersionAndGarbage(t *testing.T) {
	b := newTCP(t, 2, nil)
	must(t, b.Start(newRecorder()))
	good := hello{version: ProtocolVersion, kind: kindMessages, cluster: 0xc1, from: 1, to: 2}
	for _, tc := range []struct {
		name string
		h    func(h hello) hello
		want byte
	}{
		{"version", func(h hello) hello { h.version = 2; return h }, statusWrongVersion},
		{"cluster", func(h hello) hello { h.cluster = 7; return h }, statusWrongCluster},
		{"node", func(h hello) hello { h.to = 3; return h }, statusWrongNode},
		{"kind", func(h hello) hello { h.kind = 9; return h }, statusBadHello},
		{"self", func(h hello) hello { h.from = 2; return h }, statusBadHello},
		{"ok", func(h hello) hello { return h }, statusOK},
	} {
		_, r := rawDial(t, b, tc.h(good))
		if r.status != tc.want || r.node != 2 || r.cluster != 0xc1 {
			t.Fatalf("%s: reply %+v, want status %d", tc.name, r, tc.want)
		}
	}
	if got := b.Stats().HandshakeRejects; got != 5 {
		t.Fatalf("counted %d rejections, want 5", got)
	}
	// Garbage instead of a hello: refused, counted, nothing else happens.
	conn, err := net.Dial("tcp", b.Addr().String())
	must(t, err)
	defer conn.Close()
	conn.Write(bytes.Repeat([]byte("GET / HTTP/1.1\r\n"), 3))
	conn.SetDeadline(time.Now().Add(time.Minute))
	io.Copy(io.Discard, conn) // the acceptor closes
	if got := b.Stats().HandshakeRejects; got != 6 {
		t.Fatalf("garbage: counted %d rejections, want 6", got)
	}

	// The dialer checks the reply too: a server speaking version 2.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := readHello(c); err == nil {
			c.Write(reply{version: 2, status: statusWrongVersion, cluster: 0xc1, node: 2}.marshal())
		}
	}()
	a := newTCP(t, 1, nil)
	_, err = a.dial(t.Context(), ln.Addr().String(), 2, kindMessages)
	var he *HandshakeError
	if !errors.As(err, &he) || he.Reason != statusText[statusWrongVersion] {
		t.Fatalf("dial to a version-2 server: %v", err)
	}
}

// TestTCPBadInput sends malformed frames after a good handshake: each closes
// the connection, is counted, and delivers nothing.
func TestTCPBadInput(t *testing.T) {
	good := func() []byte {
		p, err := appendMessage(nil, msg(1, 2, raftpb.MsgHeartbeat, 1))
		must(t, err)
		return appendFrame(nil, frameMsgs, p)
	}
	forged := func() []byte {
		p, _ := appendMessage(nil, msg(3, 2, raftpb.MsgHeartbeat, 1)) // From 3 on 1's connection
		return appendFrame(nil, frameMsgs, p)
	}
	misaddressed := func() []byte {
		p, _ := appendMessage(nil, msg(1, 5, raftpb.MsgHeartbeat, 1))
		return appendFrame(nil, frameMsgs, p)
	}
	for _, tc := range []struct {
		name  string
		bytes func() []byte
	}{
		{"bad checksum", func() []byte { f := good(); f[len(f)-1] ^= 1; return f }},
		{"oversized length", func() []byte { f := good(); f[0] = 0x7f; return f }},
		{"unknown type", func() []byte { f := good(); f[4] = 12; return f }},
		{"pong on the acceptor", func() []byte { return appendFrame(nil, framePong, make([]byte, 8)) }},
		{"garbage", func() []byte { return bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 100) }},
		{"truncated message", func() []byte { return appendFrame(nil, frameMsgs, []byte{0, 0, 1, 0, 1, 2}) }},
		{"undecodable message", func() []byte { return appendFrame(nil, frameMsgs, []byte{0, 0, 0, 2, 0xff, 0xff}) }},
		{"forged sender", forged},
		{"wrong recipient", misaddressed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newTCP(t, 2, func(c *TCPConfig) { c.MaxFrameSize = 1 << 20 })
			rb := newRecorder()
			must(t, b.Start(rb))
			conn, r := rawDial(t, b, hello{version: ProtocolVersion, kind: kindMessages, cluster: 0xc1, from: 1, to: 2})
			if r.status != statusOK {
				t.Fatalf("handshake: %+v", r)
			}
			conn.Write(tc.bytes())
			io.Copy(io.Discard, conn) // returns once the acceptor closes
			if got := b.Stats().BadFrames; got != 1 {
				t.Fatalf("BadFrames = %d, want 1", got)
			}
			if rb.numMsgs() != 0 {
				t.Fatal("a message was delivered from bad input")
			}
		})
	}
}

// TestFrameReaderDoesNotTrustLength: a header claiming 60 MiB followed by 10
// bytes allocates for the bytes that came, not the claim.
func TestFrameReaderDoesNotTrustLength(t *testing.T) {
	f := appendFrame(nil, frameMsgs, make([]byte, 60<<20))[:frameHeaderSize+10]
	fr := &frameReader{r: bytes.NewReader(f), max: 64 << 20, allowed: allow(frameMsgs)}
	_, _, err := fr.next()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v", err)
	}
	if cap(fr.buf) > 64<<10 {
		t.Fatalf("allocated %d bytes for 10 that arrived", cap(fr.buf))
	}
	// And a whole large frame still reads correctly, growing as it arrives.
	payload := bytes.Repeat([]byte("0123456789"), 100000)
	fr = &frameReader{r: bytes.NewReader(appendFrame(nil, frameMsgs, payload)), max: 64 << 20, allowed: allow(frameMsgs)}
	_, got, err := fr.next()
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("large frame: %v", err)
	}
}

func TestTCPRTTMeasured(t *testing.T) {
	a, _, _, _ := pair(t, nil)
	// The first ping goes out as soon as the connection is up.
	waitUntil(t, "an RTT sample", func() bool { return a.Stats().Peers[2].RTT > 0 })
}

func TestTCPRemovePeer(t *testing.T) {
	a, _, ra, rb := pair(t, nil)
	sendUntil(t, a, rb, 1)
	a.RemovePeer(2)
	a.Send([]*raftpb.Message{msg(1, 2, raftpb.MsgHeartbeat, 2)})
	ra.waitFor(t, "unreachable", func() bool { return len(ra.unreachable) > 0 })
	// Node 2 may still be connected inbound (it sends to 1), so it may keep
	// an entry, but no longer as a known peer with an address.
	if st, ok := a.Stats().Peers[2]; ok && st.Addr != "" {
		t.Fatalf("removed peer still known: %+v", st)
	}
	if err := a.AddPeer(2, "no-port"); err == nil {
		t.Fatal("AddPeer accepted an address without a port")
	}
	if err := a.AddPeer(1, "127.0.0.1:1"); err == nil {
		t.Fatal("AddPeer accepted its own ID")
	}
}

// TestTCPCloseStopsHandlerCalls: after Close returns, with traffic and a
// snapshot in flight, the Handler is never called again.
func TestTCPCloseStopsHandlerCalls(t *testing.T) {
	a, b, ra, rb := pair(t, func(c *TCPConfig) { c.SnapshotChunkSize = 64 << 10 })
	g := &gatedReader{Reader: &patterned{size: 8 << 20}, n: 1 << 20, gate: make(chan struct{}), hit: make(chan struct{})}
	a.SendSnapshot(snapMsg(1, 2), g, 8<<20)
	<-g.hit
	for i := range 100 {
		a.Send([]*raftpb.Message{msg(1, 2, raftpb.MsgApp, uint64(i))})
		b.Send([]*raftpb.Message{msg(2, 1, raftpb.MsgAppResp, uint64(i))})
	}
	must(t, a.Close())
	must(t, b.Close())
	ra.mu.Lock()
	nra := len(ra.msgs) + len(ra.unreachable) + len(ra.snapReports)
	ra.mu.Unlock()
	rb.mu.Lock()
	nrb := len(rb.msgs) + len(rb.snaps)
	rb.mu.Unlock()
	time.Sleep(50 * time.Millisecond) // anything late would land now
	ra.mu.Lock()
	defer ra.mu.Unlock()
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if len(ra.msgs)+len(ra.unreachable)+len(ra.snapReports) != nra || len(rb.msgs)+len(rb.snaps) != nrb {
		t.Fatal("handler called after Close returned")
	}
	if err := a.Start(newRecorder()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	a.Send([]*raftpb.Message{msg(1, 2, raftpb.MsgApp, 0)}) // must not panic or block
}
