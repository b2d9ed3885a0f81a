package transport

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickraft/raft/raftpb"
)

// countHandler counts deliveries and keeps nothing.
type countHandler struct {
	msgs  atomic.Int64
	snaps atomic.Int64
	errs  atomic.Int64
	tick  chan struct{} // if set, signalled every 64 messages and every snapshot report
}

func (c *countHandler) HandleMessage(*raftpb.Message) {
	if c.msgs.Add(1)%64 == 0 {
		c.signal()
	}
}

func (c *countHandler) signal() {
	if c.tick != nil {
		select {
		case c.tick <- struct{}{}:
		default:
		}
	}
}

// HandleSnapshot takes the file as the contract allows (a rename, as a
// handler keeping the snapshot would), then drops it; other readers are
// read through.
func (c *countHandler) HandleSnapshot(_ *raftpb.Message, data io.Reader, _ int64) error {
	if f, ok := data.(*os.File); ok {
		kept := f.Name() + ".kept"
		if err := os.Rename(f.Name(), kept); err != nil {
			return err
		}
		return os.Remove(kept)
	}
	_, err := io.Copy(io.Discard, data)
	return err
}
func (c *countHandler) ReportUnreachable(uint64) {}
func (c *countHandler) ReportSnapshot(_ uint64, err error) {
	if err != nil {
		c.errs.Add(1)
	}
	c.snaps.Add(1)
	c.signal()
}

// benchMsg is a heartbeat, or an append carrying one entry of size bytes.
func benchMsg(to uint64, size int) *raftpb.Message {
	if size == 0 {
		return &raftpb.Message{Type: raftpb.MsgHeartbeat, From: 1, To: to, Term: 5, Commit: 1000}
	}
	return &raftpb.Message{Type: raftpb.MsgApp, From: 1, To: to, Term: 5, LogTerm: 5, Index: 1000, Commit: 999,
		Entries: []*raftpb.Entry{{Term: 5, Index: 1001, Data: make([]byte, size)}}}
}

