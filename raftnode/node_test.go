package raftnode

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// manual drives a single Node by hand from the test goroutine: each Ready
// is received, persisted, applied and advanced in the test, so the order
// of events is the test's.
type manual struct {
	t       *testing.T
	n       Node
	storage *raft.MemoryStorage
	data    []string // applied normal entries with data
	applied uint64
	conf    *pb.ConfState
}

func newManual(t *testing.T, cfg *raft.Config, peers []raft.Peer) *manual {
	t.Helper()
	var n Node
	var err error
	if peers != nil {
		n, err = StartNode(cfg, peers)
	} else {
		n, err = RestartNode(cfg)
	}
	if err != nil {
		t.Fatalf("starting the node: %v", err)
	}
	t.Cleanup(n.Stop)
	return &manual{t: t, n: n, storage: cfg.Storage.(*raft.MemoryStorage)}
}

// ready receives the next Ready.
func (m *manual) ready() raft.Ready {
	m.t.Helper()
	select {
	case rd := <-m.n.Ready():
		return rd
	case <-time.After(hangGuard):
		m.t.Fatalf("no Ready after %v", hangGuard)
		return raft.Ready{}
	}
}

// handle persists and applies rd, then advances.
func (m *manual) handle(rd raft.Ready) {
	m.t.Helper()
	if rd.Snapshot != nil {
		must(m.t, m.storage.ApplySnapshot(rd.Snapshot))
		m.applied = rd.Snapshot.Metadata.Index
	}
	if rd.HardState != nil {
		must(m.t, m.storage.SetHardState(rd.HardState))
	}
	must(m.t, m.storage.Append(rd.Entries))
	for _, e := range rd.CommittedEntries {
		switch e.Type {
		case pb.EntryNormal:
			if len(e.Data) > 0 {
				m.data = append(m.data, string(e.Data))
			}
		default:
			cc, err := pb.UnmarshalConfChange(e)
			must(m.t, err)
			m.conf, err = m.n.ApplyConfChange(cc)
			must(m.t, err)
		}
		m.applied = e.Index
	}
	must(m.t, m.n.Advance())
}

// next receives, handles and returns the next Ready.
func (m *manual) next() raft.Ready {
	m.t.Helper()
	rd := m.ready()
	m.handle(rd)
	return rd
}

// until handles Readys until cond holds.
func (m *manual) until(what string, cond func() bool) {
	m.t.Helper()
	for !cond() {
		m.next()
	}
}

// leader bootstraps a single-node cluster into a leader with nothing left
// to apply.
func (m *manual) leader() {
	m.t.Helper()
	m.until("the bootstrap entries", func() bool { return m.applied >= 1 })
	must(m.t, m.n.Campaign(context.Background()))
	m.until("leadership", func() bool { return m.n.Status().RaftState == raft.StateLeader })
	st := m.n.Status()
	m.until("the leader's empty entry", func() bool { return m.applied >= st.Commit && m.applied >= 2 })
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func singleConfig() *raft.Config { return testConfig(1, raft.NewMemoryStorage()) }

// TestSingleNode: start, campaign, propose and apply, with the Readys
// checked on the way (etcd's TestNodeStart and TestNodePropose).
func TestSingleNode(t *testing.T) {
	ctx := context.Background()
	m := newManual(t, singleConfig(), []raft.Peer{{ID: 1}})

	// The first Ready carries the bootstrap entry, committed, and the hard
	// state that says so.
	rd := m.next()
	if rd.HardState == nil || rd.HardState.Term != 1 || rd.HardState.Commit != 1 {
		t.Fatalf("first Ready's hard state %v, want term 1 commit 1", rd.HardState)
	}
	if len(rd.Entries) != 1 || len(rd.CommittedEntries) != 1 || rd.CommittedEntries[0].Type != pb.EntryConfChange {
		t.Fatalf("first Ready: %d entries, committed %v, want the bootstrap entry", len(rd.Entries), rd.CommittedEntries)
	}
	if !slices.Equal(m.conf.GetVoters(), []uint64{1}) {
		t.Fatalf("configuration %v after bootstrap, want voters [1]", m.conf)
	}

	must(t, m.n.Campaign(ctx))
	m.until("leadership", func() bool { return m.n.Status().RaftState == raft.StateLeader })
	for _, d := range []string{"a", "b", "c"} {
		must(t, m.n.Propose(ctx, []byte(d)))
	}
	m.until("the proposals", func() bool { return len(m.data) == 3 })
	if !slices.Equal(m.data, []string{"a", "b", "c"}) {
		t.Fatalf("applied %v, want [a b c]", m.data)
	}
	st := m.n.Status()
	if st.Lead != 1 || st.Term != 2 || st.Applied != m.applied || st.Commit != m.applied {
		t.Fatalf("status %v, want leader 1 at term 2 with commit = applied = %d", st, m.applied)
	}
}

// TestTickElects: ticks through Node count: a single voter that gets no
// Campaign call elects itself after an election timeout of ticks (etcd's
// TestNodeTick).
func TestTickElects(t *testing.T) {
	cfg := singleConfig()
	m := newManual(t, cfg, []raft.Peer{{ID: 1}})
	m.until("the bootstrap entries", func() bool { return m.applied >= 1 })
	for range 2 * cfg.ElectionTick { // the timeout is drawn from [E, 2E)
		m.n.Tick()
	}
	m.until("leadership", func() bool { return m.n.Status().RaftState == raft.StateLeader })
}

// captureHandler records the log records it gets.
type captureHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r)
	return nil
}
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *captureHandler) WithGroup(string) slog.Handler      { return h }

