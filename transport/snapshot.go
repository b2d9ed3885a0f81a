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
	s := &snapSend{cancel: cancel}
	t.sending[s] = struct{}{}
	addr, _ := p.snapshotState()
	c := p.c
	t.wg.Add(1)
	t.mu.Unlock()
	go func() {
		defer t.wg.Done()
		defer cancel()
		start := time.Now()
		err := t.sendSnapshot(ctx, s, addr, m, data, size, c)
		data.Close()
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

func (t *TCP) sendSnapshot(ctx context.Context, s *snapSend, addr string, m *raftpb.Message, data io.Reader, size int64, c *counters) error {
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
	buf := make([]byte, 0, frameHeaderSize+max(chunk, 64<<10))
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

	var crc uint32
	for left := size; left > 0; {
		n := int(min(int64(chunk), left))
		buf = appendFrameHeader(buf[:0])[:frameHeaderSize+n]
		if _, err := io.ReadFull(data, buf[frameHeaderSize:]); err != nil {
			return fmt.Errorf("transport: reading snapshot data (%d of %d bytes left): %w", left, size, err)
		}
		crc = crc32.Update(crc, castagnoli, buf[frameHeaderSize:])
		endFrame(buf, 0, frameSnapChunk)
		if _, err := conn.Write(buf); err != nil {
			return fmt.Errorf("transport: snapshot to %d (%d of %d bytes left): %w", m.To, left, size, err)
		}
		c.snapBytesSent.Add(uint64(n))
		left -= int64(n)
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
	ack, herr := t.storeAndHandle(fr, m, int64(size), from, remote, func() {
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
func (t *TCP) storeAndHandle(fr *frameReader, m *raftpb.Message, size int64, from uint64, remote string, received func()) (ack bool, err error) {
	f, err := os.CreateTemp(t.cfg.SnapshotDir, "tickraft-snap-*.tmp")
	if err != nil {
		t.log.Error("cannot store incoming snapshot", "peer", from, "err", err)
		return true, err
	}
	defer func() {
		f.Close()
		os.Remove(f.Name()) // fails harmlessly if the handler renamed it
	}()
	if err := t.readSnapshotData(fr, f, size); err != nil {
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
// and checksum against the end frame.
func (t *TCP) readSnapshotData(fr *frameReader, f *os.File, size int64) error {
	fr.allowed = allow(frameSnapChunk, frameSnapEnd)
	var got int64
	var crc uint32
	for {
		typ, payload, err := fr.next()
		if err != nil {
			return err
		}
		if typ == frameSnapEnd {
			switch {
			case len(payload) != 4:
				return fmt.Errorf("%w: snapshot end frame of %d bytes", errBadPayload, len(payload))
			case got != size:
				return fmt.Errorf("%w: snapshot ended after %d of %d bytes", errBadPayload, got, size)
			case binary.BigEndian.Uint32(payload) != crc:
				return fmt.Errorf("snapshot data: %w", errBadChecksum)
			}
			return nil
		}
		if got+int64(len(payload)) > size {
			return fmt.Errorf("%w: snapshot data exceeds its declared %d bytes", errBadPayload, size)
		}
		if _, err := f.Write(payload); err != nil {
			return fmt.Errorf("%w: %v", errWriteFile, err)
		}
		crc = crc32.Update(crc, castagnoli, payload)
		got += int64(len(payload))
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