// sinkServer accepts transport connections, answers the handshake as node
// `as`, and discards everything after: a receiver that costs the sender
// nothing, so allocations counted are the sender's.
func sinkServer(b *testing.B, as uint64) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				h, err := readHello(c)
				if err != nil {
					return
				}
				c.Write(reply{version: ProtocolVersion, cluster: h.cluster, node: as}.marshal())
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// window keeps at most limit messages queued for a peer, so the benchmark
// measures the transport's rate rather than its drops. It sleeps rather than
// spins: on a 2-core machine a spinning benchmark loop steals the CPU the
// transport needs.
func window(p *peer, limit int) {
	for {
		p.mu.Lock()
		n := len(p.prio) + len(p.norm)
		p.mu.Unlock()
		if n < limit {
			return
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// BenchmarkTCPMessages sends messages from node 1 to `peers` peers over
// loopback, each a real transport delivering to a counting handler: the
// end-to-end rate, framing, checksums and decoding included. Allocations
// include the receivers' (a decoded message is allocated for the handler).
func BenchmarkTCPMessages(b *testing.B) {
	for _, size := range []int{0, 64 << 10} {
		for _, peers := range []int{1, 4} {
			name := fmt.Sprintf("heartbeat/peers=%d", peers)
			if size > 0 {
				name = fmt.Sprintf("64KiB/peers=%d", peers)
			}
			b.Run(name, func(b *testing.B) { benchMessages(b, size, peers, false) })
		}
	}
}

// BenchmarkTCPSend is BenchmarkTCPMessages against receivers that discard
// the bytes: the sender's cost alone, allocations included.
func BenchmarkTCPSend(b *testing.B) {
	for _, size := range []int{0, 64 << 10} {
		for _, peers := range []int{1, 4} {
			name := fmt.Sprintf("heartbeat/peers=%d", peers)
			if size > 0 {
				name = fmt.Sprintf("64KiB/peers=%d", peers)
			}
			b.Run(name, func(b *testing.B) { benchMessages(b, size, peers, true) })
		}
	}
}

func benchMessages(b *testing.B, size, npeers int, sink bool) {
	a := newTCP(b, 1, nil)
	must(b, a.Start(&countHandler{}))
	var handlers []*countHandler
	tick := make(chan struct{}, 1)
	for i := range npeers {
		id := uint64(i + 2)
		addr := ""
		if sink {
			addr = sinkServer(b, id)
		} else {
			r := newTCP(b, id, nil)
			h := &countHandler{tick: tick}
			must(b, r.Start(h))
			handlers = append(handlers, h)
			addr = r.Addr().String()
		}
		must(b, a.AddPeer(id, addr))
	}
	msgs := make([]*raftpb.Message, npeers)
	batches := make([][]*raftpb.Message, npeers)
	peers := make([]*peer, npeers)
	for i := range msgs {
		msgs[i] = benchMsg(uint64(i+2), size)
		batches[i] = []*raftpb.Message{msgs[i]}
		peers[i] = a.peers[uint64(i+2)]
	}
	// Warm up: connections up, buffers grown.
	for i := range 64 {
		a.Send(batches[i%npeers])
	}
	waitSent(b, a, npeers, 64)
	limit := 1024
	if size > 0 {
		limit = 64
	}
	b.SetBytes(int64(wireSize(msgs[0])))
	b.ReportAllocs()
	b.ResetTimer()
	received := func() int {
		total := int64(0)
		for _, h := range handlers {
			total += h.msgs.Load()
		}
		return int(total)
	}
	for i := range b.N {
		j := i % npeers
		if sink {
			window(peers[j], limit)
		} else {
			// End to end, the window is messages not yet delivered.
			for i+64-received() >= limit*npeers {
				<-tick
			}
		}
		a.Send(batches[j])
	}
	if sink {
		waitSent(b, a, npeers, 64+b.N)
	} else {
		for received() < 64+b.N {
			select {
			case <-tick:
			case <-time.After(time.Millisecond):
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	st := a.Stats()
	var dropped, frames, sent uint64
	for _, p := range st.Peers {
		dropped += p.Dropped
		frames += p.FramesSent
		sent += p.MsgsSent
	}
	if dropped > 0 {
		b.Fatalf("%d messages dropped", dropped)
	}
	b.ReportMetric(float64(sent)/float64(frames), "msgs/frame")
}

func wireSize(m *raftpb.Message) int {
	p, _ := appendMessage(nil, m)
	return len(p)
}

func waitSent(b *testing.B, a *TCP, npeers, want int) {
	waitUntil2(b, func() bool {
		total := uint64(0)
		a.mu.RLock()
		for _, c := range a.counters {
			total += c.msgsSent.Load()
		}
		a.mu.RUnlock()
		return total >= uint64(want)
	})
}

func waitUntil2(b *testing.B, cond func() bool) {
	for !cond() {
		time.Sleep(50 * time.Microsecond)
	}
}

// snapDir is where benchmark snapshots land: tmpfs when the machine has one,
// so the figure is the transport's and not the disk's.
func snapDir(b *testing.B) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "tickraft-bench-")
		if err == nil {
			b.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return b.TempDir()
}

const benchSnapSize = 64 << 20

// BenchmarkSnapshot streams a 64 MiB snapshot over loopback: chunked frames,
// CRC-32C, a temporary file on the receiver (tmpfs when available), the
// handler reading it back, the ack.
func BenchmarkSnapshot(b *testing.B) {
	data := make([]byte, benchSnapSize)
	(&patterned{size: benchSnapSize}).Read(data)
	for _, chunk := range []int{1 << 20, 4 << 20} {
		b.Run(fmt.Sprintf("chunk=%dKiB", chunk>>10), func(b *testing.B) {
			dir := snapDir(b)
			a := newTCP(b, 1, func(c *TCPConfig) { c.SnapshotChunkSize = chunk })
			r := newTCP(b, 2, func(c *TCPConfig) { c.SnapshotDir = dir })
			ha := &countHandler{tick: make(chan struct{}, 1)}
			must(b, a.Start(ha))
			must(b, r.Start(&countHandler{}))
			must(b, a.AddPeer(2, r.Addr().String()))
			b.SetBytes(benchSnapSize)
			b.ResetTimer()
			for i := range b.N {
				a.SendSnapshot(snapMsg(1, 2), io.NopCloser(bytes.NewReader(data)), benchSnapSize)
				for ha.snaps.Load() < int64(i+1) {
					<-ha.tick
				}
			}
			b.StopTimer()
			if ha.errs.Load() > 0 {
				b.Fatal("snapshot failed")
			}
		})
	}
}

// BenchmarkRawLoopbackCopy is the limit BenchmarkSnapshot is measured
// against: io.Copy of the same bytes over a plain loopback TCP connection,
// into io.Discard (the network alone) and into a file in the same directory
// (the network and the receiver's file).
func BenchmarkRawLoopbackCopy(b *testing.B) {
	data := make([]byte, benchSnapSize)
	(&patterned{size: benchSnapSize}).Read(data)
	dir := snapDir(b)
	for _, toFile := range []bool{false, true} {
		name := "discard"
		if toFile {
			name = "file"
		}
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			must(b, err)
			defer ln.Close()
			done := make(chan error)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					var w io.Writer = io.Discard
					var f *os.File
					if toFile {
						f, _ = os.CreateTemp(dir, "raw-*")
						w = f
					}
					_, err = io.Copy(w, io.LimitReader(c, benchSnapSize))
					if f != nil {
						f.Close()
						os.Remove(f.Name())
					}
					c.Write([]byte{1})
					c.Close()
					done <- err
				}
			}()
			b.SetBytes(benchSnapSize)
			b.ResetTimer()
			for range b.N {
				c, err := net.Dial("tcp", ln.Addr().String())
				must(b, err)
				if _, err := io.Copy(c, bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
				c.Read(make([]byte, 1))
				c.Close()
				must(b, <-done)
			}
		})
	}
}
