package raft

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	pb "github.com/tickraft/raft/raftpb"
)

// Tests of the restart contract (doc.go, "Restarting a node"): a node
// restarted from its storage and Config.Applied comes back with the
// configuration it had applied, or refuses to start and says why.

// A node that applied configuration changes no snapshot captured (here the
// bootstrap entries and the addition of node 4) rebuilds its configuration
// from the log on restart: Storage reports the configuration as of its
// snapshot only. A later change then applies normally.
func TestRestartRebuildsConfigurationFromLog(t *testing.T) {
	c := mbNewCluster(t, 3, nil)
	c.campaign(1)
	c.addNode(4)
	require.NoError(t, c.nodes[1].rn.ProposeConfChange(mbV1(pb.ConfChangeAddNode, 4)))
	c.stabilize()
	c.beat()
	require.Equal(t, "voters=(1 2 3 4)", c.config(2))
	snap, err := c.nodes[2].st.Snapshot()
	require.NoError(t, err)
	require.Zero(t, snap.Metadata.Index, "no snapshot captured the changes")

	nd := c.nodes[2]
	applied := c.raft(2).raftLog.applied
	rn, err := NewRawNode(c.mbConfig(2, nd.st).withApplied(applied))
	require.NoError(t, err)
	nd.rn = rn
	require.Equal(t, "voters=(1 2 3 4)", c.config(2), "the restarted node lost its configuration")
	require.Equal(t, applied, rn.BasicStatus().Applied)
	require.NoError(t, pb.ConfStateEquivalent(nd.cs, rn.raft.trk.ConfState()))

	require.NoError(t, c.nodes[1].rn.ProposeConfChange(mbV1(pb.ConfChangeRemoveNode, 3)))
	c.stabilize()
	c.beat()
	require.Empty(t, nd.applyErrs, "a later change failed on the restarted node")
	require.Equal(t, "voters=(1 2 4)", c.config(2))
	c.propose(1, "a")
	require.Equal(t, []string{"a"}, nd.data)
}

// Whatever Applied is (any index from the snapshot to the last committed
// entry), the restarted node has the configuration of the changes up to
// Applied, and hands out the entries after it, whose changes the
// application applies as usual: the configuration the application has and
// the one the node uses never differ.
func TestRestartAppliedBetweenChanges(t *testing.T) {
	c := mbNewCluster(t, 3, nil)
	c.campaign(1)
	c.addNode(4)
	c.addNode(5)
	require.NoError(t, c.nodes[1].rn.ProposeConfChange(mbV1(pb.ConfChangeAddNode, 4)))
	c.stabilize()
	c.beat()
	c.propose(1, "a")
	require.NoError(t, c.nodes[1].rn.ProposeConfChange(mbV1(pb.ConfChangeAddLearnerNode, 5)))
	c.stabilize()
	c.beat()
	nd := c.nodes[2]
	require.Equal(t, "voters=(1 2 3 4) learners=(5)", c.config(2))
	// Replay the application's history: after each applied index the
	// configuration it had then is what a restart from there must give.
	ents := logEntries(t, c.raft(2))
	cs := &pb.ConfState{}
	for _, e := range ents {
		if e.Type == pb.EntryConfChange || e.Type == pb.EntryConfChangeV2 {
			cc, err := pb.UnmarshalConfChange(e)
			require.NoError(t, err)
			cs = mbApplyToConfState(t, cs, cc)
		}
		rn, err := NewRawNode(c.mbConfig(2, nd.st).withApplied(e.Index))
		require.NoError(t, err, "Applied %d", e.Index)
		require.NoError(t, pb.ConfStateEquivalent(cs, rn.raft.trk.ConfState()), "Applied %d", e.Index)
		rd := rn.Ready()
		if n := len(rd.CommittedEntries); n > 0 {
			require.Equal(t, e.Index+1, rd.CommittedEntries[0].Index, "Applied %d", e.Index)
		}
	}
}

