package sim

import (
	"errors"
	"strings"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// node is one simulated server. Its storage and state machine are its disk
// and survive crashes; everything else belongs to the running incarnation
// and is lost when it crashes.
type node struct {
	id uint64
	// storage is the node's disk: hard state, log and snapshot. disk is
	// set in WAL mode (walmode.go): storage is then a wal on it.
	storage diskStorage
	disk    *walDisk
	// app is the state machine, also on disk.
	app appState
	// decommissioned nodes were removed from the configuration and shut
	// down for good.
	decommissioned bool

	// The running incarnation; rn is nil while the node is down.
	rn          *raft.RawNode
	incarnation int
	// appendQ and applyQ are the MsgStorageAppend and MsgStorageApply work
	// of asynchronous mode, in order, not yet done.
	appendQ, applyQ []*pb.Message
	// restoredSnap is the index of the last snapshot the state machine
	// restored: entries up to it that are still queued for applying are
	// skipped, as any application must.
	restoredSnap uint64
	// crashInReady, when >= 0, makes the node crash while handling its next
	// Ready (synchronous mode), at that stage (see handleReadySync).
	crashInReady int
	// reads are the answered ReadIndex requests waiting for the state
	// machine to reach their index.
	reads []pendingRead
	// lastApplied is BasicStatus().Applied at the end of the last step.
	lastApplied uint64
	// crashAfterWrite is set by the DropHardState bug.
	crashAfterWrite bool
	// commitSeen is the highest commit index the node reported.
	commitSeen uint64
}

func (n *node) up() bool { return n.rn != nil }

// Crash stages of handleReadySync.
const (
	noCrash            = -1
	crashBeforePersist = 0 // a leader may already have sent its messages
	crashAfterPersist  = 1
	crashAfterSend     = 2
	crashWhileApplying = 3 // after a random number of committed entries
	numCrashStages     = 4
)

// start creates a new incarnation of n from its disk.
func (s *Sim) start(n *node) {
	n.incarnation++
	n.crashInReady = noCrash
	cfg := s.opts.raftConfig(n.id, n.storage, n.app.applied, s.rng.Uint64())
	rn, err := raft.NewRawNode(cfg)
	if err != nil {
		s.failf(CheckNode, "node %d: NewRawNode: %v", n.id, err)
		return
	}
	n.rn = rn
	n.lastApplied = rn.BasicStatus().Applied
}

// crash stops n, losing everything it did not persist.
func (s *Sim) crash(n *node, why string) {
	s.crashDisk(n)
	s.stats.Crashes++
	s.logf("node %d CRASHES %s; lost: %d append and %d apply work items, %d reads", n.id, why,
		len(n.appendQ), len(n.applyQ), len(n.reads))
	n.rn = nil
	n.appendQ, n.applyQ, n.reads = nil, nil, nil
	n.crashInReady = noCrash
	n.crashAfterWrite = false
	s.checkDurability()
}

// restart starts a crashed node again from its disk: the state machine
// first recovers (a snapshot saved but not yet restored is restored now),
// then the raft node is built with Config.Applied set to what the state
// machine holds.
func (s *Sim) restart(n *node) {
	snap, err := n.storage.Snapshot()
	if err != nil {
		s.failf(CheckNode, "node %d: reading its snapshot: %v", n.id, err)
		return
	}
	if idx := snap.GetMetadata().GetIndex(); idx > n.app.applied {
		s.restoreApp(n, snap)
	}
	if n.app.applied > snap.GetMetadata().GetIndex() {
		// The node restarts with Applied = app.applied, so it will not see
		// the configuration changes applied since its storage's snapshot
		// again, and NewRawNode reads the configuration from the snapshot.
		// Record the state machine as a snapshot, as an application that
		// keeps its state durable would.
		if _, err := n.storage.CreateSnapshot(n.app.applied, n.app.conf, n.app.encode()); err != nil {
			s.failf(CheckNode, "node %d: snapshotting its state machine at %d on restart: %v", n.id, n.app.applied, err)
			return
		}
	}
	hs, _, _ := n.storage.InitialState()
	if hs.Commit < n.app.applied {
		if !s.opts.AsyncStorageWrites && !s.opts.Bugs.DropHardState {
			// In synchronous mode a Ready's hard state is written before
			// its committed entries are applied.
			s.failf(CheckNode, "node %d restarts with commit index %d on disk, below its applied index %d",
				n.id, hs.Commit, n.app.applied)
			return
		}
		// Asynchronous mode may apply entries before the append thread has
		// written the commit index that made them committed. Applied
		// entries are committed: record it.
		s.logf("node %d restart: raising the stored commit index %d to its applied index %d", n.id, hs.Commit, n.app.applied)
		hs.Commit = n.app.applied
		_ = n.storage.SetHardState(hs)
	}
	s.start(n)
	if n.up() {
		s.logf("node %d RESTARTS: %s applied=%d", n.id, pb.DescribeHardState(hs), n.app.applied)
	}
}

// handleReady takes n's Ready and does what it says.
func (s *Sim) handleReady(n *node) {
	if s.opts.AsyncStorageWrites {
		s.handleReadyAsync(n)
		return
	}
	s.handleReadySync(n)
}

// handleReadySync follows the synchronous Ready contract: persist, send,
// apply, Advance. A crash planned for this Ready interrupts it.
func (s *Sim) handleReadySync(n *node) {
	rd := n.rn.Ready()
	s.noteReady(n, &rd)
	crash := n.crashInReady
	if crash == crashBeforePersist {
		// A leader may send its messages while its own write is in
		// progress; the others' messages wait for the write.
		if n.rn.BasicStatus().RaftState == raft.StateLeader && leaderMayPreSend(rd.Messages) && s.rng.IntN(2) == 0 {
			for _, m := range rd.Messages {
				s.send(n, m)
			}
		}
		s.tornWrite(n, rd.Snapshot, rd.Entries, rd.HardState)
		s.crash(n, "before persisting its Ready")
		return
	}
	var hs *pb.HardState
	if rd.HardState != nil {
		hs = rd.HardState
	}
	s.persist(n, rd.Snapshot, rd.Entries, hs)
	if crash == crashAfterPersist {
		s.crash(n, "after persisting its Ready")
		return
	}
	for _, m := range rd.Messages {
		s.send(n, m)
	}
	if crash == crashAfterSend {
		s.crash(n, "after sending its Ready's messages")
		return
	}
	if rd.Snapshot != nil && !pb.IsEmptySnap(rd.Snapshot) {
		s.restoreApp(n, rd.Snapshot)
	}
	stop := -1
	if crash == crashWhileApplying {
		stop = s.rng.IntN(len(rd.CommittedEntries) + 1)
	}
	for i, e := range rd.CommittedEntries {
		if i == stop {
			break
		}
		s.apply(n, e)
	}
	if stop >= 0 {
		s.crash(n, "while applying its Ready")
		return
	}
	s.readStates(n, rd.ReadStates)
	if err := n.rn.Advance(rd); err != nil {
		s.failf(CheckNode, "node %d: Advance: %v", n.id, err)
	}
	s.crashIfHardStateLost(n)
}

// leaderMayPreSend reports whether msgs may leave before the Ready's write
// is durable: only a leader's replication traffic may, not answers that
// promise durability.
func leaderMayPreSend(msgs []*pb.Message) bool {
	for _, m := range msgs {
		switch m.Type {
		case pb.MsgAppResp, pb.MsgVoteResp, pb.MsgPreVoteResp:
			return false
		}
	}
	return true
}

// handleReadyAsync hands a Ready's storage work to the node's append and
// apply queues and its other messages to the network.
func (s *Sim) handleReadyAsync(n *node) {
	rd := n.rn.Ready()
	s.noteReady(n, &rd)
	for _, m := range rd.Messages {
		switch m.To {
		case raft.LocalAppendThread:
			n.appendQ = append(n.appendQ, m)
		case raft.LocalApplyThread:
			n.applyQ = append(n.applyQ, m)
		default:
			s.send(n, m)
		}
	}
	s.readStates(n, rd.ReadStates)
}

// noteReady traces a Ready's content.
func (s *Sim) noteReady(n *node, rd *raft.Ready) {
	if rd.SoftState != nil {
		st := n.rn.BasicStatus()
		s.logf("node %d is now %s, term %d, leader %d", n.id, rd.SoftState.RaftState, st.Term, rd.SoftState.Lead)
	}
	if s.opts.AsyncStorageWrites {
		return
	}
	var parts []string
	if rd.HardState != nil {
		parts = append(parts, "hs=("+pb.DescribeHardState(rd.HardState)+")")
	}
	if len(rd.Entries) > 0 {
		parts = append(parts, "persist="+describeEntries(rd.Entries))
	}
	if rd.Snapshot != nil {
		parts = append(parts, "snap=("+pb.DescribeSnapshot(rd.Snapshot)+")")
	}
	if len(rd.CommittedEntries) > 0 {
		parts = append(parts, "apply="+describeEntries(rd.CommittedEntries))
	}
	if len(parts) > 0 {
		s.logf("node %d ready: %s", n.id, strings.Join(parts, " "))
	}
}

// processAppend does the first MsgStorageAppend of n's append queue:
// persist, restore a snapshot into the state machine, then deliver the
// responses (those to n itself by stepping them, the others to the
// network).
func (s *Sim) processAppend(n *node) {
	if len(n.appendQ) == 0 {
		return
	}
	m := n.appendQ[0]
	n.appendQ = n.appendQ[1:]
	s.event(event{step: s.step, text: "append thread:", msg: m})
	var hs *pb.HardState
	if m.Term != 0 || m.Vote != 0 || m.Commit != 0 {
		hs = &pb.HardState{Term: m.Term, Vote: m.Vote, Commit: m.Commit}
	}
	s.persist(n, m.Snapshot, m.Entries, hs)
	if m.Snapshot != nil && !pb.IsEmptySnap(m.Snapshot) {
		s.restoreApp(n, m.Snapshot)
	}
	s.respond(n, m.Responses)
	s.crashIfHardStateLost(n)
}

// processApply does the first MsgStorageApply of n's apply queue.
func (s *Sim) processApply(n *node) {
	if len(n.applyQ) == 0 {
		return
	}
	m := n.applyQ[0]
	n.applyQ = n.applyQ[1:]
	s.logf("node %d apply thread: %s", n.id, describeEntries(m.Entries))
	for _, e := range m.Entries {
		s.apply(n, e)
	}
	s.respond(n, m.Responses)
}

func (s *Sim) respond(n *node, resps []*pb.Message) {
	for _, r := range resps {
		if !n.up() {
			return
		}
		if r.To != n.id {
			s.send(n, r)
			continue
		}
		if err := n.rn.Step(r); err != nil {
			s.failf(CheckNode, "node %d refused its own storage response %s: %v", n.id, pb.DescribeMessage(r, formatPayload), err)
		}
	}
}

// persist writes a snapshot, entries and a hard state to n's storage, in
// that order, and checks log matching on the entries that land.
func (s *Sim) persist(n *node, snap *pb.Snapshot, ents []*pb.Entry, hs *pb.HardState) {
	if snap != nil && !pb.IsEmptySnap(snap) {
		if err := n.storage.ApplySnapshot(snap); err != nil {
			s.failf(CheckNode, "node %d: saving snapshot %s: %v", n.id, pb.DescribeSnapshot(snap), err)
			return
		}
	}
	if len(ents) > 0 {
		if err := n.storage.Append(ents); err != nil {
			s.failf(CheckNode, "node %d: appending %s: %v", n.id, describeEntries(ents), err)
			return
		}
		s.checkLogMatching(n, ents)
	}
	if hs != nil {
		if s.opts.Bugs.DropHardState && !s.faultsOff && hs.Vote != 0 && s.rng.IntN(dropHardStateOneIn) == 0 {
			s.logf("BUG: node %d does not persist %s, and will crash once it handled this write", n.id, pb.DescribeHardState(hs))
			n.crashAfterWrite = true
			return
		}
		if err := n.storage.SetHardState(hs); err != nil {
			s.failf(CheckNode, "node %d: saving hard state: %v", n.id, err)
			return
		}
		s.noteCommitIndex(n, hs.Commit, hs.Term)
	}
}

// dropHardStateOneIn is how rarely the DropHardState bug strikes.
const dropHardStateOneIn = 2

// crashIfHardStateLost crashes n if the DropHardState bug struck in the
// write just done: the crash makes the lost write matter.
func (s *Sim) crashIfHardStateLost(n *node) {
	if n.crashAfterWrite && n.up() {
		s.crash(n, "after losing its hard state (BUG)")
	}
	n.crashAfterWrite = false
}

// restoreApp replaces n's state machine with a snapshot's.
func (s *Sim) restoreApp(n *node, snap *pb.Snapshot) {
	a, err := decodeApp(snap)
	if err != nil {
		s.failf(CheckNode, "node %d: restoring %s: %v", n.id, pb.DescribeSnapshot(snap), err)
		return
	}
	if a.applied <= n.app.applied {
		s.failf(CheckStateMachine, "node %d restores a snapshot at index %d, but it already applied %d: applying would go back",
			n.id, a.applied, n.app.applied)
		return
	}
	s.stats.Snapshots++
	s.logf("node %d restores snapshot %s", n.id, pb.DescribeSnapshot(snap))
	for i := n.app.applied + 1; i <= a.applied; i++ {
		s.checkApplied(n, i, a.log[i])
	}
	// Entries applied before are in the snapshot too: they must agree.
	for i := uint64(1); i <= n.app.applied; i++ {
		if a.log[i] != n.app.log[i] {
			s.failf(CheckStateMachine, "node %d restores a snapshot whose entry %d (%v) differs from the one it applied (%v)",
				n.id, i, a.log[i], n.app.log[i])
			return
		}
	}
	n.app = a
	n.restoredSnap = a.applied
	s.noteConf(a.applied, a.conf)
	s.checkReadsOnApply(n)
}

// apply applies one committed entry to n's state machine.
func (s *Sim) apply(n *node, e *pb.Entry) {
	a := &n.app
	if e.Index <= a.applied {
		if e.Index <= n.restoredSnap {
			// Queued for applying before a snapshot that covers it was
			// restored: the state already reflects it.
			return
		}
		s.failf(CheckStateMachine, "node %d is handed entry %s to apply, but it already applied up to %d: applied twice",
			n.id, pb.DescribeEntry(e, formatPayload), a.applied)
		return
	}
	if e.Index != a.applied+1 {
		s.failf(CheckStateMachine, "node %d is handed entry %s to apply after %d: a gap",
			n.id, pb.DescribeEntry(e, formatPayload), a.applied)
		return
	}
	ae := appEntry{term: e.Term, fp: fingerprint(e)}
	s.checkApplied(n, e.Index, ae)
	if e.Type == pb.EntryConfChange || e.Type == pb.EntryConfChangeV2 {
		cc, err := pb.UnmarshalConfChange(e)
		if err != nil {
			s.failf(CheckNode, "node %d: decoding %s: %v", n.id, pb.DescribeEntry(e, formatPayload), err)
			return
		}
		cs, err := n.rn.ApplyConfChange(cc)
		if err != nil {
			if !errors.Is(err, raft.ErrConfChangeRejected) {
				s.failf(CheckNode, "node %d: ApplyConfChange(%s): %v", n.id, pb.DescribeEntry(e, formatPayload), err)
				return
			}
			// Every node refuses the same entry; the configuration stays.
			s.logf("node %d refuses to apply %s: %v", n.id, pb.DescribeEntry(e, formatPayload), err)
		} else {
			a.conf = cs
		}
	}
	a.log = append(a.log, ae)
	a.applied = e.Index
	if e.Type != pb.EntryNormal {
		s.noteConf(e.Index, a.conf)
		// The leader sends its storage's latest snapshot to a follower
		// that needs one, and a follower refuses a snapshot whose
		// configuration does not include it. Snapshotting at every
		// configuration change keeps the snapshot a leader sends at
		// least as new as the configuration it sends it in.
		if _, err := n.storage.CreateSnapshot(a.applied, a.conf, a.encode()); err != nil {
			s.failf(CheckNode, "node %d: CreateSnapshot(%d) after a configuration change: %v", n.id, a.applied, err)
		}
	}
	s.checkReadsOnApply(n)
	if s.opts.Bugs.ApplyTwice && !s.faultsOff && s.rng.IntN(applyTwiceOneIn) == 0 {
		s.logf("BUG: node %d applies %s again", n.id, pb.DescribeEntry(e, formatPayload))
		s.apply(n, e)
	}
}

// applyTwiceOneIn is how rarely the ApplyTwice bug strikes.
const applyTwiceOneIn = 100

// readStates checks the answers to ReadIndex requests.
func (s *Sim) readStates(n *node, rss []raft.ReadState) {
	for _, rs := range rss {
		s.checkReadState(n, rs)
	}
}