func (h *captureHandler) warnings() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.recs {
		if r.Level == slog.LevelWarn {
			n++
		}
	}
	return n
}

// TestTickDroppedWhenBusy: ticks wait in a bounded buffer while the node is
// busy; one more is dropped and logged, and Tick does not block. The node's
// goroutine is started only afterwards, so the node is "busy" for sure.
func TestTickDroppedWhenBusy(t *testing.T) {
	h := &captureHandler{}
	cfg := singleConfig()
	cfg.Logger = slog.New(h)
	rn, err := raft.NewRawNode(cfg)
	must(t, err)
	n := newNode(cfg, rn)
	for range tickBuffer + 1 {
		n.Tick()
	}
	if got := len(n.tickc); got != tickBuffer {
		t.Fatalf("%d ticks buffered, want %d", got, tickBuffer)
	}
	if got := h.warnings(); got != 1 {
		t.Fatalf("%d warnings logged, want 1 for the dropped tick", got)
	}
	go n.run()
	n.Stop()
	n.Tick() // after Stop: neither blocks nor logs
	if got := h.warnings(); got != 1 {
		t.Fatalf("%d warnings logged after a tick on a stopped node, want still 1", got)
	}
}

// TestProposeWaitsForLeader: without a leader a proposal waits rather than
// being dropped (RawNode alone would return ErrProposalDropped at once),
// and goes through once the node leads (etcd's TestBlockProposal).
func TestProposeWaitsForLeader(t *testing.T) {
	m := newManual(t, singleConfig(), []raft.Peer{{ID: 1}})
	m.until("the bootstrap entries", func() bool { return m.applied >= 1 })

	// Waits until its context ends: the error is the context's.
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := m.n.Propose(short, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Propose without a leader = %v, want context.DeadlineExceeded", err)
	}

	// Waits, then goes through when the node is elected.
	errc := make(chan error, 1)
	go func() { errc <- m.n.Propose(context.Background(), []byte("y")) }()
	must(t, m.n.Campaign(context.Background()))
	m.until("the proposal", func() bool { return len(m.data) == 1 })
	if err := <-errc; err != nil {
		t.Fatalf("Propose after the election = %v", err)
	}
	if !slices.Equal(m.data, []string{"y"}) {
		t.Fatalf("applied %v, want [y] (the canceled proposal must not be appended)", m.data)
	}
}

// TestProposeCanceled: a canceled context ends a waiting Propose with
// context.Canceled, and an already canceled one fails before the node sees
// the proposal.
func TestProposeCanceled(t *testing.T) {
	m := newManual(t, singleConfig(), []raft.Peer{{ID: 1}})
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		close(started)
		errc <- m.n.Propose(ctx, []byte("x"))
	}()
	<-started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled Propose = %v, want context.Canceled", err)
	}
	m.leader()
	if err := m.n.Propose(ctx, []byte("y")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Propose with a canceled context on a leader = %v, want context.Canceled", err)
	}
	must(t, m.n.Propose(context.Background(), []byte("z")))
	m.until("the proposal", func() bool { return len(m.data) == 1 })
	if !slices.Equal(m.data, []string{"z"}) {
		t.Fatalf("applied %v, want [z]", m.data)
	}
	//lint:ignore SA1012 a nil context is the misuse under test
	if err := m.n.Propose(nil, []byte("w")); !errors.Is(err, errNilContext) {
		t.Fatalf("Propose(nil ctx) = %v, want errNilContext", err)
	}
}