// mbApplyToConfState applies cc to cs the way a node does, with a scratch
// node of its own.
func mbApplyToConfState(t *testing.T, cs *pb.ConfState, cc pb.ConfChangeI) *pb.ConfState {
	t.Helper()
	st := NewMemoryStorage()
	st.snapshot.Metadata.ConfState = cs
	rn, err := NewRawNode(&Config{ID: 1, Storage: st, Seed: 1})
	require.NoError(t, err)
	out, err := rn.ApplyConfChange(cc)
	require.NoError(t, err)
	return out
}

// A restart that cannot be made consistent is refused with an error that
// says what is wrong, and no node is created.
func TestRestartRefusesInconsistentApplied(t *testing.T) {
	mk := func() *MemoryStorage {
		st := NewMemoryStorage()
		require.NoError(t, st.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{
			Index: 10, Term: 2, ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}},
		}}))
		require.NoError(t, st.Append([]*pb.Entry{{Index: 11, Term: 2}, {Index: 12, Term: 2}}))
		require.NoError(t, st.SetHardState(&pb.HardState{Term: 2, Commit: 11}))
		return st
	}
	for _, tc := range []struct {
		applied uint64
		want    string
	}{
		{0, "Applied (0) is below the index of the storage's snapshot (10)"},
		{9, "Applied (9) is below the index of the storage's snapshot (10)"},
		{13, "Applied (13) is beyond the last index of the persisted log (12)"},
	} {
		rn, err := NewRawNode(&Config{ID: 1, Storage: mk(), Applied: tc.applied})
		require.Nil(t, rn)
		require.ErrorIs(t, err, ErrInvalidConfig)
		require.ErrorContains(t, err, tc.want)
	}
	for _, applied := range []uint64{10, 11, 12} {
		rn, err := NewRawNode(&Config{ID: 1, Storage: mk(), Applied: applied})
		require.NoError(t, err, "Applied %d", applied)
		require.Equal(t, max(applied, 11), rn.BasicStatus().Commit)
	}
}

// withApplied returns c with Applied set.
func (c *Config) withApplied(applied uint64) *Config {
	c.Applied = applied
	return c
}

// ---------------------------------------------------------------------------
// Crashes at every point of the Ready cycle.

// crashPoint is where in a Ready cycle a node crashes.
type crashPoint int

const (
	crashAfterReady   crashPoint = iota // the Ready was taken, nothing done
	crashAfterPersist                   // written (and synced), nothing sent
	crashAfterSend                      // messages sent, nothing applied
	crashAfterApply                     // applied, Advance (or the apply response) not yet
	crashAfterAdvance                   // the whole cycle done
	numCrashPoints
)

var crashPointNames = [...]string{"after-ready", "after-persist", "after-send", "after-apply", "after-advance"}

// rsNode is a node of an rsCluster: a RawNode, its storage (the disk) and
// its application's state machine.
type rsNode struct {
	id  uint64
	rn  *RawNode
	st  *MemoryStorage
	cfg Config
	// The state machine: the data applied, the index applied and the
	// configuration ApplyConfChange returned last.
	data    []string
	applied uint64
	cs      *pb.ConfState
	// cycles counts the Readys taken since the cluster started.
	cycles int
	// crashed is set once the node crashed and restarted.
	crashed bool
	// unsynced is a hard state written without a sync (a Ready whose
	// MustSync is false, in synchronous mode): the next synced write
	// makes it durable, a crash loses it. The application may have
	// applied entries beyond the durable commit index.
	unsynced *pb.HardState
}

// rsCluster runs nodes through complete Ready cycles and can crash one of
// them at a chosen point of a chosen cycle.
type rsCluster struct {
	t     *testing.T
	nodes map[uint64]*rsNode
	net   []*pb.Message
	async bool
	// volatileApp: the state machine lives in memory and is rebuilt from
	// the storage's snapshot on restart; otherwise it is durable and
	// survives the crash as it was.
	volatileApp bool
	// The crash to inject: node victim crashes at point in its cycle-th
	// Ready cycle.
	victim uint64
	cycle  int
	point  crashPoint
	// aheadOfCommit is set when the victim restarted with Applied beyond
	// its persisted commit index.
	aheadOfCommit bool
}

