package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	lt "github.com/tickraft/raft/internal/lattrace"
	"github.com/tickraft/raft/raftpb"
)

// TCPConfig configures a TCP transport. Zero limits take the defaults named
// on each field.
type TCPConfig struct {
	ID        uint64 // this node's ID; required
	ClusterID uint64 // both sides of every connection must agree on it

	ListenAddr string       // address to listen on (such as "127.0.0.1:0"), unless Listener is set
	Listener   net.Listener // a listener to accept on instead; Close closes it
	// AdvertiseAddr is the address peers dial to reach this node (host:port,
	// at most 255 bytes). Every hello carries it, so a node that does not
	// know this one yet learns where to answer: a member that has not yet
	// applied the change that added a new leader, or a node that joined
	// before it heard of the others. Default: the listener's address, unless
	// it is a wildcard (0.0.0.0 or ::), in which case nothing is advertised.
	AdvertiseAddr string

	// TLS, when set, makes every connection TLS, both ways: the config must
	// hold this node's certificate, the CA to verify peers (RootCAs and
	// ClientCAs) and, for mutual TLS, ClientAuth =
	// tls.RequireAndVerifyClientCert.
	TLS *tls.Config
	// VerifyPeer, when set, is called with the peer's node ID (the one it
	// claims when it dials us, the one we mean to reach when we dial) and
	// the TLS state (nil without TLS); an error refuses the connection. Use
	// it to bind node IDs to certificates.
	VerifyPeer func(id uint64, state *tls.ConnectionState) error

	SnapshotDir string       // where received snapshots are written before HandleSnapshot; default os.TempDir()
	Logger      *slog.Logger // default slog.Default()

	MaxFrameSize  int // largest frame payload accepted or sent; default 64 MiB
	MaxBatchMsgs  int // messages per frame; default 256
	MaxBatchBytes int // bytes per frame (a larger single message gets a frame of its own); default 1 MiB
	QueueSize     int // messages waiting per peer; default 4096

	DialTimeout  time.Duration // connect plus handshake; default 3s
	BackoffMin   time.Duration // first reconnect delay; default 50ms
	BackoffMax   time.Duration // reconnect delay cap; default 2s
	PingInterval time.Duration // pings measure RTT and prove the connection alive; default 500ms
	DeadTimeout  time.Duration // no bytes from the other side for this long closes a connection; default 5s
	WriteTimeout time.Duration // one frame write; default 5s

	SnapshotChunkSize int           // bytes per chunk frame; default 1 MiB (on loopback, 1 MiB chunks pipelined at least as well as 4 MiB)
	SnapshotTimeout   time.Duration // fixed part of a snapshot's deadline; default 10s
	SnapshotMinRate   int64         // bytes/s below which a snapshot fails; the deadline grows with size/SnapshotMinRate; default 1 MiB/s
	MaxSnapshotSize   int64         // largest snapshot accepted; default: no limit
}

