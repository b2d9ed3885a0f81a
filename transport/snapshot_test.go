package transport

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickraft/raft/raftpb"
)

func snapMsg(from, to uint64) *raftpb.Message {
	m := msg(from, to, raftpb.MsgSnap, 0)
	m.Snapshot = &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: 10, Term: 1}}
	return m
}

// patterned is a deterministic, incompressible-looking snapshot of size bytes
// generated on the fly (no big buffer on the sender).
type patterned struct {
	size, off int64
	closed    bool
}

// patternBlock repeats through a patterned stream; its odd length keeps it
// out of step with chunk boundaries.
var patternBlock = func() []byte {
	b := make([]byte, 1<<20+7)
	for i := range b {
		b[i] = byte(uint32(i) * 0x9e3779b1 >> 24)
	}
	return b
}()

func (p *patterned) Read(b []byte) (int, error) {
	if p.off >= p.size {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.size-p.off)]
	n := 0
	for n < len(b) {
		n += copy(b[n:], patternBlock[(p.off+int64(n))%int64(len(patternBlock)):])
	}
	p.off += int64(n)
	return n, nil
}

func (p *patterned) Close() error { p.closed = true; return nil }

// digestHandler checks a received snapshot by checksum instead of keeping it.
type digestHandler struct {
	*recorder
	sums []uint32
}

func (d *digestHandler) HandleSnapshot(m *raftpb.Message, data io.Reader, size int64) error {
	h := crc32.New(castagnoli)
	n, err := io.Copy(h, data)
	if err != nil || n != size {
		panic("digestHandler: short data")
	}
	if _, ok := data.(*os.File); !ok {
		panic("digestHandler: data is not a file")
	}
	d.mu.Lock()
	d.sums = append(d.sums, h.Sum32())
	d.snaps = append(d.snaps, recordedSnap{m: m})
	d.mu.Unlock()
	d.note()
	return nil
}

func patternSum(size int64) uint32 {
	h := crc32.New(castagnoli)
	io.Copy(h, &patterned{size: size})
	return h.Sum32()
}

func dirEmpty(t *testing.T, dir string) bool {
	ents, err := os.ReadDir(dir)
	must(t, err)
	return len(ents) == 0
}

func TestTCPSnapshot(t *testing.T) {
	a, b, ra, rb := pair(t, func(c *TCPConfig) { c.SnapshotChunkSize = 64 << 10 })
	data := bytes.Repeat([]byte("abcdefgh"), 100000) // 800 KB: 13 chunks
	a.SendSnapshot(snapMsg(1, 2), io.NopCloser(bytes.NewReader(data)), int64(len(data)))
	ra.waitFor(t, "report", func() bool { return len(ra.snapReports) == 1 })
	if r := ra.snapReports[0]; r.id != 2 || r.err != nil {
		t.Fatalf("report %+v", r)
	}
	if len(rb.snaps) != 1 || !bytes.Equal(rb.snaps[0].data, data) || rb.snaps[0].m.Snapshot.Metadata.Index != 10 {
		t.Fatal("snapshot not delivered intact")
	}
	if !dirEmpty(t, b.cfg.SnapshotDir) {
		t.Fatal("temporary file left behind")
	}
	// Messages keep flowing on their own connection meanwhile, and the
	// handler's error reaches the sender.
	rb.mu.Lock()
	rb.snapErr = errors.New("no space left")
	rb.mu.Unlock()
	a.SendSnapshot(snapMsg(1, 2), io.NopCloser(bytes.NewReader(data)), int64(len(data)))
	a.Send([]*raftpb.Message{msg(1, 2, raftpb.MsgHeartbeat, 1)})
	ra.waitFor(t, "second report", func() bool { return len(ra.snapReports) == 2 })
	if err := ra.snapReports[1].err; err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("handler error reported as %v", err)
	}
	rb.waitFor(t, "heartbeat", func() bool { return len(rb.msgs) == 1 })
	st := a.Stats().Peers[2]
	if st.SnapshotsSent != 1 || st.SnapshotsFailed != 1 || st.SnapshotBytesSent != 2*uint64(len(data)) {
		t.Fatalf("sender stats %+v", st)
	}
	if b.Stats().Peers[1].SnapshotsReceived != 2 {
		t.Fatalf("receiver stats %+v", b.Stats().Peers[1])
	}
	// Data shorter than its declared size fails on the sender.
	a.SendSnapshot(snapMsg(1, 2), io.NopCloser(bytes.NewReader(data[:100])), int64(len(data)))
	ra.waitFor(t, "third report", func() bool { return len(ra.snapReports) == 3 })
	if ra.snapReports[2].err == nil {
		t.Fatal("short data reported as success")
	}
	// An unknown peer fails at once.
	a.SendSnapshot(snapMsg(1, 9), io.NopCloser(bytes.NewReader(data)), int64(len(data)))
	ra.waitFor(t, "fourth report", func() bool { return len(ra.snapReports) == 4 })
	if !errors.Is(ra.snapReports[3].err, ErrUnknownPeer) {
		t.Fatalf("got %v", ra.snapReports[3].err)
	}
}