func rsNewCluster(t *testing.T, async, volatileApp bool) *rsCluster {
	c := &rsCluster{t: t, nodes: map[uint64]*rsNode{}, async: async, volatileApp: volatileApp}
	peers := []Peer{{ID: 1}, {ID: 2}, {ID: 3}}
	for id := uint64(1); id <= 5; id++ {
		st := NewMemoryStorage()
		nd := &rsNode{id: id, st: st, cs: &pb.ConfState{}, cfg: Config{
			ID: id, Storage: st, ElectionTick: 10, HeartbeatTick: 1, Seed: id,
			AsyncStorageWrites: async, StepDownOnRemoval: true, Logger: slog.New(slog.DiscardHandler),
		}}
		cfg := nd.cfg
		rn, err := NewRawNode(&cfg)
		require.NoError(t, err)
		nd.rn = rn
		if id <= 3 {
			require.NoError(t, rn.Bootstrap(peers))
		}
		c.nodes[id] = nd
	}
	return c
}

func (c *rsCluster) ids() []uint64 { return slices.Sorted(maps.Keys(c.nodes)) }

// crashes reports whether nd crashes at p now, and if so restarts it.
func (c *rsCluster) crashes(nd *rsNode, p crashPoint) bool {
	if nd.id != c.victim || nd.cycles != c.cycle || p != c.point || nd.crashed {
		return false
	}
	nd.crashed = true
	c.restart(nd)
	return true
}

// restart starts nd again from its storage, as an application does after
// a crash: the state machine is the durable one, or is rebuilt from the
// storage's snapshot, and Applied says how far it got.
func (c *rsCluster) restart(nd *rsNode) {
	t := c.t
	nd.unsynced = nil
	if c.volatileApp {
		snap, err := nd.st.Snapshot()
		require.NoError(t, err)
		nd.restore(snap)
	}
	cfg := nd.cfg
	cfg.Applied = nd.applied
	hs, _, err := nd.st.InitialState()
	require.NoError(t, err)
	c.aheadOfCommit = c.aheadOfCommit || nd.applied > hs.Commit
	rn, err := NewRawNode(&cfg)
	require.NoError(t, err, "node %d restarting with Applied %d", nd.id, nd.applied)
	require.NoError(t, pb.ConfStateEquivalent(nd.cs, rn.raft.trk.ConfState()),
		"node %d restarted with a configuration other than the one it applied", nd.id)
	nd.rn = rn
}

// restore installs a snapshot in the state machine.
func (nd *rsNode) restore(snap *pb.Snapshot) {
	md := snap.GetMetadata()
	nd.data = nil
	if d := string(snap.GetData()); d != "" {
		nd.data = strings.Split(d, ",")
	}
	nd.applied = md.GetIndex()
	nd.cs = md.GetConfState()
	if nd.cs == nil {
		nd.cs = &pb.ConfState{}
	}
}

// apply applies committed entries to the state machine.
func (c *rsCluster) apply(nd *rsNode, ents []*pb.Entry) {
	for _, e := range ents {
		if e.Index <= nd.applied {
			continue
		}
		switch e.Type {
		case pb.EntryNormal:
			if len(e.Data) > 0 {
				nd.data = append(nd.data, string(e.Data))
			}
		default:
			cc, err := pb.UnmarshalConfChange(e)
			require.NoError(c.t, err)
			if cs, err := nd.rn.ApplyConfChange(cc); err == nil {
				nd.cs = cs
			}
		}
		nd.applied = e.Index
	}
}

// persist writes what a Ready or a MsgStorageAppend holds.
func (c *rsCluster) persist(nd *rsNode, hs *pb.HardState, ents []*pb.Entry, snap *pb.Snapshot) {
	t := c.t
	if snap != nil {
		require.NoError(t, nd.st.ApplySnapshot(snap))
	}
	require.NoError(t, nd.st.Append(ents))
	if hs != nil {
		require.NoError(t, nd.st.SetHardState(hs))
	}
}

