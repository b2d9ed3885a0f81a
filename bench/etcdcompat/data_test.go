package etcdcompat

import (
	"fmt"
	"io"
	"log"
	"slices"
	"testing"

	traft "github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
	eraft "go.etcd.io/raft/v3"
	epb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The tests below carry a node's persisted state from one library to the
// other as bytes, as an application that switches libraries would: a
// single-voter cluster bootstraps, elects itself, commits entries and
// membership changes (v1 and v2, learners added), snapshots and compacts,
// commits more, and crashes with entries committed but not applied. Its
// hard state, snapshot and log are encoded by one library and decoded by
// the other, which restarts the node from them and must hand out exactly
// the committed entries the crashed node had not applied, with the same
// configuration, then elect itself in the next term and commit a new
// proposal on top of the old log.

// persisted is a node's durable state, encoded.
type persisted struct {
	hardState []byte
	snapshot  []byte
	entries   [][]byte // the log after the snapshot
	applied   uint64   // the last index the application applied
}

// entryView is an entry as both libraries see it.
type entryView struct {
	Index, Term uint64
	Type        int32
	Data        string
}

// confView is a configuration as both libraries see it.
type confView struct {
	Voters, VotersOutgoing, Learners, LearnersNext []uint64
	AutoLeave                                      bool
}

// crashed is what the crashed node knew: its hard state, configuration
// and the committed entries it had not applied yet.
type crashed struct {
	term, vote, commit uint64
	conf               confView
	unapplied          []entryView
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustUnmarshal(t *testing.T, b []byte, m proto.Message) {
	t.Helper()
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatalf("decode %T: %v", m, err)
	}
}

func sorted(ids []uint64) []uint64 {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	if len(ids) == 0 {
		return nil
	}
	return ids
}

// --- etcd raft's side ---------------------------------------------------

var etcdDiscard = &eraft.DefaultLogger{Logger: log.New(io.Discard, "", 0)}

type etcdNode struct {
	t       *testing.T
	rn      *eraft.RawNode
	st      *eraft.MemoryStorage
	cs      *epb.ConfState
	applied uint64
}

func newEtcdNode(t *testing.T, st *eraft.MemoryStorage, applied uint64) *etcdNode {
	rn, err := eraft.NewRawNode(&eraft.Config{
		ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: st, Applied: applied,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, Logger: etcdDiscard,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &etcdNode{t: t, rn: rn, st: st, applied: applied}
}

// handle handles every Ready; with apply false it persists the first one
// and returns without applying it or calling Advance (a crash), and
// returns its committed entries.
func (n *etcdNode) handle(apply bool) []*epb.Entry {
	for n.rn.HasReady() {
		rd := n.rn.Ready()
		if rd.HardState != nil {
			if err := n.st.SetHardState(rd.HardState); err != nil {
				n.t.Fatal(err)
			}
		}
		if err := n.st.Append(rd.Entries); err != nil {
			n.t.Fatal(err)
		}
		if !apply {
			return rd.CommittedEntries
		}
		for _, e := range rd.CommittedEntries {
			switch e.GetType() {
			case epb.EntryConfChange:
				var cc epb.ConfChange
				mustUnmarshal(n.t, e.GetData(), &cc)
				n.cs = n.rn.ApplyConfChange(&cc)
			case epb.EntryConfChangeV2:
				var cc epb.ConfChangeV2
				mustUnmarshal(n.t, e.GetData(), &cc)
				n.cs = n.rn.ApplyConfChange(&cc)
			}
			n.applied = e.GetIndex()
		}
		n.rn.Advance(rd)
	}
	return nil
}

func (n *etcdNode) conf() confView {
	c := n.rn.Status().Config
	return confView{
		Voters: sorted(c.Voters[0].Slice()), VotersOutgoing: sorted(c.Voters[1].Slice()),
		Learners: sorted(setSlice(c.Learners)), LearnersNext: sorted(setSlice(c.LearnersNext)), AutoLeave: c.AutoLeave,
	}
}

func setSlice(s map[uint64]struct{}) []uint64 {
	var out []uint64
	for id := range s {
		out = append(out, id)
	}
	return out
}

func etcdView(e *epb.Entry) entryView {
	return entryView{e.GetIndex(), e.GetTerm(), int32(e.GetType()), string(e.GetData())}
}

// etcdWrites runs the scenario on etcd raft and returns what it persisted
// and what it knew when it crashed.
func etcdWrites(t *testing.T) (persisted, crashed) {
	n := newEtcdNode(t, eraft.NewMemoryStorage(), 0)
	if err := n.rn.Bootstrap([]eraft.Peer{{ID: 1, Context: []byte("founder")}}); err != nil {
		t.Fatal(err)
	}
	n.handle(true)
	if err := n.rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	n.handle(true)
	propose := func(data string) {
		if err := n.rn.Propose([]byte(data)); err != nil {
			t.Fatal(err)
		}
		n.handle(true)
	}
	confChange := func(cc epb.ConfChangeI) {
		if err := n.rn.ProposeConfChange(cc); err != nil {
			t.Fatal(err)
		}
		n.handle(true)
	}
	propose("put a=1")
	propose("put b=2")
	confChange(&epb.ConfChange{Type: epb.ConfChangeAddLearnerNode.Enum(), NodeId: proto.Uint64(2), Context: []byte("v1"), Id: proto.Uint64(77)})
	confChange(&epb.ConfChangeV2{Changes: []*epb.ConfChangeSingle{{Type: epb.ConfChangeAddLearnerNode.Enum(), NodeId: proto.Uint64(3)}}, Context: []byte("v2")})
	propose("put c=3")
	if _, err := n.st.CreateSnapshot(n.applied, n.cs, []byte(fmt.Sprintf("state at %d", n.applied))); err != nil {
		t.Fatal(err)
	}
	if err := n.st.Compact(n.applied); err != nil {
		t.Fatal(err)
	}
	propose("put d=4")
	// Committed, persisted, not applied: the crash.
	if err := n.rn.Propose([]byte("put e=5")); err != nil {
		t.Fatal(err)
	}
	if err := n.rn.Propose(nil); err != nil {
		t.Fatal(err)
	}
	rd := n.rn.Ready()
	if err := n.st.Append(rd.Entries); err != nil {
		t.Fatal(err)
	}
	n.rn.Advance(rd)
	unapplied := n.handle(false)
	if len(unapplied) != 2 {
		t.Fatalf("setup: %d committed entries at the crash, want 2", len(unapplied))
	}

	var c crashed
	st := n.rn.BasicStatus()
	c.term, c.vote, c.commit = st.GetTerm(), st.GetVote(), st.GetCommit()
	c.conf = n.conf()
	for _, e := range unapplied {
		c.unapplied = append(c.unapplied, etcdView(e))
	}

	var p persisted
	hs, _, err := n.st.InitialState()
	if err != nil {
		t.Fatal(err)
	}
	p.hardState = mustMarshal(t, hs)
	snap, err := n.st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	p.snapshot = mustMarshal(t, snap)
	first, _ := n.st.FirstIndex()
	last, _ := n.st.LastIndex()
	ents, err := n.st.Entries(first, last+1, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		p.entries = append(p.entries, mustMarshal(t, e))
	}
	p.applied = n.applied
	return p, c
}

// etcdRestarts restarts an etcd raft node from p and checks it against c.
func etcdRestarts(t *testing.T, p persisted, c crashed) {
	st := eraft.NewMemoryStorage()
	var snap epb.Snapshot
	mustUnmarshal(t, p.snapshot, &snap)
	if err := st.ApplySnapshot(&snap); err != nil {
		t.Fatal(err)
	}
	var ents []*epb.Entry
	for _, b := range p.entries {
		var e epb.Entry
		mustUnmarshal(t, b, &e)
		ents = append(ents, &e)
	}
	if err := st.Append(ents); err != nil {
		t.Fatal(err)
	}
	var hs epb.HardState
	mustUnmarshal(t, p.hardState, &hs)
	if err := st.SetHardState(&hs); err != nil {
		t.Fatal(err)
	}

	n := newEtcdNode(t, st, p.applied)
	bs := n.rn.BasicStatus()
	if got := [3]uint64{bs.GetTerm(), bs.GetVote(), bs.GetCommit()}; got != [3]uint64{c.term, c.vote, c.commit} {
		t.Errorf("etcd raft restarts with term, vote, commit %v, want %v", got, [3]uint64{c.term, c.vote, c.commit})
	}
	if got := n.conf(); !slices.Equal(got.Voters, c.conf.Voters) || !slices.Equal(got.Learners, c.conf.Learners) ||
		!slices.Equal(got.VotersOutgoing, c.conf.VotersOutgoing) || !slices.Equal(got.LearnersNext, c.conf.LearnersNext) || got.AutoLeave != c.conf.AutoLeave {
		t.Errorf("etcd raft restarts with configuration %+v, want %+v", got, c.conf)
	}
	var handed []entryView
	for n.rn.HasReady() {
		rd := n.rn.Ready()
		for _, e := range rd.CommittedEntries {
			handed = append(handed, etcdView(e))
		}
		n.rn.Advance(rd)
	}
	if !slices.Equal(handed, c.unapplied) {
		t.Errorf("etcd raft hands out %+v after the restart, want %+v", handed, c.unapplied)
	}
	n.handle(true)
	if err := n.rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	n.handle(true)
	if st := n.rn.BasicStatus(); st.RaftState != eraft.StateLeader || st.GetTerm() != c.term+1 {
		t.Fatalf("etcd raft after Campaign: %s in term %d, want leader in term %d", st.RaftState, st.GetTerm(), c.term+1)
	}
	before := n.applied
	if err := n.rn.Propose([]byte("after restart")); err != nil {
		t.Fatal(err)
	}
	n.handle(true)
	ents, err := n.st.Entries(before+1, before+2, 1<<62)
	if err != nil || n.applied != before+1 || string(ents[0].GetData()) != "after restart" {
		t.Errorf("etcd raft applied up to %d after a proposal, want %d with the proposal (%v, %v)", n.applied, before+1, ents, err)
	}
}

// --- tickraft's side ----------------------------------------------------

type tickNode struct {
	t       *testing.T
	rn      *traft.RawNode
	st      *traft.MemoryStorage
	cs      *pb.ConfState
	applied uint64
}

func newTickNode(t *testing.T, st *traft.MemoryStorage, applied uint64) *tickNode {
	rn, err := traft.NewRawNode(&traft.Config{ID: 1, Storage: st, Applied: applied, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return &tickNode{t: t, rn: rn, st: st, applied: applied}
}

// handle is etcdNode.handle for tickraft.
func (n *tickNode) handle(apply bool) []*pb.Entry {
	for n.rn.HasReady() {
		rd := n.rn.Ready()
		if rd.HardState != nil {
			if err := n.st.SetHardState(rd.HardState); err != nil {
				n.t.Fatal(err)
			}
		}
		if err := n.st.Append(rd.Entries); err != nil {
			n.t.Fatal(err)
		}
		if !apply {
			return rd.CommittedEntries
		}
		for _, e := range rd.CommittedEntries {
			if e.Type != pb.EntryNormal {
				cc, err := pb.UnmarshalConfChange(e)
				if err != nil {
					n.t.Fatal(err)
				}
				if n.cs, err = n.rn.ApplyConfChange(cc); err != nil {
					n.t.Fatal(err)
				}
			}
			n.applied = e.Index
		}
		if err := n.rn.Advance(rd); err != nil {
			n.t.Fatal(err)
		}
	}
	return nil
}

func (n *tickNode) conf() confView {
	c := n.rn.Status().Config
	return confView{
		Voters: sorted(c.Voters[0].Slice()), VotersOutgoing: sorted(c.Voters[1].Slice()),
		Learners: sorted(setSlice(c.Learners)), LearnersNext: sorted(setSlice(c.LearnersNext)), AutoLeave: c.AutoLeave,
	}
}

func tickView(e *pb.Entry) entryView {
	return entryView{e.Index, e.Term, int32(e.Type), string(e.Data)}
}

// tickWrites is etcdWrites for tickraft.
func tickWrites(t *testing.T) (persisted, crashed) {
	n := newTickNode(t, traft.NewMemoryStorage(), 0)
	if err := n.rn.Bootstrap([]traft.Peer{{ID: 1, Context: []byte("founder")}}); err != nil {
		t.Fatal(err)
	}
	n.handle(true)
	if err := n.rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	n.handle(true)
	propose := func(data string) {
		if err := n.rn.Propose([]byte(data)); err != nil {
			t.Fatal(err)
		}
		n.handle(true)
	}
	confChange := func(cc pb.ConfChangeI) {
		if err := n.rn.ProposeConfChange(cc); err != nil {
			t.Fatal(err)
		}
		n.handle(true)
	}
	propose("put a=1")
	propose("put b=2")
	confChange(&pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeId: 2, Context: []byte("v1"), Id: 77})
	confChange(&pb.ConfChangeV2{Changes: []*pb.ConfChangeSingle{{Type: pb.ConfChangeAddLearnerNode, NodeId: 3}}, Context: []byte("v2")})
	propose("put c=3")
	if _, err := n.st.CreateSnapshot(n.applied, n.cs, []byte(fmt.Sprintf("state at %d", n.applied))); err != nil {
		t.Fatal(err)
	}
	if err := n.st.Compact(n.applied); err != nil {
		t.Fatal(err)
	}
	propose("put d=4")
	if err := n.rn.Propose([]byte("put e=5")); err != nil {
		t.Fatal(err)
	}
	if err := n.rn.Propose(nil); err != nil {
		t.Fatal(err)
	}
	rd := n.rn.Ready()
	if err := n.st.Append(rd.Entries); err != nil {
		t.Fatal(err)
	}
	if err := n.rn.Advance(rd); err != nil {
		t.Fatal(err)
	}
	unapplied := n.handle(false)
	if len(unapplied) != 2 {
		t.Fatalf("setup: %d committed entries at the crash, want 2", len(unapplied))
	}

	var c crashed
	st := n.rn.BasicStatus()
	c.term, c.vote, c.commit = st.Term, st.Vote, st.Commit
	c.conf = n.conf()
	for _, e := range unapplied {
		c.unapplied = append(c.unapplied, tickView(e))
	}

	var p persisted
	hs, _, err := n.st.InitialState()
	if err != nil {
		t.Fatal(err)
	}
	p.hardState = mustMarshal(t, hs)
	snap, err := n.st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	p.snapshot = mustMarshal(t, snap)
	first, _ := n.st.FirstIndex()
	last, _ := n.st.LastIndex()
	ents, err := n.st.Entries(first, last+1, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		p.entries = append(p.entries, mustMarshal(t, e))
	}
	p.applied = n.applied
	return p, c
}

// tickRestarts is etcdRestarts for tickraft.
func tickRestarts(t *testing.T, p persisted, c crashed) {
	st := traft.NewMemoryStorage()
	var snap pb.Snapshot
	mustUnmarshal(t, p.snapshot, &snap)
	if err := st.ApplySnapshot(&snap); err != nil {
		t.Fatal(err)
	}
	var ents []*pb.Entry
	for _, b := range p.entries {
		var e pb.Entry
		mustUnmarshal(t, b, &e)
		ents = append(ents, &e)
	}
	if err := st.Append(ents); err != nil {
		t.Fatal(err)
	}
	var hs pb.HardState
	mustUnmarshal(t, p.hardState, &hs)
	if err := st.SetHardState(&hs); err != nil {
		t.Fatal(err)
	}

	n := newTickNode(t, st, p.applied)
	bs := n.rn.BasicStatus()
	if got := [3]uint64{bs.Term, bs.Vote, bs.Commit}; got != [3]uint64{c.term, c.vote, c.commit} {
		t.Errorf("tickraft restarts with term, vote, commit %v, want %v", got, [3]uint64{c.term, c.vote, c.commit})
	}
	if got := n.conf(); !slices.Equal(got.Voters, c.conf.Voters) || !slices.Equal(got.Learners, c.conf.Learners) ||
		!slices.Equal(got.VotersOutgoing, c.conf.VotersOutgoing) || !slices.Equal(got.LearnersNext, c.conf.LearnersNext) || got.AutoLeave != c.conf.AutoLeave {
		t.Errorf("tickraft restarts with configuration %+v, want %+v", got, c.conf)
	}
	var handed []entryView
	for n.rn.HasReady() {
		rd := n.rn.Ready()
		for _, e := range rd.CommittedEntries {
			handed = append(handed, tickView(e))
		}
		if err := n.rn.Advance(rd); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(handed, c.unapplied) {
		t.Errorf("tickraft hands out %+v after the restart, want %+v", handed, c.unapplied)
	}
	n.handle(true)
	if err := n.rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	n.handle(true)
	if st := n.rn.BasicStatus(); st.RaftState != traft.StateLeader || st.Term != c.term+1 {
		t.Fatalf("tickraft after Campaign: %s in term %d, want leader in term %d", st.RaftState, st.Term, c.term+1)
	}
	before := n.applied
	if err := n.rn.Propose([]byte("after restart")); err != nil {
		t.Fatal(err)
	}
	n.handle(true)
	ents, err := n.st.Entries(before+1, before+2, 1<<62)
	if err != nil || n.applied != before+1 || string(ents[0].Data) != "after restart" {
		t.Errorf("tickraft applied up to %d after a proposal, want %d with the proposal (%v, %v)", n.applied, before+1, ents, err)
	}
}

// TestEtcdDataRestartsTickraft: an etcd raft node's persisted state,
// restarted by tickraft.
func TestEtcdDataRestartsTickraft(t *testing.T) {
	p, c := etcdWrites(t)
	if c.conf.Learners == nil || len(p.entries) < 3 {
		t.Fatalf("setup: learners %v, %d entries after the snapshot", c.conf.Learners, len(p.entries))
	}
	tickRestarts(t, p, c)
}

// TestTickraftDataRestartsEtcd: a tickraft node's persisted state,
// restarted by etcd raft.
func TestTickraftDataRestartsEtcd(t *testing.T) {
	p, c := tickWrites(t)
	if c.conf.Learners == nil || len(p.entries) < 3 {
		t.Fatalf("setup: learners %v, %d entries after the snapshot", c.conf.Learners, len(p.entries))
	}
	etcdRestarts(t, p, c)
}

// TestBothLibrariesWriteTheSameLog: the same scenario persists the same
// values in both libraries: hard state, snapshot and every entry. (Not
// always the same bytes: etcd raft writes some fields it set explicitly
// even when zero, such as ConfState.auto_leave, which tickraft omits.)
func TestBothLibrariesWriteTheSameLog(t *testing.T) {
	ep, ec := etcdWrites(t)
	tp, tc := tickWrites(t)
	same := func(what string, eb, tb []byte, m proto.Message) {
		t.Helper()
		e, tk := m.ProtoReflect().New().Interface(), m.ProtoReflect().New().Interface()
		mustUnmarshal(t, eb, e)
		mustUnmarshal(t, tb, tk)
		if !proto.Equal(e, tk) {
			t.Errorf("%s differs:\netcd raft: %v\ntickraft:  %v", what, e, tk)
		}
	}
	same("hard state", ep.hardState, tp.hardState, &pb.HardState{})
	same("snapshot", ep.snapshot, tp.snapshot, &pb.Snapshot{})
	if len(ep.entries) != len(tp.entries) {
		t.Fatalf("etcd raft's log has %d entries after the snapshot, tickraft's %d", len(ep.entries), len(tp.entries))
	}
	for i := range ep.entries {
		same(fmt.Sprintf("entry %d", i), ep.entries[i], tp.entries[i], &pb.Entry{})
	}
	if ep.applied != tp.applied || !slices.Equal(ec.unapplied, tc.unapplied) {
		t.Errorf("applied %d / %d, unapplied %+v / %+v", ep.applied, tp.applied, ec.unapplied, tc.unapplied)
	}
}

// TestBootstrapWritesTheSameEntries: Bootstrap writes the same log and
// hard state in both libraries, so a cluster bootstrapped by etcd raft
// has the log a tickraft one would have.
func TestBootstrapWritesTheSameEntries(t *testing.T) {
	ern := newEtcdNode(t, eraft.NewMemoryStorage(), 0)
	trn := newTickNode(t, traft.NewMemoryStorage(), 0)
	if err := ern.rn.Bootstrap([]eraft.Peer{{ID: 1, Context: []byte("one")}, {ID: 2}, {ID: 300, Context: []byte("three")}}); err != nil {
		t.Fatal(err)
	}
	if err := trn.rn.Bootstrap([]traft.Peer{{ID: 1, Context: []byte("one")}, {ID: 2}, {ID: 300, Context: []byte("three")}}); err != nil {
		t.Fatal(err)
	}
	erd, trd := ern.rn.Ready(), trn.rn.Ready()
	if len(erd.Entries) != 3 || len(trd.Entries) != 3 {
		t.Fatalf("bootstrap entries: etcd raft %d, tickraft %d, want 3", len(erd.Entries), len(trd.Entries))
	}
	for i := range erd.Entries {
		// The conf changes carry the same values, not the same bytes:
		// etcd raft writes the zero Type (ConfChangeAddNode) explicitly.
		var got pb.Entry
		mustUnmarshal(t, mustMarshal(t, erd.Entries[i]), &got)
		want := trd.Entries[i]
		if got.Term != want.Term || got.Index != want.Index || got.Type != want.Type {
			t.Errorf("bootstrap entry %d: etcd raft %v, tickraft %v", i, &got, want)
			continue
		}
		var gcc, wcc pb.ConfChange
		mustUnmarshal(t, got.Data, &gcc)
		mustUnmarshal(t, want.Data, &wcc)
		if !proto.Equal(&gcc, &wcc) {
			t.Errorf("bootstrap entry %d's change: etcd raft %v, tickraft %v", i, &gcc, &wcc)
		}
	}
	var hs pb.HardState
	mustUnmarshal(t, mustMarshal(t, erd.HardState), &hs)
	if !proto.Equal(&hs, trd.HardState) {
		t.Errorf("bootstrap hard state: etcd raft %v, tickraft %v", &hs, trd.HardState)
	}
}