func (c *TCPConfig) setDefaults() {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	defD := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&c.MaxFrameSize, 64<<20)
	def(&c.MaxBatchMsgs, 256)
	def(&c.MaxBatchBytes, 1<<20)
	def(&c.QueueSize, 4096)
	def(&c.SnapshotChunkSize, 1<<20)
	defD(&c.DialTimeout, 3*time.Second)
	defD(&c.BackoffMin, 50*time.Millisecond)
	defD(&c.BackoffMax, 2*time.Second)
	defD(&c.PingInterval, 500*time.Millisecond)
	defD(&c.DeadTimeout, 5*time.Second)
	defD(&c.WriteTimeout, 5*time.Second)
	defD(&c.SnapshotTimeout, 10*time.Second)
	if c.SnapshotMinRate <= 0 {
		c.SnapshotMinRate = 1 << 20
	}
	if c.SnapshotChunkSize > c.MaxFrameSize {
		c.SnapshotChunkSize = c.MaxFrameSize
	}
	if c.SnapshotDir == "" {
		c.SnapshotDir = os.TempDir()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// TCP is the Transport over TCP (optionally TLS). See the package
// documentation for the wire format and the failure semantics.
type TCP struct {
	cfg   TCPConfig
	log   *slog.Logger
	ln    net.Listener
	epoch time.Time // ping timestamps count from here
	rep   *reporter
	done  chan struct{} // closed by Close
	wg    sync.WaitGroup

	handshakeRejects atomic.Uint64
	badFrames        atomic.Uint64
	snapBufs         bufPool // chunk buffers reused across snapshot streams

	mu       sync.RWMutex
	h        Handler                // set by Start; guarded by mu
	closed   bool                   // guarded by mu
	peers    map[uint64]*peer       // outbound state by peer; guarded by mu
	counters map[uint64]*counters   // by peer, known or inbound-only; guarded by mu
	inbound  map[net.Conn]struct{}  // accepted connections, closed by Close; guarded by mu
	sending  map[*snapSend]struct{} // snapshots being sent, aborted by Close; guarded by mu
}

var _ Transport = (*TCP)(nil)

// counters are one peer's statistics, updated without locks.
type counters struct {
	msgsSent, framesSent, bytesSent, msgsRecv, bytesRecv, dropped atomic.Uint64
	dials, connects, hsRejects                                    atomic.Uint64
	rtt                                                           atomic.Int64
	connected                                                     atomic.Bool
	snapSent, snapFailed, snapRecv, snapBytesSent                 atomic.Uint64
	snapLastSend, snapSendTotal, snapLastRecv                     atomic.Int64
}

// NewTCP listens and returns a transport; call Start to begin delivering.
func NewTCP(cfg TCPConfig) (*TCP, error) {
	if cfg.ID == 0 {
		return nil, errors.New("transport: TCPConfig.ID must not be zero")
	}
	cfg.setDefaults()
	if cfg.AdvertiseAddr != "" && !validAddr(cfg.AdvertiseAddr) {
		return nil, fmt.Errorf("transport: TCPConfig.AdvertiseAddr %q is not a host:port of at most %d bytes", cfg.AdvertiseAddr, maxHelloAddr)
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.ListenAddr); err != nil {
			return nil, fmt.Errorf("transport: %w", err)
		}
	}
	if cfg.AdvertiseAddr == "" {
		cfg.AdvertiseAddr = defaultAdvertiseAddr(ln.Addr())
	}
	return &TCP{
		cfg:      cfg,
		log:      cfg.Logger.With("transport", "tcp", "node", cfg.ID),
		ln:       ln,
		epoch:    time.Now(),
		rep:      newReporter(),
		done:     make(chan struct{}),
		peers:    map[uint64]*peer{},
		counters: map[uint64]*counters{},
		inbound:  map[net.Conn]struct{}{},
		sending:  map[*snapSend]struct{}{},
	}, nil
}

// validAddr reports whether addr is a host:port a hello can carry.
func validAddr(addr string) bool {
	if len(addr) > maxHelloAddr {
		return false
	}
	host, port, err := net.SplitHostPort(addr)
	return err == nil && host != "" && port != "" && port != "0"
}

// defaultAdvertiseAddr is the listener's address if peers can dial it.
func defaultAdvertiseAddr(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta.IP == nil || ta.IP.IsUnspecified() || ta.Port == 0 || !validAddr(ta.String()) {
		return ""
	}
	return ta.String()
}

// Addr is the address the transport listens on.
func (t *TCP) Addr() net.Addr { return t.ln.Addr() }

// Start begins accepting connections and delivering to h.
func (t *TCP) Start(h Handler) error {
	if h == nil {
		return errors.New("transport: nil handler")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.closed:
		return ErrClosed
	case t.h != nil:
		return ErrStarted
	}
	t.h = h
	t.wg.Add(2)
	go func() { defer t.wg.Done(); t.rep.run(h, t.done) }()
	go func() { defer t.wg.Done(); t.acceptLoop() }()
	for _, p := range t.peers {
		t.startPeer(p)
	}
	return nil
}

// countersLocked returns id's counters, creating them. Called with t.mu held
// for writing.
func (t *TCP) countersLocked(id uint64) *counters {
	c, ok := t.counters[id]
	if !ok {
		c = &counters{}
		t.counters[id] = c
	}
	return c
}

