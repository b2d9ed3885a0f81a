package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/tickraft/raft/raftpb"
	"google.golang.org/protobuf/proto"
)

// snapSend is one snapshot being sent, so Close can abort it.
type snapSend struct {
	ctx    context.Context // done once aborted
	cancel context.CancelFunc
	mu     sync.Mutex
	conn   net.Conn // guarded by mu
	done   bool     // aborted; guarded by mu
}

func (s *snapSend) abort() {
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	if s.conn != nil {
		s.conn.Close()
	}
}

func (s *snapSend) aborted() <-chan struct{} { return s.ctx.Done() }

// onceCloser closes its ReadCloser once, however often Close is called.
type onceCloser struct {
	io.ReadCloser
	once sync.Once
	err  error
}

func (o *onceCloser) Close() error {
	o.once.Do(func() { o.err = o.ReadCloser.Close() })
	return o.err
}

// setConn records the stream's connection; false if already aborted.
func (s *snapSend) setConn(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conn = c
	return !s.done
}

// snapshotDeadline is how long a snapshot of size bytes may take, end to end:
// a fixed part plus the time to move size bytes at the minimum rate, so a
// dead or stalled stream fails in proportion to its size.
func (t *TCP) snapshotDeadline(size int64) time.Duration {
	return t.cfg.SnapshotTimeout + time.Duration(float64(size)/float64(t.cfg.SnapshotMinRate)*float64(time.Second))
}

// SendSnapshot streams size bytes of data to m.To on a connection of its own,
// then waits for the receiver's acknowledgement. The outcome goes to
// Handler.ReportSnapshot; data is closed in every case.
func (t *TCP) SendSnapshot(m *raftpb.Message, data io.ReadCloser, size int64) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		data.Close()
		return
	}
	p := t.peers[m.To]
	if p == nil || size < 0 {
		t.mu.Unlock()
		data.Close()
		err := ErrUnknownPeer
		if size < 0 {
			err = fmt.Errorf("transport: negative snapshot size %d", size)
		}
		t.rep.addSnapshot(m.To, err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &snapSend{ctx: ctx, cancel: cancel}
	t.sending[s] = struct{}{}
	addr, _ := p.snapshotState()
	c := p.c
	t.wg.Add(1)
	t.mu.Unlock()
	go func() {
		defer t.wg.Done()
		defer cancel()
		start := time.Now()
		closer := &onceCloser{ReadCloser: data}
		err := t.sendSnapshot(ctx, s, addr, m, closer, size, c)
		closer.Close()
		t.mu.Lock()
		delete(t.sending, s)
		t.mu.Unlock()
		if err != nil {
			c.snapFailed.Add(1)
			t.log.Warn("snapshot send failed", "peer", m.To, "bytes", size, "err", err)
		} else {
			d := time.Since(start)
			c.snapSent.Add(1)
			c.snapLastSend.Store(int64(d))
			c.snapSendTotal.Add(int64(d))
		}
		t.rep.addSnapshot(m.To, err)
	}()
}

func (t *TCP) sendSnapshot(ctx context.Context, s *snapSend, addr string, m *raftpb.Message, data io.ReadCloser, size int64, c *counters) error {
	deadline := time.Now().Add(t.snapshotDeadline(size))
	conn, err := t.dial(ctx, addr, m.To, kindSnapshot)
	if err != nil {
		return fmt.Errorf("transport: snapshot to %d: %w", m.To, err)
	}
	defer conn.Close()
	if !s.setConn(conn) {
		return ErrClosed
	}
	conn.SetDeadline(deadline)

	chunk := t.cfg.SnapshotChunkSize
	buf := t.snapBufs.get(frameHeaderSize + max(chunk, 64<<10))
	defer func() { t.snapBufs.put(buf) }()
	buf = appendFrameHeader(buf)
	buf = binary.BigEndian.AppendUint64(buf, uint64(size))
	buf, err = proto.MarshalOptions{}.MarshalAppend(buf, m)
	if err != nil {
		return fmt.Errorf("transport: marshaling snapshot message: %w", err)
	}
	if len(buf)-frameHeaderSize > t.cfg.MaxFrameSize {
		return fmt.Errorf("transport: snapshot message of %d bytes exceeds the frame limit", len(buf))
	}
	endFrame(buf, 0, frameSnapBegin)
	if _, err := conn.Write(buf); err != nil {
		return fmt.Errorf("transport: snapshot to %d: %w", m.To, err)
	}

	crc, err := t.streamChunks(s, conn, m.To, data, size, buf, c, deadline)
	if err != nil {
		return err
	}
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc)
	if _, err := conn.Write(appendFrame(buf[:0], frameSnapEnd, sum[:])); err != nil {
		return fmt.Errorf("transport: snapshot to %d: %w", m.To, err)
	}
	fr := &frameReader{r: conn, max: 64 << 10, allowed: allow(frameSnapAck)}
	_, payload, err := fr.next()
	if err != nil {
		return fmt.Errorf("transport: snapshot to %d: waiting for the acknowledgement: %w", m.To, err)
	}
	if len(payload) > 0 {
		return fmt.Errorf("transport: snapshot refused by %d: %s", m.To, payload)
	}
	return nil
}

