package transport

import (
	"bytes"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/tickraft/raft/raftpb"
)

// recorder is a Handler that records everything it is given.
type recorder struct {
	mu          sync.Mutex
	msgs        []*raftpb.Message
	snaps       []recordedSnap
	unreachable []uint64
	snapReports []snapReport
	snapErr     error // returned by HandleSnapshot
	changed     chan struct{}
}

type recordedSnap struct {
	m    *raftpb.Message
	data []byte
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (r *recorder) note() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) HandleMessage(m *raftpb.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	r.note()
}

func (r *recorder) HandleSnapshot(m *raftpb.Message, data io.Reader, size int64) error {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, data)
	if err != nil {
		return err
	}
	if n != size {
		panic("recorder: snapshot size mismatch")
	}
	r.mu.Lock()
	r.snaps = append(r.snaps, recordedSnap{m, buf.Bytes()})
	err = r.snapErr
	r.mu.Unlock()
	r.note()
	return err
}

func (r *recorder) ReportUnreachable(id uint64) {
	r.mu.Lock()
	r.unreachable = append(r.unreachable, id)
	r.mu.Unlock()
	r.note()
}

func (r *recorder) ReportSnapshot(id uint64, err error) {
	r.mu.Lock()
	r.snapReports = append(r.snapReports, snapReport{id, err})
	r.mu.Unlock()
	r.note()
}

// waitFor waits until cond (called under r.mu) holds. It fails the test after
// a generous deadline: the deadline only bounds a hang, it asserts no timing.
func (r *recorder) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.changed:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (r *recorder) numMsgs() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// msg builds a test message.
func msg(from, to uint64, typ raftpb.MessageType, index uint64) *raftpb.Message {
	return &raftpb.Message{Type: typ, From: from, To: to, Term: 1, Index: index}
}

func appMsg(from, to, index uint64, payload int) *raftpb.Message {
	m := msg(from, to, raftpb.MsgApp, index)
	m.Entries = []*raftpb.Entry{{Term: 1, Index: index + 1, Data: bytes.Repeat([]byte{byte(index)}, payload)}}
	return m
}