// cycleOf runs one Ready cycle of nd, if it has work, and reports whether
// it had.
func (c *rsCluster) cycleOf(nd *rsNode) bool {
	if !nd.rn.HasReady() {
		return false
	}
	rd := nd.rn.Ready()
	nd.cycles++
	if c.crashes(nd, crashAfterReady) {
		return true
	}
	if c.async {
		c.asyncCycle(nd, rd)
		return true
	}
	if !rd.MustSync && rd.Snapshot == nil && len(rd.Entries) == 0 {
		if rd.HardState != nil {
			nd.unsynced = rd.HardState
		}
	} else {
		hs := rd.HardState
		if hs == nil {
			hs = nd.unsynced
		}
		nd.unsynced = nil
		c.persist(nd, hs, rd.Entries, rd.Snapshot)
	}
	if c.crashes(nd, crashAfterPersist) {
		return true
	}
	c.net = append(c.net, rd.Messages...)
	if c.crashes(nd, crashAfterSend) {
		return true
	}
	if rd.Snapshot != nil {
		nd.restore(rd.Snapshot)
	}
	c.apply(nd, rd.CommittedEntries)
	if c.crashes(nd, crashAfterApply) {
		return true
	}
	require.NoError(c.t, nd.rn.Advance(rd))
	c.crashes(nd, crashAfterAdvance)
	return true
}

// asyncCycle does the work of an AsyncStorageWrites Ready: the append
// thread's write and responses, then the apply thread's.
func (c *rsCluster) asyncCycle(nd *rsNode, rd Ready) {
	var app, apply *pb.Message
	for _, m := range rd.Messages {
		switch m.To {
		case LocalAppendThread:
			app = m
		case LocalApplyThread:
			apply = m
		default:
			c.net = append(c.net, m)
		}
	}
	if app != nil {
		var hs *pb.HardState
		if app.Term != 0 || app.Vote != 0 || app.Commit != 0 {
			hs = &pb.HardState{Term: app.Term, Vote: app.Vote, Commit: app.Commit}
		}
		c.persist(nd, hs, app.Entries, app.Snapshot)
		if app.Snapshot != nil {
			nd.restore(app.Snapshot)
		}
	}
	if c.crashes(nd, crashAfterPersist) {
		return
	}
	if app != nil {
		for _, r := range app.Responses {
			if r.To == nd.id {
				require.NoError(c.t, nd.rn.Step(r))
			} else {
				c.net = append(c.net, r)
			}
		}
	}
	if c.crashes(nd, crashAfterSend) {
		return
	}
	if apply != nil {
		c.apply(nd, apply.Entries)
	}
	if c.crashes(nd, crashAfterApply) {
		return
	}
	if apply != nil {
		for _, r := range apply.Responses {
			require.NoError(c.t, nd.rn.Step(r))
		}
	}
	c.crashes(nd, crashAfterAdvance)
}

// stabilize runs Ready cycles and delivers messages until nothing is left.
func (c *rsCluster) stabilize() {
	for range 10000 {
		busy := false
		for _, id := range c.ids() {
			busy = c.cycleOf(c.nodes[id]) || busy
		}
		msgs := c.net
		c.net = nil
		for _, m := range msgs {
			// Errors are expected here (a restarted node gets answers to
			// requests it no longer knows of, a removed node's answers
			// reach a leader that forgot it); what matters is the outcome.
			_ = c.nodes[m.To].rn.Step(m)
			busy = true
		}
		if !busy {
			return
		}
	}
	c.t.Fatal("rsCluster: the nodes never ran out of work")
}

// leader returns the leader of the highest term, or 0.
func (c *rsCluster) leader() uint64 {
	var lead, term uint64
	for _, id := range c.ids() {
		st := c.nodes[id].rn.BasicStatus()
		if st.RaftState == StateLeader && st.Term >= term {
			lead, term = id, st.Term
		}
	}
	return lead
}

