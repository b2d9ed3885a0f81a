package transport

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	lt "github.com/tickraft/raft/internal/lattrace"
	"github.com/tickraft/raft/raftpb"
)

// peer is the sending side toward one peer: a queue with a priority lane,
// and one goroutine that keeps a connection up and drains the queue into it,
// one frame per write.
type peer struct {
	t  *TCP
	id uint64
	c  *counters

	mu sync.Mutex
	// addr is where the peer listens; guarded by mu.
	addr string
	// prio holds heartbeats, votes and their responses, which are written
	// before anything in norm: a heartbeat never waits behind queued
	// appends. len(prio)+len(norm) <= QueueSize. Guarded by mu.
	prio, norm []*raftpb.Message
	// accepting is false while the peer is known to be unreachable (between
	// a failed dial and the next attempt): Send drops at once rather than
	// queue messages that would be stale by the time they could go out.
	// Guarded by mu.
	accepting bool
	// conn is the live connection, closed by stop and by an address change.
	// Guarded by mu.
	conn    net.Conn
	stopped bool // guarded by mu

	wake  chan struct{} // capacity 1: the queue grew
	redo  chan struct{} // capacity 1: the address changed, redial now
	quit  chan struct{} // closed by stop
	batch []*raftpb.Message
	buf   []byte // frame buffer, reused for every write
}

func newPeer(t *TCP, id uint64, addr string, c *counters) *peer {
	return &peer{
		t: t, id: id, c: c, addr: addr, accepting: true,
		wake: make(chan struct{}, 1),
		redo: make(chan struct{}, 1),
		quit: make(chan struct{}),
	}
}

// isPriority says whether m goes in the priority lane: everything small and
// latency-critical (leadership and elections), not appends or snapshots.
func isPriority(t raftpb.MessageType) bool {
	switch t {
	case raftpb.MsgHeartbeat, raftpb.MsgHeartbeatResp,
		raftpb.MsgVote, raftpb.MsgVoteResp, raftpb.MsgPreVote, raftpb.MsgPreVoteResp,
		raftpb.MsgTimeoutNow, raftpb.MsgReadIndex, raftpb.MsgReadIndexResp:
		return true
	}
	return false
}

// enqueue queues m, or drops it (counted, reported) if the queue is full or
// the peer unreachable.
func (p *peer) enqueue(m *raftpb.Message) {
	p.mu.Lock()
	if !p.accepting || len(p.prio)+len(p.norm) >= p.t.cfg.QueueSize {
		p.mu.Unlock()
		p.c.dropped.Add(1)
		p.t.rep.addUnreachable(p.id)
		return
	}
	if isPriority(m.Type) {
		p.prio = append(p.prio, m)
	} else {
		p.norm = append(p.norm, m)
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *peer) snapshotState() (string, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr, len(p.prio) + len(p.norm)
}

func (p *peer) setAddr(addr string) {
	p.mu.Lock()
	changed := addr != p.addr
	p.addr = addr
	if changed && p.conn != nil {
		p.conn.Close()
	}
	p.mu.Unlock()
	if changed {
		select {
		case p.redo <- struct{}{}:
		default:
		}
	}
}

// stop ends the sender; queued messages are dropped.
func (p *peer) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	close(p.quit)
	if p.conn != nil {
		p.conn.Close()
	}
}

// dropQueued discards every queued message (counted and reported) and sets
// whether new ones are accepted.
func (p *peer) dropQueued(accepting bool) {
	p.mu.Lock()
	n := len(p.prio) + len(p.norm)
	clear(p.prio)
	clear(p.norm)
	p.prio, p.norm = p.prio[:0], p.norm[:0]
	p.accepting = accepting
	p.mu.Unlock()
	if n > 0 {
		p.c.dropped.Add(uint64(n))
		p.t.rep.addUnreachable(p.id)
	}
}

