package raft

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	pb "github.com/tickraft/raft/raftpb"
	"google.golang.org/protobuf/proto"
)

// This file tests the RawNode's Ready/Advance contract and holds the
// RawNode cluster helpers (prefixed rn) shared by the RawNode-level tests:
// async_test.go, read_test.go, transfer_test.go, errors_test.go and
// status_test.go. Unlike the raft-level network of helpers_test.go, an
// rnCluster drives every node only through the public API, the way an
// application does, and delivers messages only when the test says so.

// rnNode is one RawNode together with the application state around it.
type rnNode struct {
	id uint64
	rn *RawNode
	// st is where the application persists: the node's Storage, or the
	// MemoryStorage behind it when the test wraps it.
	st *MemoryStorage
	// applied holds the data of every non-empty normal entry applied.
	applied []string
	// readStates collects the ReadStates of every Ready.
	readStates []ReadState
	// holdWrites (async mode only) keeps the MsgStorageAppend and
	// MsgStorageApply messages in held instead of carrying them out, so a
	// test can choose when the "disk" finishes.
	holdWrites bool
	held       []*pb.Message
}

// rnCluster is a set of RawNodes and the messages in flight between them.
type rnCluster struct {
	t     testing.TB
	nodes map[uint64]*rnNode
	ids   []uint64
	// queue holds the messages sent and not delivered yet, oldest first.
	queue []*pb.Message
	// drop, when set, loses every message for which it returns true, at
	// the moment it is sent.
	drop func(m *pb.Message) bool
	// trace, when non-nil, records every message sent, in order.
	trace *[]string
	// stepErrs records the errors returned when delivering messages.
	stepErrs []error
	// onReady, when set, sees every Ready as it is handed out.
	onReady func(id uint64, rd Ready)
}

// rnOptions adjusts how rnNewCluster builds nodes.
type rnOptions struct {
	// adjust changes each node's configuration.
	adjust func(*Config)
	// wrap, when set, gives the Storage the node reads from, around the
	// MemoryStorage the application writes to.
	wrap func(id uint64, st *MemoryStorage) Storage
	// learners are extra members that start as learners. With learners the
	// nodes start from a configuration in storage instead of Bootstrap.
	learners []uint64
}

// rnNewCluster bootstraps n voters 1..n with ElectionTick 10 and
// HeartbeatTick 1 (and lazy commit propagation, the default), and handles
// the bootstrap Readys.
func rnNewCluster(t testing.TB, n int, adjust func(*Config)) *rnCluster {
	t.Helper()
	return rnNewClusterWith(t, n, rnOptions{adjust: adjust})
}

func rnNewClusterWith(t testing.TB, n int, o rnOptions) *rnCluster {
	t.Helper()
	c := &rnCluster{t: t, nodes: map[uint64]*rnNode{}}
	voters := ids(n)
	members := append(slices.Clone(voters), o.learners...)
	var peers []Peer
	for _, id := range voters {
		peers = append(peers, Peer{ID: id})
	}
	for _, id := range members {
		var ms *MemoryStorage
		if len(o.learners) > 0 {
			ms = storageWith(voters, o.learners...)
		} else {
			ms = NewMemoryStorage()
		}
		var st Storage = ms
		if o.wrap != nil {
			st = o.wrap(id, ms)
		}
		cfg := &Config{ID: id, Storage: st, ElectionTick: 10, HeartbeatTick: 1, Seed: 1}
		if o.adjust != nil {
			o.adjust(cfg)
		}
		rn, err := NewRawNode(cfg)
		require.NoError(t, err)
		if len(o.learners) == 0 {
			require.NoError(t, rn.Bootstrap(peers))
		}
		c.nodes[id] = &rnNode{id: id, rn: rn, st: ms}
		c.ids = append(c.ids, id)
	}
	c.process()
	return c
}

func (c *rnCluster) node(id uint64) *rnNode { return c.nodes[id] }