// settle runs the cluster until a leader is known and every member has
// heard from it, ticking every node in turn.
func (c *rsCluster) settle() uint64 {
	for range 200 {
		for _, id := range c.ids() {
			c.nodes[id].rn.Tick()
		}
		c.stabilize()
		if lead := c.leader(); lead != 0 {
			// One more heartbeat round: followers learn the commit index.
			c.nodes[lead].rn.Tick()
			c.stabilize()
			return lead
		}
	}
	c.t.Fatal("rsCluster: no leader")
	return 0
}

// rsOp is one step of the workload, retried until done says it took
// effect on the leader's state machine.
type rsOp struct {
	name string
	do   func(rn *RawNode) error
	done func(nd *rsNode) bool
}

func rsPropose(data string) rsOp {
	return rsOp{
		name: "propose " + data,
		do:   func(rn *RawNode) error { return rn.Propose([]byte(data)) },
		done: func(nd *rsNode) bool { return slices.Contains(nd.data, data) },
	}
}

func rsConfChange(name string, cc pb.ConfChangeI, done func(cs *pb.ConfState) bool) rsOp {
	return rsOp{
		name: name,
		do:   func(rn *RawNode) error { return rn.ProposeConfChange(cc) },
		done: func(nd *rsNode) bool { return done(nd.cs) && nd.rn.raft.pendingConfIndex <= nd.applied },
	}
}

// compactAll makes every node's application snapshot its state and compact
// its log, as applications do from time to time.
func (c *rsCluster) compactAll() {
	for _, id := range c.ids() {
		nd := c.nodes[id]
		snap, err := nd.st.Snapshot()
		require.NoError(c.t, err)
		if nd.applied <= snap.Metadata.Index {
			continue
		}
		_, err = nd.st.CreateSnapshot(nd.applied, nd.cs, []byte(strings.Join(nd.data, ",")))
		require.NoError(c.t, err)
		require.NoError(c.t, nd.st.Compact(nd.applied))
	}
}

// run elects a leader and runs the workload: proposals, the addition of a
// voter, a compaction, a removal, a learner added and promoted.
func (c *rsCluster) run() {
	has := func(id uint64, learner bool) func(cs *pb.ConfState) bool {
		return func(cs *pb.ConfState) bool {
			if learner {
				return slices.Contains(cs.Learners, id)
			}
			return slices.Contains(cs.Voters, id)
		}
	}
	ops := []rsOp{
		rsPropose("a"),
		rsConfChange("add 4", mbV1(pb.ConfChangeAddNode, 4), has(4, false)),
		rsPropose("b"),
		{name: "compact", do: func(*RawNode) error { c.compactAll(); return nil }, done: func(*rsNode) bool { return true }},
		rsPropose("c"),
		rsConfChange("remove 3", mbV1(pb.ConfChangeRemoveNode, 3),
			func(cs *pb.ConfState) bool { return !slices.Contains(cs.Voters, 3) }),
		rsPropose("d"),
		rsConfChange("add learner 5", &pb.ConfChangeV2{Changes: []*pb.ConfChangeSingle{
			{Type: pb.ConfChangeAddLearnerNode, NodeId: 5},
		}}, has(5, true)),
		// Node 5 needs a snapshot, and one that names it.
		{name: "compact", do: func(*RawNode) error { c.compactAll(); return nil }, done: func(*rsNode) bool { return true }},
		rsConfChange("promote 5", mbV1(pb.ConfChangeAddNode, 5), has(5, false)),
		rsPropose("e"),
	}
	lead := c.settle()
	for _, op := range ops {
		for try := 0; ; try++ {
			require.Less(c.t, try, 20, "%s never took effect", op.name)
			if op.done(c.nodes[lead]) && try > 0 {
				break
			}
			if try == 0 || c.nodes[lead].rn.BasicStatus().RaftState == StateLeader {
				_ = op.do(c.nodes[lead].rn)
			}
			c.stabilize()
			lead = c.settle()
			if op.done(c.nodes[lead]) {
				break
			}
		}
	}
	// Until every member applied what the leader committed (a crash in the
	// last cycles may leave the cluster without a leader, or a node
	// without the commit index it lost).
	for try := 0; ; try++ {
		require.Less(c.t, try, 20, "the cluster does not converge")
		lead := c.settle()
		if c.converged(lead) {
			return
		}
	}
}