// countersFor returns id's counters, creating them.
func (t *TCP) countersFor(id uint64) *counters {
	t.mu.RLock()
	c, ok := t.counters[id]
	t.mu.RUnlock()
	if ok {
		return c
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.countersLocked(id)
}

// AddPeer adds a peer, or moves an existing one to a new address (its
// connection is closed and redialed).
func (t *TCP) AddPeer(id uint64, addr string) error {
	if id == 0 || id == t.cfg.ID {
		return fmt.Errorf("transport: bad peer ID %d", id)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("transport: peer %d: %w", id, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if p, ok := t.peers[id]; ok {
		p.setAddr(addr)
		return nil
	}
	p := newPeer(t, id, addr, t.countersLocked(id))
	t.peers[id] = p
	if t.h != nil {
		t.startPeer(p)
	}
	return nil
}

// learnPeer adds a peer we did not know from the address in its hello, so
// that our answers reach it. A known peer keeps the address it was given:
// AddPeer, driven by the membership, is the authority on addresses.
func (t *TCP) learnPeer(id uint64, addr string) {
	if addr == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.peers[id]; ok || t.closed {
		return
	}
	p := newPeer(t, id, addr, t.countersLocked(id))
	t.peers[id] = p
	if t.h != nil {
		t.startPeer(p)
	}
	t.log.Info("learned a peer's address from its hello", "peer", id, "addr", addr)
}

// RemovePeer stops sending to id and closes its outbound connection; messages
// still queued for it are dropped. Its counters are forgotten.
func (t *TCP) RemovePeer(id uint64) {
	t.mu.Lock()
	p := t.peers[id]
	delete(t.peers, id)
	delete(t.counters, id)
	t.mu.Unlock()
	if p != nil {
		p.stop()
	}
}

// startPeer starts p's sender. Called with t.mu held.
func (t *TCP) startPeer(p *peer) {
	t.wg.Add(1)
	go func() { defer t.wg.Done(); p.run() }()
}

// Send queues each message for its peer. It never blocks and, in steady
// state, allocates nothing.
func (t *TCP) Send(msgs []*raftpb.Message) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, m := range msgs {
		p := t.peers[m.To]
		if p == nil || t.closed {
			t.rep.addUnreachable(m.To)
			if c := t.counters[m.To]; c != nil {
				c.dropped.Add(1)
			}
			continue
		}
		p.enqueue(m)
	}
}

// Stats returns the per-peer counters.
func (t *TCP) Stats() Stats {
	t.mu.RLock()
	defer t.mu.RUnlock()
	st := Stats{
		Peers:            make(map[uint64]PeerStats, len(t.counters)),
		HandshakeRejects: t.handshakeRejects.Load(),
		BadFrames:        t.badFrames.Load(),
	}
	for id, c := range t.counters {
		ps := PeerStats{
			Connected:           c.connected.Load(),
			MsgsSent:            c.msgsSent.Load(),
			FramesSent:          c.framesSent.Load(),
			BytesSent:           c.bytesSent.Load(),
			MsgsReceived:        c.msgsRecv.Load(),
			BytesReceived:       c.bytesRecv.Load(),
			Dropped:             c.dropped.Load(),
			Dials:               c.dials.Load(),
			HandshakeRejects:    c.hsRejects.Load(),
			RTT:                 time.Duration(c.rtt.Load()),
			SnapshotsSent:       c.snapSent.Load(),
			SnapshotsFailed:     c.snapFailed.Load(),
			SnapshotsReceived:   c.snapRecv.Load(),
			SnapshotBytesSent:   c.snapBytesSent.Load(),
			SnapshotLastSend:    time.Duration(c.snapLastSend.Load()),
			SnapshotSendTotal:   time.Duration(c.snapSendTotal.Load()),
			SnapshotLastReceive: time.Duration(c.snapLastRecv.Load()),
		}
		if n := c.connects.Load(); n > 1 {
			ps.Reconnects = n - 1
		}
		if p := t.peers[id]; p != nil {
			ps.Addr, ps.QueueLen = p.snapshotState()
		}
		st.Peers[id] = ps
	}
	return st
}

// Close stops the transport. Queued messages are dropped, snapshots in flight
// fail (without a report: no Handler method is called after Close returns).
func (t *TCP) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	close(t.done)
	err := t.ln.Close()
	peers := t.peers
	t.peers = map[uint64]*peer{}
	for c := range t.inbound {
		c.Close()
	}
	for s := range t.sending {
		s.abort()
	}
	t.mu.Unlock()
	for _, p := range peers {
		p.stop()
	}
	t.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// track registers an accepted connection for Close; false if closed.
func (t *TCP) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.inbound[c] = struct{}{}
	return true
}

func (t *TCP) untrack(c net.Conn) {
	t.mu.Lock()
	delete(t.inbound, c)
	t.mu.Unlock()
}

func (t *TCP) handler() Handler {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.h
}

// dial connects to addr, meaning to reach node to, and runs the handshake.
func (t *TCP) dial(ctx context.Context, addr string, to uint64, kind byte) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	// Cancelling ctx (Close, RemovePeer) must also end a handshake in
	// progress, which the dial context alone no longer covers.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var state *tls.ConnectionState
	if t.cfg.TLS != nil {
		cfg := t.cfg.TLS.Clone()
		if cfg.ServerName == "" {
			host, _, _ := net.SplitHostPort(addr)
			cfg.ServerName = host
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			var verr *tls.CertificateVerificationError
			if errors.As(err, &verr) {
				return nil, &HandshakeError{Reason: "TLS: " + err.Error(), Local: "-", Remote: addr}
			}
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		cs := tc.ConnectionState()
		state, conn = &cs, tc
	}
	if t.cfg.VerifyPeer != nil {
		if err := t.cfg.VerifyPeer(to, state); err != nil {
			conn.Close()
			return nil, &HandshakeError{Reason: "peer identity refused: " + err.Error(), Local: fmt.Sprint(to), Remote: addr}
		}
	}
	h := hello{version: ProtocolVersion, kind: kind, cluster: t.cfg.ClusterID, from: t.cfg.ID, to: to, addr: t.cfg.AdvertiseAddr}
	if _, err := conn.Write(h.marshal()); err != nil {
		conn.Close()
		return nil, fmt.Errorf("writing hello: %w", err)
	}
	r, err := readReply(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if herr := r.check(h); herr != nil {
		conn.Close()
		return nil, herr
	}
	if !stop() {
		conn.Close()
		return nil, ctx.Err()
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}

// noteHandshakeReject counts and logs a refused handshake.
func (t *TCP) noteHandshakeReject(peerID uint64, remote string, err error) {
	t.handshakeRejects.Add(1)
	t.mu.RLock()
	c := t.counters[peerID]
	t.mu.RUnlock()
	if c != nil {
		c.hsRejects.Add(1)
	}
	t.log.Error("transport handshake refused", "peer", peerID, "remote", remote, "err", err)
}

// noteBadFrame counts and logs a connection closed for bad input.
func (t *TCP) noteBadFrame(peerID uint64, remote string, err error) {
	t.badFrames.Add(1)
	t.log.Error("closing connection after bad input", "peer", peerID, "remote", remote, "err", err)
}

func (t *TCP) acceptLoop() {
	backoff := 5 * time.Millisecond
	for {
		conn, err := t.ln.Accept()
		if err != nil {
			select {
			case <-t.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary (such as too many open files): wait, then retry.
			t.log.Warn("accept failed", "err", err)
			select {
			case <-time.After(backoff):
			case <-t.done:
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		if !t.track(conn) {
			conn.Close()
			return
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			defer t.untrack(conn)
			defer conn.Close()
			t.serveConn(conn)
		}()
	}
}

// serveConn runs the acceptor's side of the handshake, then serves the
// connection by kind.
func (t *TCP) serveConn(raw net.Conn) {
	if tc, ok := raw.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	remote := raw.RemoteAddr().String()
	raw.SetDeadline(time.Now().Add(t.cfg.DialTimeout))
	conn := raw
	var state *tls.ConnectionState
	if t.cfg.TLS != nil {
		tc := tls.Server(raw, t.cfg.TLS)
		if err := tc.Handshake(); err != nil {
			t.noteHandshakeReject(0, remote, fmt.Errorf("TLS: %w", err))
			return
		}
		cs := tc.ConnectionState()
		state, conn = &cs, tc
	}
	// Also registered for Close, so closing raw closes the TLS conn.
	h, err := readHello(conn)
	if err != nil {
		t.noteHandshakeReject(0, remote, err)
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			conn.Write(reply{version: ProtocolVersion, status: statusBadHello, cluster: t.cfg.ClusterID, node: t.cfg.ID}.marshal())
		}
		return
	}
	status, herr := h.check(ProtocolVersion, t.cfg.ClusterID, t.cfg.ID)
	if herr == nil && t.cfg.VerifyPeer != nil {
		if err := t.cfg.VerifyPeer(h.from, state); err != nil {
			status, herr = statusNotAuthorized, &HandshakeError{Reason: "peer identity refused: " + err.Error(), Local: "-", Remote: fmt.Sprint(h.from)}
		}
	}
	if herr != nil { // counted before the reply, so the dialer sees it counted
		t.noteHandshakeReject(h.from, remote, herr)
	}
	r := reply{version: ProtocolVersion, status: status, cluster: t.cfg.ClusterID, node: t.cfg.ID}
	if _, err := conn.Write(r.marshal()); err != nil || herr != nil {
		return
	}
	conn.SetDeadline(time.Time{})
	t.learnPeer(h.from, h.addr)
	c := t.countersFor(h.from)
	switch h.kind {
	case kindMessages:
		t.serveMessages(conn, h.from, c, remote)
	case kindSnapshot:
		t.receiveSnapshot(conn, h.from, c, remote)
	}
}

// serveMessages reads message frames from peer until the connection fails,
// answering pings.
func (t *TCP) serveMessages(conn net.Conn, from uint64, c *counters, remote string) {
	h := t.handler()
	fr := &frameReader{r: conn, max: t.cfg.MaxFrameSize, allowed: allow(frameMsgs, framePing)}
	var pong []byte
	for {
		conn.SetReadDeadline(time.Now().Add(t.cfg.DeadTimeout))
		before := fr.n
		typ, payload, err := fr.next()
		c.bytesRecv.Add(fr.n - before)
		if err != nil {
			t.connError(from, remote, err)
			return
		}
		switch typ {
		case framePing:
			pong = appendFrame(pong[:0], framePong, payload)
			conn.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout))
			if _, err := conn.Write(pong); err != nil {
				return
			}
		case frameMsgs:
			err := forEachMessage(payload, func(m *raftpb.Message) error {
				if m.From != from || m.To != t.cfg.ID {
					return fmt.Errorf("%w: message from %d to %d on the connection from %d to %d", errBadPayload, m.From, m.To, from, t.cfg.ID)
				}
				c.msgsRecv.Add(1)
				lt.MarkMessage(lt.TRecv, m)
				h.HandleMessage(m)
				return nil
			})
			if err != nil {
				t.connError(from, remote, err)
				return
			}
		}
	}
}

// connError logs why a connection ended: bad input is an error and counted,
// a closed or timed-out connection is routine.
func (t *TCP) connError(from uint64, remote string, err error) {
	switch {
	case errors.Is(err, errBadChecksum), errors.Is(err, errFrameSize), errors.Is(err, errFrameType), errors.Is(err, errBadPayload):
		t.noteBadFrame(from, remote, err)
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		t.log.Debug("connection closed", "peer", from, "remote", remote)
	default:
		t.log.Info("connection lost", "peer", from, "remote", remote, "err", err)
	}
}

// killConnections closes every live connection (a test hook standing in for
// a network fault); senders redial.
func (t *TCP) killConnections() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.inbound {
		c.Close()
	}
	for _, p := range t.peers {
		p.mu.Lock()
		if p.conn != nil {
			p.conn.Close()
		}
		p.mu.Unlock()
	}
}