// TestStopWhileProposeWaits: a Propose waiting for a leader ends with
// ErrStopped when the node stops (etcd's TestNodeStepUnblock).
func TestStopWhileProposeWaits(t *testing.T) {
	n, err := StartNode(singleConfig(), []raft.Peer{{ID: 1}})
	must(t, err)
	started := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		close(started)
		errc <- n.Propose(context.Background(), []byte("x"))
	}()
	<-started
	n.Stop()
	if err := <-errc; !errors.Is(err, ErrStopped) {
		t.Fatalf("Propose waiting across Stop = %v, want ErrStopped", err)
	}
}

// TestStop: Stop ends the node's goroutine, can be called again and from
// several goroutines, and every call afterwards returns ErrStopped without
// blocking (etcd's TestNodeStop).
func TestStop(t *testing.T) {
	before := runtime.NumGoroutine()
	m := newManual(t, singleConfig(), []raft.Peer{{ID: 1}})
	m.leader()
	must(t, m.n.Propose(context.Background(), []byte("x")))
	m.until("the proposal", func() bool { return len(m.data) == 1 })
	running := m.n.Status()

	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); m.n.Stop() }()
	}
	wg.Wait()
	m.n.Stop()

	ctx := context.Background()
	n := m.n
	for name, err := range map[string]error{
		"Campaign":           n.Campaign(ctx),
		"Propose":            n.Propose(ctx, []byte("y")),
		"ProposeConfChange":  n.ProposeConfChange(ctx, &pb.ConfChange{Type: pb.ConfChangeAddNode, NodeId: 2}),
		"Step":               n.Step(ctx, &pb.Message{Type: pb.MsgHeartbeat, From: 2, To: 1, Term: 9}),
		"Advance":            n.Advance(),
		"ApplyConfChange":    second(n.ApplyConfChange(&pb.ConfChange{Type: pb.ConfChangeAddNode, NodeId: 2})),
		"TransferLeadership": n.TransferLeadership(ctx, 1, 2),
		"ForgetLeader":       n.ForgetLeader(ctx),
		"ReadIndex":          n.ReadIndex(ctx, []byte("r")),
		"ReportUnreachable":  n.ReportUnreachable(2),
		"ReportSnapshot":     n.ReportSnapshot(2, raft.SnapshotFailure),
	} {
		if !errors.Is(err, ErrStopped) {
			t.Errorf("%s after Stop = %v, want ErrStopped", name, err)
		}
	}
	n.Tick()
	if st := n.Status(); st.ID != 1 || st.Applied != running.Applied || st.RaftState != raft.StateLeader {
		t.Errorf("Status after Stop = %v, want the last status %v", st, running)
	}
	select {
	case rd := <-n.Ready():
		t.Errorf("a Ready after Stop: %v", rd)
	default:
	}

	// The node's goroutine is gone. (Polled: a goroutine that closed its
	// done channel may not have exited yet.)
	deadline := time.Now().Add(hangGuard)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Stop, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}

func second[T any](_ T, err error) error { return err }