// converged reports whether every member of lead's configuration applied
// everything lead committed.
func (c *rsCluster) converged(lead uint64) bool {
	ld := c.nodes[lead]
	for _, id := range c.ids() {
		if !slices.Contains(ld.cs.Voters, id) && !slices.Contains(ld.cs.Learners, id) {
			continue
		}
		if c.nodes[id].applied != ld.rn.BasicStatus().Commit {
			return false
		}
	}
	return true
}

// Every node is crashed at every point of every Ready cycle it goes
// through in a run of the workload, in synchronous (where a hard state
// that need not be synced is lost in a crash until a later write syncs it)
// and asynchronous storage mode, with an application whose state machine
// is durable (it
// restarts with Applied at its last applied entry) or volatile (it
// restores the storage's snapshot). On every restart the node must come
// back with the configuration its application applied; at the end, the
// crashed node must agree with the nodes that never crashed, and the
// cluster with a run without crashes.
func TestRestartAtEveryPointOfTheReadyCycle(t *testing.T) {
	for _, async := range []bool{false, true} {
		for _, volatileApp := range []bool{false, true} {
			t.Run(fmt.Sprintf("async=%v/volatile-app=%v", async, volatileApp), func(t *testing.T) {
				ref := rsNewCluster(t, async, volatileApp)
				ref.run()
				want := ref.nodes[1]
				ref.requireConsistent(t, want, "without crashes")
				require.Equal(t, []string{"a", "b", "c", "d", "e"}, want.data)
				require.Equal(t, "Voters:[1 2 4 5] Learners:[]", pb.DescribeConfState(want.cs))
				cycles := map[uint64]int{}
				for _, id := range ref.ids() {
					cycles[id] = ref.nodes[id].cycles
				}
				runs, crashes, ahead := 0, 0, 0
				for _, victim := range []uint64{1, 2, 4} {
					for cycle := 1; cycle <= cycles[victim]; cycle++ {
						for p := crashPoint(0); p < numCrashPoints; p++ {
							c := rsNewCluster(t, async, volatileApp)
							c.victim, c.cycle, c.point = victim, cycle, p
							what := fmt.Sprintf("node %d crashed %s in cycle %d", victim, crashPointNames[p], cycle)
							c.run()
							runs++
							if c.nodes[victim].crashed {
								crashes++
							}
							if c.aheadOfCommit {
								ahead++
							}
							c.requireConsistent(t, want, what)
						}
					}
				}
				require.Greater(t, crashes, runs/2, "most runs crash (a cycle that the crash run does not reach crashes nothing)")
				t.Logf("%d runs, %d crashes, %d with Applied beyond the persisted commit index", runs, crashes, ahead)
				if !async && !volatileApp {
					require.Positive(t, ahead, "a durable state machine ahead of a lost commit index")
				}
			})
		}
	}
}

// requireConsistent checks that every member applied the same data and
// configuration as the others and as want, a node of a run without
// crashes.
func (c *rsCluster) requireConsistent(t *testing.T, want *rsNode, what string) {
	t.Helper()
	for _, id := range c.ids() {
		nd := c.nodes[id]
		if !slices.Contains(want.cs.Voters, id) && !slices.Contains(want.cs.Learners, id) {
			continue
		}
		require.NoError(t, pb.ConfStateEquivalent(want.cs, nd.cs), "%s: node %d's applied configuration", what, id)
		require.NoError(t, pb.ConfStateEquivalent(want.cs, nd.rn.raft.trk.ConfState()), "%s: node %d's configuration", what, id)
		// Retried proposals may commit twice; what was applied, and in
		// which order the first time, must agree.
		require.Equal(t, dedup(want.data), dedup(nd.data), "%s: node %d's state machine", what, id)
		require.Equal(t, c.nodes[1].applied, nd.applied, "%s: node %d's applied index", what, id)
		require.Equal(t, c.nodes[1].data, nd.data, "%s: node %d and node 1 disagree", what, id)
	}
}

func dedup(xs []string) []string {
	var out []string
	for _, x := range xs {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
