package raft

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tickraft/raft/internal/invariants"
	"github.com/tickraft/raft/progress"
	pb "github.com/tickraft/raft/raftpb"
	"google.golang.org/protobuf/proto"
)

// This file tests that no caller mistake corrupts a node's state: each
// misuse either works cleanly or returns an error and changes nothing.

// rnLeader returns a single-voter node that leads, with every Ready handled.
func rnLeader(t *testing.T, adjust func(*Config)) (*RawNode, *MemoryStorage) {
	t.Helper()
	rn, st := rnSingle(t, adjust)
	rnDrain(t, rn, st)
	require.NoError(t, rn.Campaign())
	rnDrain(t, rn, st)
	require.Equal(t, StateLeader, rn.BasicStatus().RaftState)
	return rn, st
}

// rnDrain handles the Readys of a lone node until it has none.
func rnDrain(t *testing.T, rn *RawNode, st *MemoryStorage) []string {
	t.Helper()
	var out []string
	for rn.HasReady() {
		out = append(out, rnHandle(t, rn, st, rn.Ready())...)
	}
	return out
}

// A MsgProp stepped twice (a retry, a duplicate from the network, an
// in-process transport sharing pointers) is two clean proposals: the leader
// stamps copies, never the caller's entries, so the log's indexes stay
// consecutive and the caller's message is left as it was.
func TestRestepedProposalIsASecondProposal(t *testing.T) {
	{
		rn, st := rnLeader(t, nil)
		m := &pb.Message{Type: pb.MsgProp, From: 1, Entries: []*pb.Entry{{Data: []byte("a")}, {Data: []byte("b")}}}
		require.NoError(t, rn.Step(m))
		require.NoError(t, rn.Step(m))
		for _, e := range m.Entries {
			require.Zero(t, e.Index, "the caller's entry was stamped")
			require.Zero(t, e.Term, "the caller's entry was stamped")
		}
		applied := rnDrain(t, rn, st)
		require.Equal(t, []string{"a", "b", "a", "b"}, applied)
		last, err := st.LastIndex()
		require.NoError(t, err)
		ents, err := st.Entries(1, last+1, noLimit)
		require.NoError(t, err)
		for i, e := range ents {
			require.Equal(t, uint64(i+1), e.Index, "log %v", rnDescribe(ents))
		}
	}
}

// rnConfig is the configuration of a node as a string, for comparisons.
func rnConfig(rn *RawNode) string { return rn.raft.trk.Config.String() }

// ApplyConfChange refuses a typed nil of either version, and a nil change
// inside a V2, with an error that says so; nothing panics, nothing changes.
func TestApplyConfChangeNilSaysSo(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	c.elect(1)
	rn := c.node(1).rn
	before := rnConfig(rn)
	for _, cc := range []pb.ConfChangeI{
		(*pb.ConfChange)(nil),
		(*pb.ConfChangeV2)(nil),
		&pb.ConfChangeV2{Changes: []*pb.ConfChangeSingle{{Type: pb.ConfChangeAddNode, NodeId: 4}, nil}},
	} {
		var err error
		require.NotPanics(t, func() { _, err = rn.ApplyConfChange(cc) }, "%T", cc)
		require.ErrorIs(t, err, ErrConfChangeRejected, "%T", cc)
		require.ErrorContains(t, err, "nil", "%T", cc)
		require.NotContains(t, err.Error(), "node ID 0", "%T", cc)
		require.ErrorIs(t, rn.ProposeConfChange(cc), ErrConfChangeRejected, "%T", cc)
		require.ErrorContains(t, rn.ProposeConfChange(cc), "nil", "%T", cc)
	}
	require.Equal(t, before, rnConfig(rn))
}