// TestRestartNode restarts a node from a MemoryStorage holding a snapshot,
// entries and a hard state: the committed entries not yet applied come out
// in the first Ready, and the node carries on (etcd's TestNodeRestart and
// TestNodeRestartFromSnapshot).
func TestRestartNode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		applied uint64
		want    []string
	}{
		{"applied at the snapshot", 2, []string{"x", "y"}},
		{"applied beyond it", 3, []string{"y"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storage := raft.NewMemoryStorage()
			must(t, storage.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{
				Index: 2, Term: 1, ConfState: &pb.ConfState{Voters: []uint64{1}},
			}}))
			must(t, storage.Append([]*pb.Entry{
				{Index: 3, Term: 1, Data: []byte("x")},
				{Index: 4, Term: 1, Data: []byte("y")},
				{Index: 5, Term: 1, Data: []byte("uncommitted")},
			}))
			must(t, storage.SetHardState(&pb.HardState{Term: 1, Vote: 1, Commit: 4}))
			cfg := testConfig(1, storage)
			cfg.Applied = tc.applied
			m := newManual(t, cfg, nil)

			rd := m.next()
			if rd.HardState != nil || len(rd.Entries) != 0 {
				t.Fatalf("first Ready after restart: hard state %v, %d entries; want neither", rd.HardState, len(rd.Entries))
			}
			if !slices.Equal(m.data, tc.want) {
				t.Fatalf("applied %v after restart, want %v", m.data, tc.want)
			}
			st := m.n.Status()
			if st.Term != 1 || st.Commit != 4 || !slices.Equal(st.Config.Voters[0].Slice(), []uint64{1}) {
				t.Fatalf("status after restart %v, want term 1, commit 4, voters [1]", st)
			}
			// It carries on: elected, it commits the entry it had and a new one.
			must(t, m.n.Campaign(context.Background()))
			m.until("leadership", func() bool { return m.n.Status().RaftState == raft.StateLeader })
			must(t, m.n.Propose(context.Background(), []byte("z")))
			m.until("the proposal", func() bool { return slices.Contains(m.data, "z") })
			if want := append(slices.Clone(tc.want), "uncommitted", "z"); !slices.Equal(m.data, want) {
				t.Fatalf("applied %v, want %v", m.data, want)
			}
		})
	}
}

// TestStartNodeErrors: StartNode refuses what etcd raft panics on or
// silently accepts.
func TestStartNodeErrors(t *testing.T) {
	if _, err := StartNode(singleConfig(), nil); !errors.Is(err, raft.ErrInvalidConfig) {
		t.Errorf("StartNode without peers = %v, want ErrInvalidConfig", err)
	}
	if _, err := StartNode(&raft.Config{ID: 1}, []raft.Peer{{ID: 1}}); !errors.Is(err, raft.ErrInvalidConfig) {
		t.Errorf("StartNode without storage = %v, want ErrInvalidConfig", err)
	}
	if _, err := RestartNode(nil); !errors.Is(err, raft.ErrInvalidConfig) {
		t.Errorf("RestartNode(nil) = %v, want ErrInvalidConfig", err)
	}
	storage := raft.NewMemoryStorage()
	must(t, storage.Append([]*pb.Entry{{Index: 1, Term: 1}}))
	if _, err := StartNode(testConfig(1, storage), []raft.Peer{{ID: 1}}); !errors.Is(err, raft.ErrBootstrapNotEmpty) {
		t.Errorf("StartNode on storage with state = %v, want ErrBootstrapNotEmpty", err)
	}
}

// TestStepRefusesLocalMessages: message types that never cross the
// network are refused with ErrStepLocalMsg (etcd raft drops them
// silently), and the node is unaffected (etcd's TestNodeStep).
func TestStepRefusesLocalMessages(t *testing.T) {
	m := newManual(t, singleConfig(), []raft.Peer{{ID: 1}})
	m.leader()
	before := m.n.Status()
	ctx := context.Background()
	for _, typ := range []pb.MessageType{
		pb.MsgHup, pb.MsgBeat, pb.MsgUnreachable, pb.MsgSnapStatus, pb.MsgCheckQuorum,
		pb.MsgStorageAppend, pb.MsgStorageApply,
		// Storage responses are stepped in async mode, but only from the
		// storage threads.
		pb.MsgStorageAppendResp, pb.MsgStorageApplyResp,
	} {
		if err := m.n.Step(ctx, &pb.Message{Type: typ, From: 2, To: 1, Term: before.Term}); !errors.Is(err, raft.ErrStepLocalMsg) {
			t.Errorf("Step(%s) = %v, want ErrStepLocalMsg", typ, err)
		}
	}
	if err := m.n.Step(ctx, nil); !errors.Is(err, raft.ErrInvalidMessage) {
		t.Errorf("Step(nil) = %v, want ErrInvalidMessage", err)
	}
	if err := m.n.Step(ctx, &pb.Message{Type: pb.MsgAppResp, From: 7, To: 1, Term: before.Term}); !errors.Is(err, raft.ErrStepPeerNotFound) {
		t.Errorf("Step of a response from a stranger = %v, want ErrStepPeerNotFound", err)
	}
	after := m.n.Status()
	if after.Term != before.Term || after.RaftState != raft.StateLeader || after.Commit != before.Commit {
		t.Fatalf("status %v after refused messages, want it unchanged from %v", after, before)
	}
}