// send queues m for delivery, unless the network drops it.
func (c *rnCluster) send(m *pb.Message) {
	if c.trace != nil {
		*c.trace = append(*c.trace, pb.DescribeMessage(m, nil))
	}
	if c.drop != nil && c.drop(m) {
		return
	}
	c.queue = append(c.queue, m)
}

// handleReady carries out one Ready of node id the way the package
// documentation prescribes, and reports whether there was one.
func (c *rnCluster) handleReady(id uint64) bool {
	c.t.Helper()
	nd := c.nodes[id]
	if !nd.rn.HasReady() {
		return false
	}
	rd := nd.rn.Ready()
	require.False(c.t, readyIsEmpty(rd), "node %d: HasReady was true for an empty Ready", id)
	if c.onReady != nil {
		c.onReady(id, rd)
	}
	nd.readStates = append(nd.readStates, rd.ReadStates...)
	if nd.rn.asyncStorageWrites {
		for _, m := range rd.Messages {
			switch m.To {
			case LocalAppendThread, LocalApplyThread:
				if nd.holdWrites {
					nd.held = append(nd.held, m)
				} else {
					c.doLocal(nd, m)
				}
			default:
				c.send(m)
			}
		}
		return true
	}
	rnPersist(c.t, nd.st, rd.Snapshot, rd.HardState, rd.Entries)
	for _, m := range rd.Messages {
		c.send(m)
	}
	c.apply(nd, rd.CommittedEntries)
	require.NoError(c.t, nd.rn.Advance(rd))
	return true
}

// doLocal carries out a storage message of async mode and delivers its
// responses: to the node itself at once, to peers through the network.
func (c *rnCluster) doLocal(nd *rnNode, m *pb.Message) {
	c.t.Helper()
	switch m.Type {
	case pb.MsgStorageAppend:
		rnPersist(c.t, nd.st, m.Snapshot, rnAppendHardState(m), m.Entries)
	case pb.MsgStorageApply:
		c.apply(nd, m.Entries)
	default:
		c.t.Fatalf("unexpected local message %s", pb.DescribeMessage(m, nil))
	}
	for _, resp := range m.Responses {
		if resp.To == nd.id {
			require.NoError(c.t, nd.rn.Step(resp))
		} else {
			c.send(resp)
		}
	}
}

// releaseWrites carries out the storage messages node id held back, in
// order, and stops holding.
func (c *rnCluster) releaseWrites(id uint64) {
	c.t.Helper()
	nd := c.nodes[id]
	held := nd.held
	nd.held, nd.holdWrites = nil, false
	for _, m := range held {
		c.doLocal(nd, m)
	}
}

// apply applies committed entries to node nd's state machine.
func (c *rnCluster) apply(nd *rnNode, ents []*pb.Entry) {
	c.t.Helper()
	nd.applied = append(nd.applied, rnApply(c.t, nd.rn, ents)...)
}

// process handles every node's Readys until none has one.
func (c *rnCluster) process() {
	c.t.Helper()
	for i := 0; ; i++ {
		require.Less(c.t, i, 1000, "Readys keep coming")
		progress := false
		for _, id := range c.ids {
			for c.handleReady(id) {
				progress = true
			}
		}
		if !progress {
			return
		}
	}
}

// deliver steps the queued messages accepted by filter (all when nil) into
// their destinations, in order, and keeps the others queued. Messages sent
// while delivering are queued, not delivered. It returns how many were
// delivered.
func (c *rnCluster) deliver(filter func(*pb.Message) bool) int {
	c.t.Helper()
	var keep, now []*pb.Message
	for _, m := range c.queue {
		if filter == nil || filter(m) {
			now = append(now, m)
		} else {
			keep = append(keep, m)
		}
	}
	c.queue = keep
	for _, m := range now {
		nd, ok := c.nodes[m.To]
		if !ok {
			continue
		}
		if err := nd.rn.Step(m); err != nil {
			c.stepErrs = append(c.stepErrs, fmt.Errorf("%s: %w", pb.DescribeMessage(m, nil), err))
		}
	}
	return len(now)
}