// A ConfChangeV2 whose Transition is none of the defined values is refused
// when proposed and, if it was committed anyway (validation disabled), when
// applied: it must not be read as JointExplicit and leave the cluster joint.
func TestConfChangeUnknownTransition(t *testing.T) {
	cc := &pb.ConfChangeV2{Transition: 7, Changes: []*pb.ConfChangeSingle{
		{Type: pb.ConfChangeAddNode, NodeId: 4}, {Type: pb.ConfChangeAddLearnerNode, NodeId: 5}}}

	c := rnNewCluster(t, 3, nil)
	c.elect(1)
	err := c.node(1).rn.ProposeConfChange(cc)
	require.ErrorIs(t, err, ErrConfChangeRejected)
	require.ErrorContains(t, err, "unknown transition 7")

	// Committed anyway: with validation disabled the leader appends what it
	// can decode.
	rn, st := rnLeader(t, func(cfg *Config) { cfg.DisableConfChangeValidation = true })
	before := rnConfig(rn)
	typ, data, err := pb.MarshalConfChange(cc)
	require.NoError(t, err)
	require.NoError(t, rn.Step(&pb.Message{Type: pb.MsgProp, Entries: []*pb.Entry{{Type: typ, Data: data}}}))
	applied := 0
	for rn.HasReady() {
		rd := rn.Ready()
		rnPersist(t, st, rd.Snapshot, rd.HardState, rd.Entries)
		for _, e := range rd.CommittedEntries {
			if e.Type != pb.EntryConfChangeV2 {
				continue
			}
			got, err := decodeConfChange(e)
			require.NoError(t, err)
			_, err = rn.ApplyConfChange(got)
			require.ErrorIs(t, err, ErrConfChangeRejected)
			require.ErrorContains(t, err, "unknown transition 7")
			applied++
		}
		require.NoError(t, rn.Advance(rd))
	}
	require.Equal(t, 1, applied)
	require.Equal(t, before, rnConfig(rn))
	require.NotContains(t, rnConfig(rn), "&&", "the node is joint")
}

// ApplyConfChange accepts only a change handed out in CommittedEntries and
// not applied yet: a change never committed, or one applied already, is
// refused and changes nothing.
func TestApplyConfChangeNeverCommitted(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	c.elect(1)
	rn := c.node(1).rn
	before := rnConfig(rn)
	add4 := &pb.ConfChange{Type: pb.ConfChangeAddNode, NodeId: 4}
	_, err := rn.ApplyConfChange(add4)
	require.ErrorIs(t, err, ErrConfChangeRejected)
	require.ErrorContains(t, err, "not a committed change")
	require.Equal(t, before, rnConfig(rn))

	// Committed and handed out: applied once (by the harness), not twice.
	require.NoError(t, rn.ProposeConfChange(add4))
	c.stabilize()
	after := rnConfig(rn)
	require.NotEqual(t, before, after)
	_, err = rn.ApplyConfChange(add4)
	require.ErrorIs(t, err, ErrConfChangeRejected)
	require.Equal(t, after, rnConfig(rn))
}

// A message addressed to another node is refused, not answered as ours.
func TestStepMessageForAnotherNode(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	c.elect(1)
	c.stabilize()
	rn := c.node(2).rn
	before := rn.BasicStatus()
	err := rn.Step(&pb.Message{Type: pb.MsgHeartbeat, From: 1, To: 3, Term: before.Term, Commit: before.Commit})
	require.ErrorIs(t, err, ErrInvalidMessage)
	require.ErrorContains(t, err, "addressed to 3")
	require.False(t, rn.HasReady(), "the node answered a message for another")
	// The application's own requests need no address.
	require.NoError(t, rn.Step(&pb.Message{Type: pb.MsgProp, Entries: []*pb.Entry{{Data: []byte("x")}}}))
}

// Advance acknowledges the Ready handed out last: without one, or a second
// time, it is an error.
func TestAdvanceWithoutReady(t *testing.T) {
	rn, st := rnSingle(t, nil)
	require.ErrorIs(t, rn.Advance(Ready{}), ErrInvalidCall)
	rd := rn.Ready()
	rnPersist(t, st, rd.Snapshot, rd.HardState, rd.Entries)
	rnApply(t, rn, rd.CommittedEntries)
	require.NoError(t, rn.Advance(rd))
	require.ErrorIs(t, rn.Advance(rd), ErrInvalidCall)
	// An empty Ready is still a Ready.
	rnDrain(t, rn, st)
	rd = rn.Ready()
	require.NoError(t, rn.Advance(rd))
	require.ErrorIs(t, rn.Advance(rd), ErrInvalidCall)
}