// run keeps a connection to the peer and sends on it until stop.
func (p *peer) run() {
	backoff := p.t.cfg.BackoffMin
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-p.quit
		cancel()
	}()
	for {
		p.mu.Lock()
		addr := p.addr
		p.mu.Unlock()
		p.c.dials.Add(1)
		conn, err := p.t.dial(ctx, addr, p.id, kindMessages)
		if p.isStopped() {
			if conn != nil {
				conn.Close()
			}
			p.dropQueued(false)
			return
		}
		if err != nil {
			if he, ok := err.(*HandshakeError); ok {
				p.t.noteHandshakeReject(p.id, addr, he)
			} else {
				p.t.log.Info("cannot reach peer", "peer", p.id, "addr", addr, "err", err, "retry_in", backoff)
			}
			p.dropQueued(false)
			if !p.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, p.t.cfg.BackoffMax)
			p.mu.Lock()
			p.accepting = true
			p.mu.Unlock()
			continue
		}
		p.mu.Lock()
		p.conn = conn
		stopped, moved := p.stopped, p.addr != addr
		p.mu.Unlock()
		if stopped {
			conn.Close()
			return
		}
		if moved { // the address changed while we dialed the old one
			conn.Close()
			continue
		}
		p.c.connects.Add(1)
		p.c.connected.Store(true)
		if p.c.connects.Load() > 1 {
			p.t.log.Info("reconnected to peer", "peer", p.id, "addr", addr)
		}
		connected := time.Now()
		p.serve(conn)
		p.c.connected.Store(false)
		p.mu.Lock()
		p.conn = nil
		p.mu.Unlock()
		conn.Close()
		// What was queued for the broken connection is stale by the time a
		// new one is up: drop it and tell raft, which resends what matters.
		if time.Since(connected) >= p.t.cfg.BackoffMax {
			p.dropQueued(true) // redial at once
			backoff = p.t.cfg.BackoffMin
			continue
		}
		// A connection that breaks soon after it was made (a peer accepting
		// and closing at once) must not make us spin: back off, dropping
		// what is sent meanwhile.
		p.dropQueued(false)
		if !p.sleep(backoff) {
			return
		}
		backoff = min(2*backoff, p.t.cfg.BackoffMax)
		p.mu.Lock()
		p.accepting = true
		p.mu.Unlock()
	}
}

// sleep waits a jittered d: a uniformly random time in [d/2, d], so peers
// that lost a node together do not redial in lockstep. An address change
// cuts it short; false if the peer was stopped.
func (p *peer) sleep(d time.Duration) bool {
	select {
	case <-time.After(d/2 + rand.N(d/2+1)):
	case <-p.redo:
	case <-p.quit:
		return false
	}
	return true
}

func (p *peer) isStopped() bool {
	select {
	case <-p.quit:
		return true
	default:
		return false
	}
}

// serve writes queued messages and pings to conn until it fails. A second
// goroutine reads the pongs: RTT, and proof the connection is alive.
func (p *peer) serve(conn net.Conn) {
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		p.readPongs(conn)
	}()
	defer func() { conn.Close(); <-readerDone }()
	ping := time.NewTicker(p.t.cfg.PingInterval)
	defer ping.Stop()
	if !p.writePing(conn) {
		return
	}
	for {
		select {
		case <-p.wake:
		case <-ping.C:
			if !p.writePing(conn) {
				return
			}
			continue
		case <-readerDone:
			return
		case <-p.quit:
			return
		}
		for p.take() {
			if !p.writeBatch(conn) {
				return
			}
		}
	}
}

// take moves the next frame's worth of messages (priority lane first) into
// p.batch; false if the queue is empty.
func (p *peer) take() bool {
	maxMsgs, maxBytes := p.t.cfg.MaxBatchMsgs, p.t.cfg.MaxBatchBytes
	p.batch = p.batch[:0]
	size := 0
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prio = p.takeFrom(p.prio, maxMsgs, maxBytes, &size)
	p.norm = p.takeFrom(p.norm, maxMsgs, maxBytes, &size)
	return len(p.batch) > 0
}