// stabilize processes Readys and delivers the messages accepted by filter
// until nothing moves.
func (c *rnCluster) stabilizeIf(filter func(*pb.Message) bool) {
	c.t.Helper()
	for i := 0; ; i++ {
		require.Less(c.t, i, 1000, "the cluster does not settle")
		c.process()
		if c.deliver(filter) == 0 {
			return
		}
	}
}

func (c *rnCluster) stabilize() { c.stabilizeIf(nil) }

// isolate drops every message to or from the given nodes from now on;
// heal undoes it.
func (c *rnCluster) isolate(cut ...uint64) {
	c.drop = func(m *pb.Message) bool {
		return slices.Contains(cut, m.From) || slices.Contains(cut, m.To)
	}
}

func (c *rnCluster) heal() { c.drop = nil }

// elect makes node id campaign and settles the cluster; id must win.
func (c *rnCluster) elect(id uint64) {
	c.t.Helper()
	require.NoError(c.t, c.nodes[id].rn.Campaign())
	c.stabilize()
	require.Equal(c.t, StateLeader, c.nodes[id].rn.BasicStatus().RaftState, "node %d did not win", id)
}

// propose proposes data on node id.
func (c *rnCluster) propose(id uint64, data string) {
	c.t.Helper()
	require.NoError(c.t, c.nodes[id].rn.Propose([]byte(data)))
}

// beat makes leader id send a heartbeat round now and settles the cluster:
// with lazy commit propagation (the default) followers learn the latest
// commit index from it.
func (c *rnCluster) beat(id uint64) {
	c.t.Helper()
	require.NoError(c.t, c.nodes[id].rn.raft.Step(&pb.Message{Type: pb.MsgBeat}))
	c.stabilize()
}

// tick ticks node id n times, handling its Readys after each tick.
func (c *rnCluster) tick(id uint64, n int) {
	c.t.Helper()
	for range n {
		c.nodes[id].rn.Tick()
		c.process()
	}
}

