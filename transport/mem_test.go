package transport

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/tickraft/raft/raftpb"
)

func startMem(t *testing.T, n *MemNetwork, ids ...uint64) []*recorder {
	t.Helper()
	var recs []*recorder
	for _, id := range ids {
		r := newRecorder()
		e := n.Endpoint(id)
		if err := e.Start(r); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		recs = append(recs, r)
	}
	return recs
}

func TestMemDeliversInOrderAndCopies(t *testing.T) {
	n := NewMemNetwork()
	recs := startMem(t, n, 1, 2)
	var sent []*raftpb.Message
	for i := uint64(0); i < 1000; i++ {
		sent = append(sent, appMsg(1, 2, i, 8))
	}
	n.Endpoint(1).Send(sent)
	recs[1].waitFor(t, "1000 messages", func() bool { return len(recs[1].msgs) == 1000 })
	for i, m := range recs[1].msgs {
		if m.Index != uint64(i) || m.From != 1 {
			t.Fatalf("message %d: got index %d from %d", i, m.Index, m.From)
		}
		if m == sent[i] || &m.Entries[0].Data[0] == &sent[i].Entries[0].Data[0] {
			t.Fatalf("message %d shares memory with the sent one", i)
		}
	}
	st := n.Endpoint(1).Stats().Peers[2]
	if st.MsgsSent != 1000 || st.Dropped != 0 {
		t.Fatalf("sender stats %+v", st)
	}
	if got := n.Endpoint(2).Stats().Peers[1].MsgsReceived; got != 1000 {
		t.Fatalf("receiver counted %d messages", got)
	}
}

func TestMemUnknownAndRemovedPeerReportsUnreachable(t *testing.T) {
	n := NewMemNetwork()
	recs := startMem(t, n, 1, 2)
	e := n.Endpoint(1)
	e.Send([]*raftpb.Message{msg(1, 3, raftpb.MsgHeartbeat, 0)}) // no node 3
	recs[0].waitFor(t, "unreachable 3", func() bool { return len(recs[0].unreachable) == 1 })
	recs[0].mu.Lock()
	reported := append([]uint64(nil), recs[0].unreachable...)
	recs[0].mu.Unlock()
	if reported[0] != 3 {
		t.Fatalf("reported %v", reported)
	}
	e.RemovePeer(2)
	e.Send([]*raftpb.Message{msg(1, 2, raftpb.MsgHeartbeat, 0)})
	recs[0].waitFor(t, "unreachable 2", func() bool { return len(recs[0].unreachable) == 2 })
	if recs[1].numMsgs() != 0 {
		t.Fatal("message to a removed peer was delivered")
	}
	if err := e.AddPeer(2, "b"); err != nil {
		t.Fatal(err)
	}
	e.Send([]*raftpb.Message{msg(1, 2, raftpb.MsgHeartbeat, 0)})
	recs[1].waitFor(t, "delivery after AddPeer", func() bool { return len(recs[1].msgs) == 1 })
}

func TestMemFullInboxDropsAndReports(t *testing.T) {
	n := NewMemNetwork(WithQueueSize(5))
	block := make(chan struct{})
	r1 := newRecorder()
	e1, e2 := n.Endpoint(1), n.Endpoint(2)
	if err := e1.Start(r1); err != nil {
		t.Fatal(err)
	}
	bh := &blockingHandler{recorder: newRecorder(), block: block}
	if err := e2.Start(bh); err != nil {
		t.Fatal(err)
	}
	defer e1.Close()
	defer e2.Close()
	// The first message blocks the receiver's delivery goroutine; the inbox
	// then holds five more; the rest must be dropped and reported.
	e1.Send([]*raftpb.Message{msg(1, 2, raftpb.MsgHeartbeat, 0)})
	bh.waitFor(t, "receiver blocked", func() bool { return len(bh.msgs) == 1 })
	var batch []*raftpb.Message
	for i := uint64(1); i <= 20; i++ {
		batch = append(batch, msg(1, 2, raftpb.MsgHeartbeat, i))
	}
	e1.Send(batch)
	r1.waitFor(t, "unreachable", func() bool { return len(r1.unreachable) >= 1 })
	if d := e1.Stats().Peers[2].Dropped; d != 15 {
		t.Fatalf("dropped %d, want 15", d)
	}
	close(block)
	bh.waitFor(t, "the queued five", func() bool { return len(bh.msgs) == 6 })
}

type blockingHandler struct {
	*recorder
	block chan struct{}
}

func (b *blockingHandler) HandleMessage(m *raftpb.Message) {
	b.recorder.HandleMessage(m)
	<-b.block
}

func TestMemSnapshot(t *testing.T) {
	n := NewMemNetwork()
	recs := startMem(t, n, 1, 2)
	data := bytes.Repeat([]byte("snapshot"), 1000)
	m := msg(1, 2, raftpb.MsgSnap, 0)
	n.Endpoint(1).SendSnapshot(m, io.NopCloser(bytes.NewReader(data)), int64(len(data)))
	recs[0].waitFor(t, "snapshot report", func() bool { return len(recs[0].snapReports) == 1 })
	if rep := recs[0].snapReports[0]; rep.id != 2 || rep.err != nil {
		t.Fatalf("report %+v", rep)
	}
	if len(recs[1].snaps) != 1 || !bytes.Equal(recs[1].snaps[0].data, data) || recs[1].snaps[0].m.Type != raftpb.MsgSnap {
		t.Fatal("snapshot not delivered intact")
	}
	// A handler error reaches the sender.
	recs[1].mu.Lock()
	recs[1].snapErr = errors.New("disk full")
	recs[1].mu.Unlock()
	n.Endpoint(1).SendSnapshot(m, io.NopCloser(bytes.NewReader(data)), int64(len(data)))
	recs[0].waitFor(t, "second report", func() bool { return len(recs[0].snapReports) == 2 })
	if recs[0].snapReports[1].err == nil {
		t.Fatal("handler error not reported to the sender")
	}
	// A snapshot to a node that is gone fails.
	n.Endpoint(1).SendSnapshot(msg(1, 9, raftpb.MsgSnap, 0), io.NopCloser(bytes.NewReader(data)), int64(len(data)))
	recs[0].waitFor(t, "third report", func() bool { return len(recs[0].snapReports) == 3 })
	if !errors.Is(recs[0].snapReports[2].err, ErrUnreachable) {
		t.Fatalf("got %v", recs[0].snapReports[2].err)
	}
	st := n.Endpoint(1).Stats().Peers[2]
	if st.SnapshotsSent != 1 || st.SnapshotsFailed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMemRestartedEndpoint(t *testing.T) {
	n := NewMemNetwork()
	recs := startMem(t, n, 1, 2)
	old := n.Endpoint(2)
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	if err := old.Start(newRecorder()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	n.Endpoint(1).Send([]*raftpb.Message{msg(1, 2, raftpb.MsgHeartbeat, 0)})
	recs[0].waitFor(t, "unreachable while down", func() bool { return len(recs[0].unreachable) == 1 })
	fresh := n.Endpoint(2)
	if fresh == old {
		t.Fatal("closed endpoint handed out again")
	}
	r := newRecorder()
	if err := fresh.Start(r); err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if err := fresh.Start(r); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start: %v", err)
	}
	n.Endpoint(1).Send([]*raftpb.Message{msg(1, 2, raftpb.MsgHeartbeat, 7)})
	r.waitFor(t, "delivery after restart", func() bool { return len(r.msgs) == 1 })
	if recs[1].numMsgs() != 0 {
		t.Fatal("closed endpoint's handler was called")
	}
}