func TestTCPSnapshot100MiB(t *testing.T) {
	const size = 100 << 20
	a, b := newTCP(t, 1, nil), newTCP(t, 2, nil)
	ra := newRecorder()
	hb := &digestHandler{recorder: newRecorder()}
	must(t, a.AddPeer(2, b.Addr().String()))
	must(t, a.Start(ra))
	must(t, b.Start(hb))
	src := &patterned{size: size}
	a.SendSnapshot(snapMsg(1, 2), src, size)
	ra.waitFor(t, "report", func() bool { return len(ra.snapReports) == 1 })
	if err := ra.snapReports[0].err; err != nil {
		t.Fatal(err)
	}
	if !src.closed {
		t.Fatal("data not closed")
	}
	if len(hb.sums) != 1 || hb.sums[0] != patternSum(size) {
		t.Fatal("100 MiB snapshot arrived corrupted")
	}
	if !dirEmpty(t, b.cfg.SnapshotDir) {
		t.Fatal("temporary file left behind")
	}
}

// gatedReader yields its first n bytes, then blocks until gate closes.
type gatedReader struct {
	io.Reader
	n         int64
	gate      chan struct{}
	hit       chan struct{}
	closeOnce sync.Once
}

func (g *gatedReader) Read(b []byte) (int, error) {
	if g.n == 0 {
		g.n = -1
		close(g.hit)
		<-g.gate
	}
	if g.n < 0 {
		return g.Reader.Read(b)
	}
	b = b[:min(int64(len(b)), g.n)]
	n, err := g.Reader.Read(b)
	g.n -= int64(n)
	return n, err
}

// Close opens the gate, as closing a file or pipe ends a blocked read.
func (g *gatedReader) Close() error {
	g.closeOnce.Do(func() { close(g.gate) })
	return nil
}

// TestTCPSnapshotReceiverDies: the receiver goes away mid-stream; the sender
// reports failure (so raft does not stay paused) and nothing is left on disk.
func TestTCPSnapshotReceiverDies(t *testing.T) {
	a, b, ra, rb := pair(t, func(c *TCPConfig) { c.SnapshotChunkSize = 64 << 10 })
	const size = 16 << 20
	g := &gatedReader{Reader: &patterned{size: size}, n: 1 << 20, gate: make(chan struct{}), hit: make(chan struct{})}
	a.SendSnapshot(snapMsg(1, 2), g, size)
	<-g.hit // 1 MiB of 16 sent
	must(t, b.Close())
	g.Close()
	ra.waitFor(t, "failure report", func() bool { return len(ra.snapReports) == 1 })
	if ra.snapReports[0].err == nil {
		t.Fatal("a snapshot to a dead receiver reported success")
	}
	if len(rb.snaps) != 0 || !dirEmpty(t, b.cfg.SnapshotDir) {
		t.Fatal("receiver handled or kept a partial snapshot")
	}
	if a.Stats().Peers[2].SnapshotsFailed != 1 {
		t.Fatal("failure not counted")
	}
}

// TestTCPSnapshotStalledReceiver: the receiver accepts the stream and stops
// reading (hung, not closed). The sender's deadline, proportional to the
// size, ends it with a failure report.
func TestTCPSnapshotStalledReceiver(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	release := make(chan struct{})
	defer close(release)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if h, err := readHello(c); err == nil {
					c.Write(reply{version: ProtocolVersion, cluster: h.cluster, node: h.to}.marshal())
				}
				<-release // never read the data
			}()
		}
	}()
	a := newTCP(t, 1, func(c *TCPConfig) {
		c.DialTimeout = time.Minute // only the snapshot deadline may end this
		c.SnapshotTimeout = 100 * time.Millisecond
		c.SnapshotMinRate = 1 << 30 // 64 MiB may take 100ms + 62ms
	})
	ra := newRecorder()
	must(t, a.AddPeer(2, ln.Addr().String()))
	must(t, a.Start(ra))
	const size = 64 << 20 // far more than the socket buffers hold
	a.SendSnapshot(snapMsg(1, 2), &patterned{size: size}, size)
	ra.waitFor(t, "timeout report", func() bool { return len(ra.snapReports) == 1 })
	if err := ra.snapReports[0].err; err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("stalled stream reported %v, want a deadline error", err)
	}
}

