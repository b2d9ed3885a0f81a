package sim

import (
	"errors"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/vfs/faultfs"
	"github.com/tickraft/raft/wal"
)

// WAL mode (Options.WAL): each node's disk is a wal.WAL on its own
// faultfs.FS. Every crash of a node is a power cut of its disk: the file
// system drops what was not synced and tears the writes in progress at a
// random byte or sector, and the restarted node recovers from what the wal
// finds. A crash that strikes before a Ready's write is durable (in
// synchronous mode) or while the append thread has work queued (in
// asynchronous mode) first starts that write, one Save, and cuts the power
// after a random number of file operations of it: the node restarts with
// the write whole or not at all, which Raft's safety must survive either
// way, and the checkers then see the entries and hard state that landed.

// diskStorage is what the simulator needs of a node's disk: the methods
// MemoryStorage and wal.WAL share.
type diskStorage interface {
	raft.Storage
	Append([]*pb.Entry) error
	SetHardState(*pb.HardState) error
	ApplySnapshot(*pb.Snapshot) error
	CreateSnapshot(i uint64, cs *pb.ConfState, data []byte) (*pb.Snapshot, error)
	Compact(i uint64) error
}

var (
	_ diskStorage = (*raft.MemoryStorage)(nil)
	_ diskStorage = (*wal.WAL)(nil)
)

// walDisk is a node's file system and the wal open on it.
type walDisk struct {
	fs *faultfs.FS
	w  *wal.WAL
	// torn is the write cut short by the last crash, if any, to learn
	// after recovery whether it landed.
	torn *tornSave
}

type tornSave struct {
	snap *pb.Snapshot
	ents []*pb.Entry
	hs   *pb.HardState
}

const walDir = "/disk"

// walOptions are small segments and a small entry cache, so runs roll,
// compact whole segments and read old entries back from the files. Segments
// are prepared inline: the order of file operations, hence the run, depends
// on the seed alone.
func walOptions(fs *faultfs.FS) wal.Options {
	return wal.Options{FS: fs, SegmentSize: 16 << 10, CacheBytes: 2 << 10, PreallocateInline: true}
}

// attachDisk gives a new node its wal in WAL mode.
func (s *Sim) attachDisk(n *node) {
	if !s.opts.WAL {
		return
	}
	fs := faultfs.New()
	w, err := wal.Open(walDir, walOptions(fs))
	if err != nil {
		s.failf(CheckNode, "node %d: creating its wal: %v", n.id, err)
		return
	}
	n.disk = &walDisk{fs: fs, w: w}
	n.storage = w
}

// tornWrite starts writing a Ready's snapshot, entries and hard state as
// one Save and lets the power fail after a random number of file
// operations; crashDisk, called next, cuts it.
func (s *Sim) tornWrite(n *node, snap *pb.Snapshot, ents []*pb.Entry, hs *pb.HardState) {
	d := n.disk
	if d == nil || s.failure != nil {
		return
	}
	if snap != nil && pb.IsEmptySnap(snap) {
		snap = nil
	}
	if snap == nil && len(ents) == 0 && hs == nil {
		return
	}
	if snap != nil && snap.GetMetadata().GetIndex() <= mustSnapIndex(d.w) {
		snap = nil // out of date: persist would not write it either
	}
	d.fs.CrashAfter(1 + s.rng.IntN(6))
	err := d.w.Save(wal.Update{Snapshot: snap, Entries: ents, HardState: hs, MustSync: true})
	if err != nil && !errors.Is(err, faultfs.ErrCrashed) {
		s.failf(CheckNode, "node %d: the wal refused a Ready's write: %v", n.id, err)
		return
	}
	d.torn = &tornSave{snap: snap, ents: ents, hs: hs}
	s.logf("node %d: power fails while writing %s", n.id, describeEntries(ents))
}

func mustSnapIndex(w *wal.WAL) uint64 {
	snap, err := w.Snapshot()
	if err != nil {
		return 0
	}
	return snap.GetMetadata().GetIndex()
}

// crashDisk cuts the power of a crashing node's disk and recovers its wal.
func (s *Sim) crashDisk(n *node) {
	d := n.disk
	if d == nil || s.failure != nil {
		return
	}
	if s.opts.AsyncStorageWrites && len(n.appendQ) > 0 && d.torn == nil && s.rng.IntN(2) == 0 {
		m := n.appendQ[0]
		var hs *pb.HardState
		if m.Term != 0 || m.Vote != 0 || m.Commit != 0 {
			hs = &pb.HardState{Term: m.Term, Vote: m.Vote, Commit: m.Commit}
		}
		s.tornWrite(n, m.Snapshot, m.Entries, hs)
		if s.failure != nil {
			return
		}
	}
	d.w.Close() // fails on a frozen file system: the power is already off
	sector := []int{1, 512, 4096}[s.rng.IntN(3)]
	d.fs.Crash(faultfs.RandomTear(s.rng.IntN, sector))
	w, err := wal.Open(walDir, walOptions(d.fs))
	if err != nil {
		s.failf(CheckNode, "node %d: recovering its wal after a power cut: %v", n.id, err)
		return
	}
	d.w, n.storage = w, w
	if t := d.torn; t != nil {
		d.torn = nil
		s.noteTornWrite(n, t)
	}
}

// noteTornWrite tells the checkers what of a torn write survived: its
// entries (log matching) and its hard state (commit index), as persist
// does for a whole write.
func (s *Sim) noteTornWrite(n *node, t *tornSave) {
	if len(t.ents) > 0 {
		last := t.ents[len(t.ents)-1]
		if term, err := n.storage.Term(last.Index); err == nil && term == last.Term {
			s.logf("node %d: the write of %s survived the power cut", n.id, describeEntries(t.ents))
			s.checkLogMatching(n, t.ents)
		}
	}
	if t.hs != nil {
		if hs, _, err := n.storage.InitialState(); err == nil && hs.Term == t.hs.Term && hs.Vote == t.hs.Vote && hs.Commit == t.hs.Commit {
			s.noteCommitIndex(n, t.hs.Commit, t.hs.Term)
		}
	}
}