// ReportSnapshot refuses a status that is neither SnapshotFinish nor
// SnapshotFailure (it used to read as success).
func TestReportSnapshotUnknownStatus(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	c.elect(1)
	rn := c.node(1).rn
	pr := rn.raft.trk.Progress[2]
	pr.BecomeSnapshot(pr.Match + 5)
	before := pr.String()
	for _, s := range []SnapshotStatus{0, 3, -1} {
		require.ErrorIs(t, rn.ReportSnapshot(2, s), ErrInvalidCall, "status %d", s)
		require.Equal(t, before, pr.String())
	}
	require.NoError(t, rn.ReportSnapshot(2, SnapshotFailure))
	require.NotEqual(t, before, pr.String())
}

// Bootstrap refuses a peer list without the node itself, and leaves the
// node empty so it can bootstrap properly.
func TestBootstrapWithoutSelf(t *testing.T) {
	rn, err := NewRawNode(&Config{ID: 1, Storage: NewMemoryStorage(), ElectionTick: 10, HeartbeatTick: 1})
	require.NoError(t, err)
	err = rn.Bootstrap([]Peer{{ID: 2}, {ID: 3}})
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.False(t, rn.HasReady())
	require.NoError(t, rn.Bootstrap([]Peer{{ID: 1}, {ID: 2}, {ID: 3}}))
}

// A forged or corrupt term cannot wedge a node: a term at the end of the
// term space (from which no campaign could ever win), or one far ahead of
// the node's from a sender outside its configuration, is refused. The
// largest jump allowed moves the node, and the cluster then elects it at
// a higher term still: it is not wedged.
func TestForgedTermDoesNotWedge(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	c.elect(1)
	rn := c.node(2).rn
	term := rn.BasicStatus().Term
	for _, tc := range []struct {
		from, term uint64
	}{{99, maxTerm}, {99, maxTerm - 1}, {1, maxTerm + 1}, {99, term + maxTermJump + 1}} {
		err := rn.Step(&pb.Message{Type: pb.MsgHeartbeat, From: tc.from, To: 2, Term: tc.term})
		require.ErrorIs(t, err, ErrInvalidMessage, "term %d from %d", tc.term, tc.from)
		require.Equal(t, term, rn.BasicStatus().Term)
	}
	high := term + maxTermJump
	require.NoError(t, rn.Step(&pb.Message{Type: pb.MsgVote, From: 99, To: 2, Term: high, LogTerm: 1}))
	require.Equal(t, high, rn.BasicStatus().Term)
	c.queue = nil
	c.process()
	c.queue = nil
	c.elect(2)
	require.Greater(t, rn.BasicStatus().Term, high)
	c.propose(2, "after")
	c.stabilize()
	require.Contains(t, c.node(1).applied, "after")
}

// logBuffer is a concurrency-safe buffer for a test's log output.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// logger returns a text logger at level into l.
func (l *logBuffer) logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: level}))
}