// TestConfChangeErrors: a change the leader refuses, and one that cannot
// be applied, come back as errors (etcd raft turns the first into an empty
// entry and panics on the second).
func TestConfChangeErrors(t *testing.T) {
	ctx := context.Background()
	m := newManual(t, singleConfig(), []raft.Peer{{ID: 1}})
	m.leader()
	must(t, m.n.ProposeConfChange(ctx, &pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeId: 2}))
	// The first change is not applied yet: the leader refuses a second.
	err := m.n.ProposeConfChange(ctx, &pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeId: 3})
	if !errors.Is(err, raft.ErrConfChangeRejected) {
		t.Fatalf("a second pending ProposeConfChange = %v, want ErrConfChangeRejected", err)
	}
	if err := m.n.ProposeConfChange(ctx, nil); !errors.Is(err, raft.ErrConfChangeRejected) {
		t.Fatalf("ProposeConfChange(nil) = %v, want ErrConfChangeRejected", err)
	}
	m.until("the first change", func() bool { return slices.Contains(m.conf.GetLearners(), 2) })
	if slices.Contains(m.conf.GetLearners(), 3) {
		t.Fatalf("the refused change was applied: %v", m.conf)
	}
	// Leaving a joint configuration the node is not in cannot be applied.
	cs, err := m.n.ApplyConfChange(&pb.ConfChangeV2{})
	if err == nil {
		t.Fatalf("ApplyConfChange(leave joint) outside a joint configuration = %v, nil; want an error", cs)
	}
	if st := m.n.Status(); len(st.Config.Learners) != 1 || len(st.Config.Voters[1]) != 0 {
		t.Fatalf("configuration %v after a failed ApplyConfChange, want it unchanged", st.Config)
	}
}

// TestAdvance: in synchronous mode no Ready comes until the last one is
// advanced, and Advance without a Ready is an error rather than a hang
// (etcd's TestNodeAdvance).
func TestAdvance(t *testing.T) {
	ctx := context.Background()
	m := newManual(t, singleConfig(), []raft.Peer{{ID: 1}})
	m.leader()
	if err := m.n.Advance(); !errors.Is(err, ErrNoReady) {
		t.Fatalf("Advance with no Ready = %v, want ErrNoReady", err)
	}
	must(t, m.n.Propose(ctx, []byte("x")))
	rd := m.ready()
	if len(rd.Entries) != 1 {
		t.Fatalf("Ready with %d entries, want the proposal", len(rd.Entries))
	}
	// More work, but the Ready is not advanced: none comes. The Status
	// round trip orders this check after the proposal was stepped.
	must(t, m.n.Propose(ctx, []byte("y")))
	_ = m.n.Status()
	select {
	case rd2 := <-m.n.Ready():
		t.Fatalf("a Ready before Advance: %v", rd2)
	default:
	}
	m.handle(rd)
	m.until("both proposals", func() bool { return len(m.data) == 2 })
	if err := m.n.Advance(); !errors.Is(err, ErrNoReady) {
		t.Fatalf("a second Advance = %v, want ErrNoReady", err)
	}
}

// TestAsyncStorageWrites drives one node in AsyncStorageWrites mode by
// hand: Readys come without Advance, carrying MsgStorageAppend and
// MsgStorageApply, whose responses are stepped back in.
func TestAsyncStorageWrites(t *testing.T) {
	ctx := context.Background()
	cfg := singleConfig()
	cfg.AsyncStorageWrites = true
	m := newManual(t, cfg, []raft.Peer{{ID: 1}})
	if err := m.n.Advance(); !errors.Is(err, raft.ErrAsyncAdvance) {
		t.Fatalf("Advance in async mode = %v, want ErrAsyncAdvance", err)
	}
	// handle does the storage threads' work inline, in order.
	handle := func(rd raft.Ready) {
		for _, msg := range rd.Messages {
			switch msg.To {
			case raft.LocalAppendThread:
				if msg.Term != 0 {
					must(t, m.storage.SetHardState(&pb.HardState{Term: msg.Term, Vote: msg.Vote, Commit: msg.Commit}))
				}
				must(t, m.storage.Append(msg.Entries))
			case raft.LocalApplyThread:
				for _, e := range msg.Entries {
					switch {
					case e.Type != pb.EntryNormal:
						cc, err := pb.UnmarshalConfChange(e)
						must(t, err)
						m.conf, err = m.n.ApplyConfChange(cc)
						must(t, err)
					case len(e.Data) > 0:
						m.data = append(m.data, string(e.Data))
					}
					m.applied = e.Index
				}
			default:
				t.Fatalf("a single node sends %s to %d", msg.Type, msg.To)
			}
			for _, r := range msg.Responses {
				must(t, m.n.Step(ctx, r))
			}
		}
	}
	until := func(cond func() bool) {
		for !cond() {
			handle(m.ready())
		}
	}
	until(func() bool { return m.applied >= 1 })
	must(t, m.n.Campaign(ctx))
	until(func() bool { return m.n.Status().RaftState == raft.StateLeader })
	must(t, m.n.Propose(ctx, []byte("a")))
	must(t, m.n.Propose(ctx, []byte("b")))
	until(func() bool { return len(m.data) == 2 })
	if !slices.Equal(m.data, []string{"a", "b"}) {
		t.Fatalf("applied %v, want [a b]", m.data)
	}
}