// streamChunks writes size bytes of data as chunk frames and returns the
// CRC-32C of their checksums, in order (the stream's checksum: each chunk's
// bytes are covered by its own, so the data is not checksummed twice). Reading data and writing the connection overlap: one goroutine
// fills the next chunk while this one writes the last (two buffers in turn).
//
// When the stream fails, data is closed before waiting for the goroutine
// reading it, so that a Read blocked on a stalled source (a file, a pipe)
// returns: a source whose Read ignores Close would keep the stream, and
// Close, waiting.
func (t *TCP) streamChunks(s *snapSend, conn net.Conn, to uint64, data io.ReadCloser, size int64, first []byte, c *counters, deadline time.Time) (_ uint32, err error) {
	chunk := t.cfg.SnapshotChunkSize
	type filled struct {
		frame []byte // a whole chunk frame
		err   error
	}
	full := make(chan filled, 1)
	free := make(chan []byte, 2)
	free <- first
	second := t.snapBufs.get(cap(first))
	defer t.snapBufs.put(second)
	free <- second
	quit := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for left := size; left > 0; {
			var buf []byte
			select {
			case buf = <-free:
			case <-quit:
				return
			}
			n := int(min(int64(chunk), left))
			buf = appendFrameHeader(buf[:0])[:frameHeaderSize+n]
			var f filled
			if _, err := io.ReadFull(data, buf[frameHeaderSize:]); err != nil {
				f.err = fmt.Errorf("transport: reading snapshot data (%d of %d bytes left): %w", left, size, err)
			} else {
				endFrame(buf, 0, frameSnapChunk)
				f.frame = buf
			}
			select {
			case full <- f:
			case <-quit:
				return
			}
			if f.err != nil {
				return
			}
			left -= int64(n)
		}
	}()
	defer func() {
		close(quit)
		if err != nil {
			data.Close()
		}
		<-exited
	}()

	// The connection's deadline covers a stalled receiver; this timer
	// covers a stalled data source.
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var crc uint32
	for left := size; left > 0; {
		var f filled
		select {
		case f = <-full:
		case <-s.aborted():
			return 0, ErrClosed
		case <-timer.C:
			return 0, fmt.Errorf("transport: snapshot to %d: reading its data: %w", to, os.ErrDeadlineExceeded)
		}
		if f.err != nil {
			return 0, f.err
		}
		payload := f.frame[frameHeaderSize:]
		crc = crc32.Update(crc, castagnoli, f.frame[5:9]) // the chunk's own checksum
		if _, err := conn.Write(f.frame); err != nil {
			return 0, fmt.Errorf("transport: snapshot to %d (%d of %d bytes left): %w", to, left, size, err)
		}
		c.snapBytesSent.Add(uint64(len(payload)))
		left -= int64(len(payload))
		free <- f.frame
	}
	return crc, nil
}

// receiveSnapshot reads one snapshot stream into a temporary file, checks it,
// hands it to the Handler and acknowledges with the Handler's verdict.
func (t *TCP) receiveSnapshot(conn net.Conn, from uint64, c *counters, remote string) {
	start := time.Now()
	conn.SetDeadline(start.Add(t.cfg.SnapshotTimeout))
	fr := &frameReader{r: conn, max: t.cfg.MaxFrameSize, allowed: allow(frameSnapBegin)}
	_, payload, err := fr.next()
	if err == nil && len(payload) < 8 {
		err = fmt.Errorf("%w: short snapshot header", errBadPayload)
	}
	if err != nil {
		t.connError(from, remote, err)
		return
	}
	size := binary.BigEndian.Uint64(payload)
	m := new(raftpb.Message)
	if err := proto.Unmarshal(payload[8:], m); err != nil {
		t.connError(from, remote, fmt.Errorf("%w: snapshot message: %v", errBadPayload, err))
		return
	}
	switch {
	case m.Type != raftpb.MsgSnap || m.From != from || m.To != t.cfg.ID:
		t.connError(from, remote, fmt.Errorf("%w: %s from %d to %d on a snapshot stream from %d", errBadPayload, m.Type, m.From, m.To, from))
		return
	case size > 1<<62 || (t.cfg.MaxSnapshotSize > 0 && int64(size) > t.cfg.MaxSnapshotSize):
		t.connError(from, remote, fmt.Errorf("%w: snapshot of %d bytes exceeds the limit %d", errFrameSize, size, t.cfg.MaxSnapshotSize))
		return
	}
	conn.SetDeadline(start.Add(t.snapshotDeadline(int64(size))))

	// The file is gone before the ack: once the sender hears, nothing of
	// this stream remains on disk.
	ack, herr := t.storeAndHandle(conn, fr, m, int64(size), from, remote, func() {
		c.bytesRecv.Add(fr.n)
		c.snapRecv.Add(1)
		c.snapLastRecv.Store(int64(time.Since(start)))
	})
	if ack {
		t.ackSnapshot(conn, herr)
	}
}