// queued returns the queued messages of type typ.
func (c *rnCluster) queued(typ pb.MessageType) []*pb.Message {
	var out []*pb.Message
	for _, m := range c.queue {
		if m.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

// rnIs returns a filter accepting messages of the given types.
func rnIs(types ...pb.MessageType) func(*pb.Message) bool {
	return func(m *pb.Message) bool { return slices.Contains(types, m.Type) }
}

// rnNot returns a filter accepting messages not of the given types.
func rnNot(types ...pb.MessageType) func(*pb.Message) bool {
	return func(m *pb.Message) bool { return !slices.Contains(types, m.Type) }
}

// rnPersist writes what a Ready (or a MsgStorageAppend) hands out to st:
// the snapshot first, then the entries, then the hard state.
func rnPersist(t testing.TB, st *MemoryStorage, snap *pb.Snapshot, hs *pb.HardState, ents []*pb.Entry) {
	t.Helper()
	if snap != nil && !pb.IsEmptySnap(snap) {
		require.NoError(t, st.ApplySnapshot(snap))
	}
	require.NoError(t, st.Append(ents))
	if hs != nil {
		require.NoError(t, st.SetHardState(hs))
	}
}

// rnAppendHardState is the hard state a MsgStorageAppend asks to persist,
// or nil when it carries none.
func rnAppendHardState(m *pb.Message) *pb.HardState {
	if m.Term == 0 && m.Vote == 0 && m.Commit == 0 {
		return nil
	}
	return &pb.HardState{Term: m.Term, Vote: m.Vote, Commit: m.Commit}
}

// rnApply applies committed entries: configuration changes go to
// ApplyConfChange, and the data of non-empty normal entries is returned.
func rnApply(t testing.TB, rn *RawNode, ents []*pb.Entry) []string {
	t.Helper()
	var out []string
	for _, e := range ents {
		switch e.Type {
		case pb.EntryNormal:
			if len(e.Data) > 0 {
				out = append(out, string(e.Data))
			}
		case pb.EntryConfChange, pb.EntryConfChangeV2:
			cc, err := decodeConfChange(e)
			require.NoError(t, err)
			_, err = rn.ApplyConfChange(cc)
			require.NoError(t, err)
		}
	}
	return out
}

// rnDescribe renders entries as "index/term:data".
func rnDescribe(ents []*pb.Entry) []string {
	out := make([]string, len(ents))
	for i, e := range ents {
		out[i] = fmt.Sprintf("%d/%d:%s", e.Index, e.Term, e.Data)
	}
	return out
}

// rnSingle returns a bootstrapped single-voter node in synchronous mode,
// with the Ready of the bootstrap not yet taken.
func rnSingle(t testing.TB, adjust func(*Config)) (*RawNode, *MemoryStorage) {
	t.Helper()
	st := NewMemoryStorage()
	cfg := &Config{ID: 1, Storage: st, ElectionTick: 10, HeartbeatTick: 1, Seed: 1}
	if adjust != nil {
		adjust(cfg)
	}
	rn, err := NewRawNode(cfg)
	require.NoError(t, err)
	require.NoError(t, rn.Bootstrap([]Peer{{ID: 1}}))
	return rn, st
}

// rnHandle persists, applies and advances one Ready of a lone node, and
// returns the applied data.
func rnHandle(t testing.TB, rn *RawNode, st *MemoryStorage, rd Ready) []string {
	t.Helper()
	rnPersist(t, st, rd.Snapshot, rd.HardState, rd.Entries)
	out := rnApply(t, rn, rd.CommittedEntries)
	require.NoError(t, rn.Advance(rd))
	return out
}

// A node that has nothing to do says so: HasReady is false on a fresh node
// without state, after ticks short of an election timeout, and after the
// work of the last Ready was acknowledged with Advance. An application loop
// that spins on HasReady relies on this to go idle.
func TestRawNodeHasReadyIdle(t *testing.T) {
	st := storageWith(ids(3))
	rn, err := NewRawNode(&Config{ID: 1, Storage: st, ElectionTick: 10, HeartbeatTick: 1})
	require.NoError(t, err)
	require.False(t, rn.HasReady(), "fresh node")
	for range 9 { // below the smallest randomized election timeout
		rn.Tick()
		require.False(t, rn.HasReady(), "tick without timeout")
	}

	rn, st2 := rnSingle(t, nil)
	require.True(t, rn.HasReady(), "bootstrap must be persisted")
	rnHandle(t, rn, st2, rn.Ready())
	require.False(t, rn.HasReady(), "after Advance with nothing new")
}

// The Ready sequence of a single voter, field by field. It pins the
// contract of each field: SoftState and HardState only when they changed,
// Entries to persist, CommittedEntries to apply, MustSync true when the
// term, vote or entries changed and false when only the commit index did
// (a lost commit index is relearned; a lost vote or entry is a safety
// violation), and the leader's own entry committing only once Advance
// acknowledged its write.
func TestRawNodeSingleNodeReadys(t *testing.T) {
	rn, st := rnSingle(t, nil)

	// Bootstrap: the configuration entry is persisted and applied in the
	// same Ready (committed by definition).
	rd := rn.Ready()
	require.Nil(t, rd.SoftState, "soft state unchanged")
	require.Equal(t, "Term:1 Vote:0 Commit:1", pb.DescribeHardState(rd.HardState))
	require.Equal(t, []string{"1/1:" + string(rd.Entries[0].Data)}, rnDescribe(rd.Entries))
	require.Equal(t, rnDescribe(rd.Entries), rnDescribe(rd.CommittedEntries))
	require.True(t, rd.MustSync)
	require.Empty(t, rd.Messages)
	rnHandle(t, rn, st, rd)
	require.False(t, rn.HasReady())

	// Campaign: the vote for itself must be durable before it counts, so
	// the node is still a candidate in this Ready.
	require.NoError(t, rn.Campaign())
	rd = rn.Ready()
	require.Equal(t, &SoftState{Lead: None, RaftState: StateCandidate}, rd.SoftState)
	require.Equal(t, "Term:2 Vote:1 Commit:1", pb.DescribeHardState(rd.HardState))
	require.True(t, rd.MustSync, "a new term and vote must be synced")
	require.Empty(t, rd.Entries)
	require.Empty(t, rd.Messages)
	rnHandle(t, rn, st, rd)

	// Advance delivered the vote: leader, with the empty entry of its term.
	rd = rn.Ready()
	require.Equal(t, &SoftState{Lead: 1, RaftState: StateLeader}, rd.SoftState)
	require.Nil(t, rd.HardState, "term, vote and commit unchanged")
	require.Equal(t, []string{"2/2:"}, rnDescribe(rd.Entries))
	require.Empty(t, rd.CommittedEntries, "not committed before its write is acknowledged")
	require.True(t, rd.MustSync)
	rnHandle(t, rn, st, rd)

	rd = rn.Ready()
	require.Nil(t, rd.SoftState)
	require.Equal(t, "Term:2 Vote:1 Commit:2", pb.DescribeHardState(rd.HardState))
	require.Empty(t, rd.Entries)
	require.Equal(t, []string{"2/2:"}, rnDescribe(rd.CommittedEntries))
	require.False(t, rd.MustSync, "only the commit index changed")
	rnHandle(t, rn, st, rd)
	require.False(t, rn.HasReady())

	// A proposal: first persisted, then, after Advance, committed.
	require.NoError(t, rn.Propose([]byte("foo")))
	rd = rn.Ready()
	require.Nil(t, rd.HardState)
	require.Equal(t, []string{"3/2:foo"}, rnDescribe(rd.Entries))
	require.Empty(t, rd.CommittedEntries)
	require.True(t, rd.MustSync)
	require.Equal(t, uint64(2), rn.BasicStatus().Commit, "committed before its write was acknowledged")
	rnHandle(t, rn, st, rd)
	require.Equal(t, uint64(3), rn.BasicStatus().Commit, "Advance acknowledges the write")

	rd = rn.Ready()
	require.Equal(t, "Term:2 Vote:1 Commit:3", pb.DescribeHardState(rd.HardState))
	require.Equal(t, []string{"3/2:foo"}, rnDescribe(rd.CommittedEntries))
	require.False(t, rd.MustSync)
	require.Equal(t, []string{"foo"}, rnHandle(t, rn, st, rd))
	require.False(t, rn.HasReady())
	require.Equal(t, uint64(3), rn.BasicStatus().Applied)
}

// A follower that only grants a vote must sync: the vote is a promise not
// to vote for anyone else in the term, and a forgotten vote after a crash
// allows two leaders in one term.
func TestRawNodeMustSyncOnVote(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	require.NoError(t, c.node(2).rn.Campaign())
	c.process()
	require.Equal(t, 2, c.deliver(rnIs(pb.MsgVote)))
	rd := c.node(3).rn.Ready()
	require.Equal(t, "Term:2 Vote:2 Commit:3", pb.DescribeHardState(rd.HardState))
	require.Empty(t, rd.Entries)
	require.True(t, rd.MustSync)
	require.Len(t, rd.Messages, 1)
	require.Equal(t, pb.MsgVoteResp, rd.Messages[0].Type)
}

// CommittedEntries may include entries handed out in the same Ready's
// Entries: a follower that was behind receives entries the leader already
// committed with another follower. The application must persist before it
// applies, and a RawNode in synchronous mode does hand them out together
// rather than waiting one more round trip. (A leader cannot be shown in this
// position: its entries always reach a Ready before any peer can
// acknowledge them.)
func TestRawNodeCommittedEntriesFromSameReady(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	c.elect(1)
	c.isolate(3)
	c.propose(1, "a")
	c.propose(1, "b")
	c.stabilize()
	commit := c.node(1).rn.BasicStatus().Commit
	require.Equal(t, uint64(6), commit)
	require.Less(t, c.node(3).rn.BasicStatus().Commit, commit)

	// A heartbeat makes 3 answer; the leader probes it and sends what it
	// misses. Node 3's Readys are left alone once the entries arrive.
	c.heal()
	c.node(1).rn.Tick()
	for i := 0; len(c.node(3).rn.raft.raftLog.nextUnstableEnts()) == 0; i++ {
		require.Less(t, i, 10, "the entries never reach node 3")
		c.handleReady(3)
		for _, id := range []uint64{1, 2} {
			for c.handleReady(id) {
			}
		}
		c.deliver(nil)
	}
	rd := c.node(3).rn.Ready()
	require.Equal(t, []string{"5/2:a", "6/2:b"}, rnDescribe(rd.Entries))
	require.Equal(t, []string{"5/2:a", "6/2:b"}, rnDescribe(rd.CommittedEntries))
	require.True(t, rd.MustSync)
	require.Equal(t, []string{"a", "b"}, rnHandle(t, c.node(3).rn, c.node(3).st, rd))
}

// Calling Ready again before Advance in synchronous mode is application
// misuse: the node cannot tell which write the next Advance acknowledges.
// It must not crash or hand anything out twice: the second Ready is empty,
// HasReady is false until Advance, and after Advance work flows again.
func TestRawNodeReadyTwiceWithoutAdvance(t *testing.T) {
	rn, st := rnSingle(t, nil)
	rd := rn.Ready()
	require.NotEmpty(t, rd.Entries, "the first Ready holds the bootstrap entries")
	require.False(t, rn.HasReady())
	again := rn.Ready()
	require.Empty(t, again.Entries)
	require.Nil(t, again.HardState)
	require.Empty(t, again.Messages)
	require.Empty(t, again.CommittedEntries)
	rnHandle(t, rn, st, rd)
	require.NoError(t, rn.Campaign())
	require.True(t, rn.HasReady(), "after Advance, new work is handed out again")
	require.NotNil(t, rn.Ready().HardState)
}

// In AsyncStorageWrites mode the application reports progress by stepping
// the storage responses; Advance would acknowledge writes it knows nothing
// about, so it refuses.
func TestRawNodeAdvanceInAsyncMode(t *testing.T) {
	rn, _ := rnSingle(t, func(c *Config) { c.AsyncStorageWrites = true })
	rd := rn.Ready()
	require.ErrorIs(t, rn.Advance(rd), ErrAsyncAdvance)
}

// MaxCommittedSizePerReady caps the bytes of committed entries handed out
// and not yet acknowledged, so a node catching up on a long log does not
// load all of it into memory at once. The entries come over several Readys,
// in order, none twice, and no new page is handed out before Advance
// acknowledges the previous one. Entries up to Config.Applied are not
// handed out again after a restart.
func TestRawNodeCommittedEntriesPagination(t *testing.T) {
	const n, applied = 20, 2
	st := storageWith([]uint64{1})
	var ents []*pb.Entry
	for i := uint64(1); i <= n; i++ {
		ents = append(ents, &pb.Entry{Index: i, Term: 1, Data: fmt.Appendf(nil, "entry-%04d", i)})
	}
	require.NoError(t, st.Append(ents))
	require.NoError(t, st.SetHardState(&pb.HardState{Term: 1, Commit: n}))

	const budget = 32
	rn, err := NewRawNode(&Config{
		ID: 1, Storage: st, ElectionTick: 10, HeartbeatTick: 1,
		Applied: applied, MaxCommittedSizePerReady: budget,
	})
	require.NoError(t, err)

	var got []uint64
	readys := 0
	for rn.HasReady() {
		rd := rn.Ready()
		if len(rd.CommittedEntries) > 0 {
			readys++
			if len(rd.CommittedEntries) > 1 {
				require.LessOrEqual(t, payloadsSize(rd.CommittedEntries), uint64(budget))
			}
			require.False(t, rn.HasReady(), "a new page before the previous one was acknowledged")
		}
		for _, e := range rd.CommittedEntries {
			got = append(got, e.Index)
		}
		require.NoError(t, rn.Advance(rd))
	}
	var want []uint64
	for i := uint64(applied + 1); i <= n; i++ {
		want = append(want, i)
	}
	require.Equal(t, want, got)
	require.Greater(t, readys, 3, "the budget should split the entries over several Readys")
	require.Equal(t, uint64(n), rn.BasicStatus().Applied)
}

// The same scenario run twice with the same seeds produces the same
// messages in the same order: the core takes no input but its calls and
// its seeded source, which is what makes a failing test replayable. A
// different seed changes the randomized election timeouts, and with them
// the run.
func TestRawNodeDeterministic(t *testing.T) {
	run := func(seed uint64) []string {
		var trace []string
		c := rnNewCluster(t, 3, func(cfg *Config) { cfg.Seed = seed })
		c.trace = &trace
		for tick := 1; ; tick++ {
			require.Less(t, tick, 100, "no leader elected")
			for _, id := range c.ids {
				c.nodes[id].rn.Tick()
			}
			trace = append(trace, fmt.Sprintf("tick %d", tick))
			c.stabilize()
			if lead := c.node(1).rn.BasicStatus().Lead; lead != None {
				for i := range 3 {
					c.propose(lead, fmt.Sprintf("v%d", i))
				}
				c.stabilize()
				return trace
			}
		}
	}
	first := run(1)
	require.Equal(t, first, run(1))
	differs := false
	for seed := uint64(2); seed <= 5; seed++ {
		differs = differs || !slices.Equal(first, run(seed))
	}
	require.True(t, differs, "the seed does not influence election timing")
}

// TestReadyOutputIsNeverReused checks that what a Ready hands out belongs
// to the application: the node allocates messages, message lists and hard
// states in chunks shared by several Readys, and must never write to one
// after handing it out. Every Ready's Messages and HardState are kept and
// compared, at the end, with copies taken when they were handed out.
func TestReadyOutputIsNeverReused(t *testing.T) {
	for _, async := range []bool{false, true} {
		t.Run(fmt.Sprintf("async=%v", async), func(t *testing.T) {
			c := rnNewCluster(t, 3, func(cfg *Config) { cfg.AsyncStorageWrites = async })
			type kept struct {
				msgs   []*pb.Message
				copies []*pb.Message
				hs     *pb.HardState
				hsCopy *pb.HardState
			}
			var all []kept
			c.onReady = func(_ uint64, rd Ready) {
				require.Equal(t, len(rd.Messages), cap(rd.Messages), "Messages has no spare capacity")
				k := kept{msgs: rd.Messages, hs: rd.HardState}
				for _, m := range rd.Messages {
					k.copies = append(k.copies, proto.Clone(m).(*pb.Message))
				}
				if rd.HardState != nil {
					k.hsCopy = proto.Clone(rd.HardState).(*pb.HardState)
				}
				all = append(all, k)
			}
			c.elect(1)
			for i := range 300 {
				c.propose(1, fmt.Sprintf("v%d", i))
				if i%7 == 0 {
					c.tick(1, 1) // heartbeats too
				}
				c.stabilize()
			}
			require.Greater(t, len(all), 300)
			for i, k := range all {
				for j, m := range k.msgs {
					require.True(t, proto.Equal(k.copies[j], m), "Ready %d message %d changed: %s, was %s",
						i, j, pb.DescribeMessage(m, nil), pb.DescribeMessage(k.copies[j], nil))
				}
				if k.hs != nil {
					require.True(t, proto.Equal(k.hsCopy, k.hs), "Ready %d hard state changed", i)
				}
			}
		})
	}
}