// TestTCPSnapshotSenderDies: the sender vanishes mid-stream; the receiver
// drops the partial file and never calls the handler.
func TestTCPSnapshotSenderDies(t *testing.T) {
	b := newTCP(t, 2, nil)
	rb := newRecorder()
	must(t, b.Start(rb))
	conn, r := rawDial(t, b, hello{version: ProtocolVersion, kind: kindSnapshot, cluster: 0xc1, from: 1, to: 2})
	if r.status != statusOK {
		t.Fatal(r)
	}
	m, _ := appendMessage(nil, snapMsg(1, 2))
	head := append(make([]byte, 8), m[4:]...)
	head[7] = 100 // 100 bytes declared
	conn.Write(appendFrame(nil, frameSnapBegin, head))
	conn.Write(appendFrame(nil, frameSnapChunk, make([]byte, 40)))
	waitUntil(t, "temp file", func() bool { return !dirEmpty(t, b.cfg.SnapshotDir) })
	conn.Close()
	waitUntil(t, "temp file removed", func() bool { return dirEmpty(t, b.cfg.SnapshotDir) })
	if len(rb.snaps) != 0 {
		t.Fatal("partial snapshot handed to the handler")
	}
}

// TestTCPSnapshotBadStreams: a corrupted or over-long stream is refused.
func TestTCPSnapshotBadStreams(t *testing.T) {
	for _, tc := range []struct {
		name   string
		frames func(head []byte) [][]byte
	}{
		{"bad data checksum", func(head []byte) [][]byte {
			return [][]byte{appendFrame(nil, frameSnapBegin, head), appendFrame(nil, frameSnapChunk, make([]byte, 100)), appendFrame(nil, frameSnapEnd, []byte{1, 2, 3, 4})}
		}},
		{"too much data", func(head []byte) [][]byte {
			return [][]byte{appendFrame(nil, frameSnapBegin, head), appendFrame(nil, frameSnapChunk, make([]byte, 101))}
		}},
		{"too little data", func(head []byte) [][]byte {
			return [][]byte{appendFrame(nil, frameSnapBegin, head), appendFrame(nil, frameSnapChunk, make([]byte, 99)), appendFrame(nil, frameSnapEnd, make([]byte, 4))}
		}},
		{"message frame on a snapshot stream", func(head []byte) [][]byte {
			return [][]byte{appendFrame(nil, frameMsgs, nil)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newTCP(t, 2, nil)
			rb := newRecorder()
			must(t, b.Start(rb))
			conn, _ := rawDial(t, b, hello{version: ProtocolVersion, kind: kindSnapshot, cluster: 0xc1, from: 1, to: 2})
			m, _ := appendMessage(nil, snapMsg(1, 2))
			head := append(make([]byte, 8), m[4:]...)
			head[7] = 100
			for _, f := range tc.frames(head) {
				conn.Write(f)
			}
			io.Copy(io.Discard, conn)
			if b.Stats().BadFrames != 1 || len(rb.snaps) != 0 || !dirEmpty(t, b.cfg.SnapshotDir) {
				t.Fatalf("bad frames %d, snapshots %d", b.Stats().BadFrames, len(rb.snaps))
			}
		})
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestTCPSnapshotsConcurrent: streams at once (sharing the buffer pool) each
// arrive intact, and streams after them reuse the buffers correctly.
func TestTCPSnapshotsConcurrent(t *testing.T) {
	a, _, ra, rb := pair(t, func(c *TCPConfig) { c.SnapshotChunkSize = 256 << 10 })
	const k = 4
	for round := range 2 {
		want := map[byte][]byte{}
		for i := range k {
			tag := byte(round*k + i)
			data := bytes.Repeat([]byte{tag}, (i+1)*300<<10+i)
			want[tag] = data
			a.SendSnapshot(snapMsg(1, 2), io.NopCloser(bytes.NewReader(data)), int64(len(data)))
		}
		ra.waitFor(t, "reports", func() bool { return len(ra.snapReports) == (round+1)*k })
		for _, r := range ra.snapReports {
			if r.err != nil {
				t.Fatal(r.err)
			}
		}
		rb.mu.Lock()
		for _, s := range rb.snaps[round*k:] {
			if w := want[s.data[0]]; !bytes.Equal(s.data, w) {
				t.Fatalf("snapshot %d corrupted", s.data[0])
			}
			delete(want, s.data[0])
		}
		rb.mu.Unlock()
		if len(want) != 0 {
			t.Fatalf("%d snapshots missing", len(want))
		}
	}
}