// storeAndHandle writes the stream's data to a temporary file, checks it,
// and hands it to the Handler. ack says whether the sender should be told
// err (a broken stream is not answered: the connection just closes).
// received is called once the data is whole, before the Handler sees it.
func (t *TCP) storeAndHandle(conn net.Conn, fr *frameReader, m *raftpb.Message, size int64, from uint64, remote string, received func()) (ack bool, err error) {
	f, err := os.CreateTemp(t.cfg.SnapshotDir, "tickraft-snap-*.tmp")
	if err != nil {
		t.log.Error("cannot store incoming snapshot", "peer", from, "err", err)
		return true, err
	}
	defer func() {
		f.Close()
		os.Remove(f.Name()) // fails harmlessly if the handler renamed it
	}()
	if err := t.readSnapshotData(conn, fr, f, size); err != nil {
		t.connError(from, remote, fmt.Errorf("snapshot from %d: %w", from, err))
		return errors.Is(err, errWriteFile), err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return true, err
	}
	received()
	if err := t.handler().HandleSnapshot(m, f, size); err != nil {
		return true, err
	}
	return true, nil
}

var errWriteFile = errors.New("writing the snapshot file")

// readSnapshotData copies the chunk frames into f, checking the total size
// and checksum against the end frame. Reading the network and writing the
// file overlap: one goroutine reads the next chunk while this one writes the
// last (two buffers in turn).
func (t *TCP) readSnapshotData(conn net.Conn, fr *frameReader, f *os.File, size int64) error {
	fr.allowed = allow(frameSnapChunk, frameSnapEnd)
	type chunk struct {
		typ     byte
		payload []byte
		crc     [4]byte // the frame's checksum
		err     error
	}
	filled := make(chan chunk, 1)
	free := make(chan []byte, 2)
	bufs := [2][]byte{t.snapBufs.get(0), t.snapBufs.get(0)}
	free <- bufs[0]
	free <- bufs[1]
	quit := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case fr.buf = <-free:
			case <-quit:
				return
			}
			typ, payload, err := fr.next()
			select {
			case filled <- chunk{typ, payload, [4]byte(fr.hdr[5:9]), err}:
				fr.buf = nil // the payload's buffer is the consumer's now
			case <-quit:
				return
			}
			if err != nil || typ == frameSnapEnd {
				return
			}
		}
	}()
	defer func() {
		close(quit)
		conn.SetReadDeadline(time.Unix(1, 0)) // unblock a read in progress
		<-exited
		// Give back the buffers: the one the reader holds, if any, and
		// those waiting in free (each buffer is in one place only).
		t.snapBufs.put(fr.buf)
		for len(free) > 0 {
			t.snapBufs.put(<-free)
		}
	}()

	var got int64
	var crc uint32
	for {
		c := <-filled
		if c.err != nil || c.typ == frameSnapEnd {
			t.snapBufs.put(c.payload) // the reader is done with it
		}
		if c.err != nil {
			return c.err
		}
		if c.typ == frameSnapEnd {
			switch {
			case len(c.payload) != 4:
				return fmt.Errorf("%w: snapshot end frame of %d bytes", errBadPayload, len(c.payload))
			case got != size:
				return fmt.Errorf("%w: snapshot ended after %d of %d bytes", errBadPayload, got, size)
			case binary.BigEndian.Uint32(c.payload) != crc:
				return fmt.Errorf("snapshot data: %w", errBadChecksum)
			}
			return nil
		}
		if got+int64(len(c.payload)) > size {
			return fmt.Errorf("%w: snapshot data exceeds its declared %d bytes", errBadPayload, size)
		}
		if _, err := f.Write(c.payload); err != nil {
			return fmt.Errorf("%w: %v", errWriteFile, err)
		}
		crc = crc32.Update(crc, castagnoli, c.crc[:])
		got += int64(len(c.payload))
		free <- c.payload
	}
}

// ackSnapshot tells the sender the outcome: an empty ack is success.
func (t *TCP) ackSnapshot(conn net.Conn, err error) {
	var text []byte
	if err != nil {
		text = []byte(err.Error())
		if len(text) > 4096 {
			text = text[:4096]
		}
		if len(text) == 0 {
			text = []byte("error")
		}
	}
	conn.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout))
	conn.Write(appendFrame(nil, frameSnapAck, text))
}

// bufPool keeps a few large snapshot buffers between streams, so a steady
// stream of snapshots does not allocate chunk-sized buffers each time.
type bufPool struct {
	mu   sync.Mutex
	bufs [][]byte // at most 4
}

// get returns an empty buffer, with at least min capacity if one is at hand
// or min is positive.
func (p *bufPool) get(min int) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, b := range p.bufs {
		if cap(b) >= min {
			p.bufs = append(p.bufs[:i], p.bufs[i+1:]...)
			return b[:0]
		}
	}
	if min == 0 {
		return nil
	}
	return make([]byte, 0, min)
}

func (p *bufPool) put(b []byte) {
	if cap(b) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.bufs) < 4 {
		p.bufs = append(p.bufs, b[:0])
	}
}