// A follower whose storage lost entries it had acknowledged (a lost
// unsynced tail) does not stay behind silently: the leader's next heartbeat
// commits an index beyond its log, and it stops with a storage failure that
// names the lost entries. The leader logs the peer's rejections below what
// it acknowledged.
func TestFollowerStopsWhenStorageLostAcknowledgedEntries(t *testing.T) {
	var leaderLog logBuffer
	c := rnNewCluster(t, 3, func(cfg *Config) {
		if cfg.ID == 1 {
			cfg.Logger = leaderLog.logger(slog.LevelWarn)
		}
	})
	c.elect(1)
	for _, d := range []string{"a", "b", "c"} {
		c.propose(1, d)
	}
	c.stabilize()
	old := c.node(2)
	last, err := old.st.LastIndex()
	require.NoError(t, err)
	hs, _, err := old.st.InitialState()
	require.NoError(t, err)
	require.Equal(t, last, hs.Commit)

	// Node 2 restarts with its last two entries lost, and the commit index
	// that went with them.
	kept := last - 2
	st := storageWith(ids(3))
	ents, err := old.st.Entries(1, kept+1, noLimit)
	require.NoError(t, err)
	require.NoError(t, st.Append(ents))
	require.NoError(t, st.SetHardState(&pb.HardState{Term: hs.Term, Vote: hs.Vote, Commit: kept}))
	rn, err := NewRawNode(&Config{ID: 2, Storage: st, ElectionTick: 10, HeartbeatTick: 1, Seed: 2})
	require.NoError(t, err)
	c.nodes[2] = &rnNode{id: 2, rn: rn, st: st}
	c.queue = nil
	c.process()

	// An append beyond node 2's log is rejected with a hint below Match.
	c.propose(1, "d")
	c.process()
	c.deliver(func(m *pb.Message) bool { return m.To == 2 })
	c.process()
	c.deliver(func(m *pb.Message) bool { return m.From == 2 })
	require.Contains(t, leaderLog.String(), "the peer lost acknowledged entries")
	require.Contains(t, leaderLog.String(), "from=2")

	// The next heartbeat tells node 2 that it lost what it acknowledged.
	c.queue = nil
	c.tick(1, 1)
	c.stepErrs = nil
	c.deliver(func(m *pb.Message) bool { return m.To == 2 && m.Type == pb.MsgHeartbeat })
	require.NotEmpty(t, c.stepErrs)
	st2 := rn.BasicStatus()
	require.ErrorIs(t, st2.Err, ErrStorageFailed)
	require.ErrorIs(t, st2.Err, errStorageLost)
	require.ErrorContains(t, st2.Err, fmt.Sprintf("the log ends at index %d: entries %d to at least %d were lost", kept, kept+1, last))
	require.False(t, rn.HasReady())
}

// unavailableStorage returns ErrUnavailable from Entries once armed.
type unavailableStorage struct {
	*MemoryStorage
	armed bool
}

func (s *unavailableStorage) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	if s.armed {
		return nil, ErrUnavailable
	}
	return s.MemoryStorage.Entries(lo, hi, maxSize)
}

// ErrUnavailable from storage, for an index storage acknowledged as
// persisted, is a storage failure, as Storage documents: the leader stops
// instead of sending from a log it cannot read.
func TestStorageErrUnavailableStopsNode(t *testing.T) {
	var st *unavailableStorage
	c := rnNewClusterWith(t, 3, rnOptions{wrap: func(id uint64, ms *MemoryStorage) Storage {
		if id == 1 {
			st = &unavailableStorage{MemoryStorage: ms}
			return st
		}
		return ms
	}})
	c.elect(1)
	c.isolate(3)
	c.propose(1, "a")
	c.propose(1, "b")
	c.stabilize()
	st.armed = true
	c.heal()
	c.tick(1, 1)
	c.stabilize()
	bs := c.node(1).rn.BasicStatus()
	require.ErrorIs(t, bs.Err, ErrStorageFailed)
	require.ErrorIs(t, bs.Err, ErrUnavailable)
	// A stopped node does not keep reporting itself as leader.
	require.Equal(t, StateFollower, bs.RaftState)
	require.Equal(t, None, bs.Lead)
	require.Nil(t, c.node(1).rn.Status().Progress)
}

// A restarted node does not replay the election timeouts of its previous
// start: the persisted state it starts from is mixed into its seed. The
// same Config and the same storage still draw the same timeouts (runs
// replay), and a node starting empty uses Seed and ID alone.
func TestRestartDrawsNewElectionTimeouts(t *testing.T) {
	draws := func(hs *pb.HardState, seed uint64) []int {
		st := storageWith(ids(3))
		if hs != nil {
			require.NoError(t, st.Append([]*pb.Entry{{Index: 1, Term: 1}, {Index: 2, Term: hs.Term}}))
			require.NoError(t, st.SetHardState(hs))
		}
		rn, err := NewRawNode(&Config{ID: 1, Storage: st, ElectionTick: 10, HeartbeatTick: 1, Seed: seed})
		require.NoError(t, err)
		out := []int{rn.raft.randomizedElectionTimeout}
		for range 15 {
			rn.raft.resetRandomizedElectionTimeout()
			out = append(out, rn.raft.randomizedElectionTimeout)
		}
		return out
	}
	first := draws(&pb.HardState{Term: 2, Commit: 1}, 7)
	require.Equal(t, first, draws(&pb.HardState{Term: 2, Commit: 1}, 7), "same state, same draws")
	require.NotEqual(t, first, draws(&pb.HardState{Term: 3, Commit: 1}, 7), "a new term replays the old timeouts")
	require.NotEqual(t, first, draws(&pb.HardState{Term: 2, Commit: 2}, 7), "a new commit replays the old timeouts")
	require.NotEqual(t, first, draws(&pb.HardState{Term: 2, Commit: 1}, 8), "Seed is ignored")
	require.Equal(t, draws(nil, 7), draws(nil, 7))
}