// TestUncommittedLimitDropsProposals: a leader over
// MaxUncommittedEntriesSize drops proposals, and the caller learns it
// (etcd's TestNodeProposeWaitDropped).
func TestUncommittedLimitDropsProposals(t *testing.T) {
	ctx := context.Background()
	cfg := singleConfig()
	cfg.MaxUncommittedEntriesSize = 8
	m := newManual(t, cfg, []raft.Peer{{ID: 1}})
	m.leader()
	// Not persisted (no Ready handled), so not committed: the first takes
	// the budget, the second is over it.
	must(t, m.n.Propose(ctx, []byte("12345678")))
	if err := m.n.Propose(ctx, []byte("9")); !errors.Is(err, raft.ErrProposalDropped) {
		t.Fatalf("Propose beyond the uncommitted limit = %v, want ErrProposalDropped", err)
	}
	m.until("the first proposal", func() bool { return len(m.data) == 1 })
	must(t, m.n.Propose(ctx, []byte("9")))
	m.until("the retried proposal", func() bool { return len(m.data) == 2 })
}

// failingStorage is a MemoryStorage whose Entries fails once failing is
// set.
type failingStorage struct {
	*raft.MemoryStorage
	failing *atomic.Bool
}

var errDisk = errors.New("disk on fire")

func (s failingStorage) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	if s.failing.Load() {
		return nil, errDisk
	}
	return s.MemoryStorage.Entries(lo, hi, maxSize)
}

// TestStorageFailure: once RawNode stops on a storage failure, the callers
// learn it: Advance and Propose return it (a proposal does not wait for a
// leader that will never come), and Status reports it.
func TestStorageFailure(t *testing.T) {
	ms := raft.NewMemoryStorage()
	must(t, ms.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{
		Index: 1, Term: 1, ConfState: &pb.ConfState{Voters: []uint64{1}},
	}}))
	must(t, ms.Append([]*pb.Entry{{Index: 2, Term: 1, Data: []byte("x")}}))
	must(t, ms.SetHardState(&pb.HardState{Term: 1, Commit: 2}))
	cfg := testConfig(1, ms)
	cfg.Applied = 1 // the state machine holds the snapshot
	// The node reads its storage while starting (more so with -tags
	// invariants); the disk fails afterwards, before the node's goroutine
	// starts and reads entry 2 for its first Ready.
	failing := &atomic.Bool{}
	cfg.Storage = failingStorage{ms, failing}
	rn, err := raft.NewRawNode(cfg)
	must(t, err)
	failing.Store(true)
	n := start(cfg, rn)
	defer n.Stop()

	// Handing out entry 2 reads it from storage, which fails.
	select {
	case <-n.Ready():
	case <-time.After(hangGuard):
		t.Fatal("no Ready")
	}
	if err := n.Advance(); !errors.Is(err, raft.ErrStorageFailed) || !errors.Is(err, errDisk) {
		t.Fatalf("Advance after the failure = %v, want ErrStorageFailed wrapping the disk's error", err)
	}
	guard, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	if err := n.Propose(guard, []byte("y")); !errors.Is(err, raft.ErrStorageFailed) {
		t.Fatalf("Propose after the failure = %v, want ErrStorageFailed", err)
	}
	if err := n.Campaign(context.Background()); !errors.Is(err, raft.ErrStorageFailed) {
		t.Fatalf("Campaign after the failure = %v, want ErrStorageFailed", err)
	}
	if st := n.Status(); !errors.Is(st.Err, errDisk) {
		t.Fatalf("Status().Err = %v, want the disk's error", st.Err)
	}
}