func (p *peer) takeFrom(q []*raftpb.Message, maxMsgs, maxBytes int, size *int) []*raftpb.Message {
	n := 0
	for n < len(q) && len(p.batch) < maxMsgs {
		s := estimateSize(q[n])
		if len(p.batch) > 0 && *size+s > maxBytes {
			break
		}
		*size += s
		p.batch = append(p.batch, q[n])
		n++
	}
	if n == 0 {
		return q
	}
	rest := copy(q, q[n:])
	clear(q[rest:])
	return q[:rest]
}

// estimateSize is a cheap upper-bound-ish size of m on the wire, for batching.
func estimateSize(m *raftpb.Message) int {
	s := 64 + len(m.Context)
	for _, e := range m.Entries {
		s += 24 + len(e.Data)
	}
	if m.Snapshot != nil {
		s += 64 + len(m.Snapshot.Data)
	}
	return s
}

// writeBatch encodes p.batch into one frame (more only if the bytes overflow
// MaxFrameSize) and writes it.
func (p *peer) writeBatch(conn net.Conn) bool {
	buf := p.buf[:0]
	start := len(buf)
	buf = appendFrameHeader(buf)
	sent, frames := 0, uint64(1)
	for _, m := range p.batch {
		mark := len(buf)
		var err error
		buf, err = appendMessage(buf, m)
		if err == nil && len(buf)-start-frameHeaderSize > p.t.cfg.MaxFrameSize {
			// This message overflows the frame: close the frame before it
			// and give it a frame of its own, if it fits one.
			if mark-start-frameHeaderSize > 0 && len(buf)-mark <= p.t.cfg.MaxFrameSize {
				moved := append([]byte(nil), buf[mark:]...)
				buf = buf[:mark]
				endFrame(buf, start, frameMsgs)
				start = len(buf)
				buf = appendFrameHeader(buf)
				buf = append(buf, moved...)
				frames++
			} else if len(buf)-mark > p.t.cfg.MaxFrameSize {
				buf = buf[:mark]
				err = errFrameSize
			}
		}
		if err != nil {
			p.t.log.Error("dropping unsendable message", "peer", p.id, "type", m.Type, "err", err)
			p.c.dropped.Add(1)
			p.t.rep.addUnreachable(p.id)
			continue
		}
		sent++
	}
	endFrame(buf, start, frameMsgs)
	p.buf = buf
	if lt.On {
		for _, m := range p.batch {
			lt.MarkMessage(lt.TWrite, m)
		}
	}
	clear(p.batch)
	conn.SetWriteDeadline(time.Now().Add(p.t.cfg.WriteTimeout))
	if _, err := conn.Write(buf); err != nil {
		p.c.dropped.Add(uint64(sent))
		p.t.rep.addUnreachable(p.id)
		return false
	}
	p.c.msgsSent.Add(uint64(sent))
	p.c.framesSent.Add(frames)
	p.c.bytesSent.Add(uint64(len(buf)))
	return true
}

func (p *peer) writePing(conn net.Conn) bool {
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(time.Since(p.t.epoch)))
	p.buf = appendFrame(p.buf[:0], framePing, ts[:])
	conn.SetWriteDeadline(time.Now().Add(p.t.cfg.WriteTimeout))
	if _, err := conn.Write(p.buf); err != nil {
		return false
	}
	p.c.bytesSent.Add(uint64(len(p.buf)))
	return true
}

// readPongs reads the acceptor's pongs until the connection fails or stays
// silent past DeadTimeout (pings are answered, so silence means dead).
func (p *peer) readPongs(conn net.Conn) {
	fr := &frameReader{r: conn, max: 8, allowed: allow(framePong)}
	for {
		conn.SetReadDeadline(time.Now().Add(p.t.cfg.DeadTimeout))
		_, payload, err := fr.next()
		if err == nil && len(payload) != 8 {
			err = errBadPayload
		}
		if err != nil {
			p.t.connError(p.id, conn.RemoteAddr().String(), err)
			conn.Close()
			return
		}
		sent := time.Duration(binary.BigEndian.Uint64(payload))
		if rtt := time.Since(p.t.epoch) - sent; rtt >= 0 {
			p.c.rtt.Store(int64(rtt))
		}
	}
}