// countingStorage counts the entries read through Entries, and fails
// FirstIndex once armed.
type countingStorage struct {
	*MemoryStorage
	read      int
	failFirst bool
}

func (s *countingStorage) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	ents, err := s.MemoryStorage.Entries(lo, hi, maxSize)
	s.read += len(ents)
	return ents, err
}

func (s *countingStorage) FirstIndex() (uint64, error) {
	if s.failFirst {
		return 0, errRnDisk
	}
	return s.MemoryStorage.FirstIndex()
}

// The log's invariant check, in builds with the invariants tag, reads a
// bounded number of entries however long the log (it runs after every
// change to the log, so reading them all made a run quadratic), and changes
// nothing: a storage error it meets is not recorded, so a node does not
// stop in an invariants build where it would not stop in a normal one.
func TestLogInvariantCheckIsBoundedAndHasNoSideEffects(t *testing.T) {
	if !invariants.Enabled {
		t.Skip("needs -tags invariants")
	}
	ms := NewMemoryStorage()
	var ents []*pb.Entry
	for i := uint64(1); i <= 2000; i++ {
		ents = append(ents, &pb.Entry{Index: i, Term: 1})
	}
	require.NoError(t, ms.Append(ents))
	st := &countingStorage{MemoryStorage: ms}
	l, err := newLog(st, noLimit)
	require.NoError(t, err)
	l.append(&pb.Entry{Index: 2001, Term: 2})
	st.read = 0
	l.checkInvariants()
	require.LessOrEqual(t, st.read, checkWindow)
	require.NotZero(t, st.read, "the check read nothing")

	st.failFirst = true
	l.checkInvariants()
	require.NoError(t, l.err(), "the check recorded a storage error")
}

// A leader holds at most MaxPendingReadIndex reads, whether they wait for
// its first commit in its term or for a heartbeat round: beyond it ReadIndex
// fails with ErrReadIndexDropped, and once the reads are answered there is
// room again.
func TestPendingReadsAreBounded(t *testing.T) {
	c := rnNewCluster(t, 3, func(cfg *Config) { cfg.MaxPendingReadIndex = 3 })
	c.elect(1)
	rn := c.node(1).rn
	for i := range 3 {
		require.NoError(t, rn.ReadIndex([]byte{byte(i)}))
	}
	require.ErrorIs(t, rn.ReadIndex([]byte("x")), ErrReadIndexDropped)
	require.Len(t, rn.raft.readOnly.rounds, 3)
	c.stabilize()
	require.Len(t, c.node(1).readStates, 3)
	require.NoError(t, rn.ReadIndex([]byte("y")))

	// Reads held until a new leader's first commit count too.
	c = rnNewCluster(t, 3, func(cfg *Config) { cfg.MaxPendingReadIndex = 2 })
	require.NoError(t, c.node(1).rn.Campaign())
	c.process()
	c.deliver(rnIs(pb.MsgVote))
	c.process()
	c.deliver(rnIs(pb.MsgVoteResp))
	rn = c.node(1).rn
	require.Equal(t, StateLeader, rn.BasicStatus().RaftState)
	require.NoError(t, rn.ReadIndex([]byte("a")))
	require.NoError(t, rn.ReadIndex([]byte("b")))
	require.Len(t, rn.raft.pendingReadIndexMessages, 2)
	require.ErrorIs(t, rn.ReadIndex([]byte("c")), ErrReadIndexDropped)
	c.stabilize()
	require.Len(t, c.node(1).readStates, 2)
}

// copyProposal keeps every field of a proposed entry but the term and index
// the leader assigns; a field added to Entry that it does not copy fails
// here.
func TestCopyProposalCopiesEveryField(t *testing.T) {
	e := &pb.Entry{}
	fields := e.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		setNonZero(t, e.ProtoReflect(), fields.Get(i))
	}
	e.ProtoReflect().SetUnknown([]byte{0xf8, 0x01, 0x01}) // field 31, varint 1
	var r raft
	c := r.copyProposal([]*pb.Entry{e})[0]
	c.Term, c.Index = e.Term, e.Index
	require.True(t, proto.Equal(e, c), "copy %v of %v", c, e)
	require.Equal(t, e.ProtoReflect().GetUnknown(), c.ProtoReflect().GetUnknown())
}

// Status renders node IDs in decimal in JSON, as the logs and
// configurations do.
func TestStatusJSONDecimalIDs(t *testing.T) {
	st := storageWith([]uint64{10, 11, 12})
	rn, err := NewRawNode(&Config{ID: 10, Storage: st, ElectionTick: 10, HeartbeatTick: 1})
	require.NoError(t, err)
	rn.raft.becomeCandidate()
	rn.raft.becomeLeader()
	rn.raft.leadTransferee = 11
	var got struct {
		ID             string                     `json:"id"`
		Vote           string                     `json:"vote"`
		Lead           string                     `json:"lead"`
		LeadTransferee string                     `json:"leadTransferee"`
		Progress       map[string]json.RawMessage `json:"progress"`
	}
	require.NoError(t, json.Unmarshal([]byte(rn.Status().String()), &got))
	require.Equal(t, "10", got.ID)
	require.Equal(t, "10", got.Vote)
	require.Equal(t, "10", got.Lead)
	require.Equal(t, "11", got.LeadTransferee)
	require.ElementsMatch(t, []string{"10", "11", "12"}, slices.Collect(maps.Keys(got.Progress)))
}

// WithProgress visits nothing on a node that does not lead, even one that
// led before and still holds the progress of that time.
func TestWithProgressOnFollowerVisitsNothing(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	c.elect(1)
	c.elect(2)
	n := 0
	c.node(1).rn.WithProgress(func(uint64, ProgressType, progress.Progress) { n++ })
	require.Zero(t, n, "a former leader visited its stale progress")
	c.node(2).rn.WithProgress(func(uint64, ProgressType, progress.Progress) { n++ })
	require.Equal(t, 3, n)
}

// INFO logs carry one line per real event: a leader holding back a
// snapshot that predates a new peer says so once, not at every heartbeat,
// and a follower moving to a higher term is not a role change.
func TestInfoLogsOneLinePerEvent(t *testing.T) {
	var logs logBuffer
	c := rnNewCluster(t, 3, func(cfg *Config) { cfg.Logger = logs.logger(slog.LevelInfo) })
	c.elect(1)
	c.propose(1, "a")
	c.stabilize()
	leader := c.node(1)
	applied := leader.rn.BasicStatus().Applied
	_, err := leader.st.CreateSnapshot(applied, &pb.ConfState{Voters: ids(3)}, nil)
	require.NoError(t, err)
	require.NoError(t, leader.st.Compact(applied))

	// Node 4 joins empty and answers heartbeats; the only snapshot
	// predates it.
	st4 := NewMemoryStorage()
	rn4, err := NewRawNode(&Config{ID: 4, Storage: st4, ElectionTick: 10, HeartbeatTick: 1, Logger: logs.logger(slog.LevelInfo)})
	require.NoError(t, err)
	c.nodes[4] = &rnNode{id: 4, rn: rn4, st: st4}
	c.ids = append(c.ids, 4)
	require.NoError(t, leader.rn.ProposeConfChange(&pb.ConfChange{Type: pb.ConfChangeAddNode, NodeId: 4}))
	c.stabilize()
	for range 5 {
		c.tick(1, 1)
		c.stabilize()
	}
	require.Equal(t, 1, strings.Count(logs.String(), "snapshot predates the peer's membership"), logs.String())

	// A follower that sees a higher term stays a follower: no role change.
	before := strings.Count(logs.String(), "raft role changed")
	c.elect(2)
	after := logs.String()
	require.NotContains(t, after, "role=StateFollower prev_role=StateFollower")
	require.Greater(t, strings.Count(after, "raft role changed"), before, "real role changes are still logged")
}
