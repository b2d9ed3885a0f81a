package replica

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	raft "github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/transport"
)

// Replica is one member of a replicated state machine: it owns the raft
// loop, the log store's writes, the state machine's applies and the
// transport's traffic. Its methods are safe for concurrent use.
//
// Four goroutines do the work, connected by queues that batch whatever
// piled up while the receiver was busy: the raft loop (ticks, messages,
// proposals, Readys), the storage goroutine (saves, then releases the
// messages that wait for durability), the apply goroutine (state machine,
// futures, reads) and short-lived snapshot writers.
type Replica struct {
	cfg    Config
	id     uint64
	store  LogStore
	sm     StateMachine
	tr     transport.Transport
	snaps  SnapshotStore
	logger *slog.Logger
	epoch  uint64

	// rn is used by the raft loop only.
	rn *raft.RawNode

	// Inputs of the raft loop.
	msgs  *queue[*pb.Message]
	props *queue[*proposal]
	calls *queue[func()]
	// Inputs of the storage and apply goroutines.
	appendQ *queue[storageWork]
	applyQ  *queue[applyWork]

	// Published state, for callers on other goroutines.
	leader   atomic.Uint64
	role     atomic.Int32 // raft.StateType
	term     atomic.Uint64
	commit   atomic.Uint64
	applied  atomic.Uint64
	snapshot atomic.Uint64 // index of the latest snapshot taken or installed

	// apply belongs to the apply goroutine.
	apply   applyState
	pending pendingMap
	reads   readState
	members memberState
	stats   counters
	watch   watchers

	// stopping is set by Stop: no new proposals are taken.
	stopping atomic.Bool
	// stopc is closed when the replica stops (Stop, kill or failure); err
	// says why, once set.
	stopc chan struct{}
	// removedc is closed once a configuration without this replica is
	// applied after one with it (see Removed); removedOnce guards it.
	// member is whether the last configuration applied (or restored at
	// start) includes this replica; only the apply goroutine uses it after
	// start.
	removedc    chan struct{}
	removedOnce sync.Once
	member      bool
	stopOnce    sync.Once
	errMu       sync.Mutex
	err         error
	wg          sync.WaitGroup
}

// Start starts a replica on a log store, a state machine and a transport.
// On an empty store it founds a cluster if cfg.Bootstrap is set and
// otherwise waits to be added to one. On a store with state it restarts:
// the state machine is restored from the latest snapshot unless its own
// AppliedIndex is as recent, and only the entries after that are applied.
func Start(cfg Config, store LogStore, sm StateMachine, tr transport.Transport) (*Replica, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if store == nil || sm == nil || tr == nil {
		return nil, fmt.Errorf("%w: the log store, state machine and transport are required", ErrInvalidConfig)
	}
	r := &Replica{
		cfg: cfg, id: cfg.ID, store: store, sm: sm, tr: tr, snaps: cfg.Snapshots,
		logger:   cfg.Logger.With(slog.Uint64("replica", cfg.ID)),
		epoch:    rand.Uint64() | 1,
		msgs:     newQueue[*pb.Message](),
		props:    newQueue[*proposal](),
		calls:    newQueue[func()](),
		appendQ:  newQueue[storageWork](),
		applyQ:   newQueue[applyWork](),
		stopc:    make(chan struct{}),
		removedc: make(chan struct{}),
	}
	r.pending.init()
	r.reads.init()
	r.members.addrs = map[uint64]string{}
	applied, err := r.recover()
	if err != nil {
		return nil, err
	}
	rn, err := raft.NewRawNode(cfg.raftConfig(store, applied))
	if err != nil {
		return nil, err
	}
	r.rn = rn
	if r.isEmpty() {
		if len(cfg.Bootstrap) > 0 {
			if err := r.bootstrap(); err != nil {
				return nil, err
			}
		}
		for _, m := range cfg.Join {
			r.members.addrs[m.ID] = m.Addr
		}
	}
	st := rn.BasicStatus()
	r.term.Store(st.Term)
	r.commit.Store(st.Commit)
	r.applied.Store(applied)
	r.apply.appliedIndex = applied
	if applied > 0 {
		t, err := store.Term(applied)
		if err != nil {
			return nil, fmt.Errorf("replica: term of the applied index %d: %w", applied, err)
		}
		r.apply.appliedTerm, r.apply.sweptTerm = t, t
	}
	if r.apply.confState == nil {
		r.apply.confState = confStateOf(rn.Status().Config)
	}
	r.noteRemoval(confStateOf(rn.Status().Config))
	if err := tr.Start(r); err != nil {
		return nil, fmt.Errorf("replica: starting the transport: %w", err)
	}
	for id, addr := range r.members.snapshot() {
		if id != r.id {
			if err := tr.AddPeer(id, addr); err != nil {
				r.logger.Warn("replica could not add a peer to the transport", slog.Uint64("peer", id), slog.Any("error", err))
			}
		}
	}
	r.wg.Add(3)
	go r.runLoop()
	go r.runStorage()
	go r.runApply()
	r.logger.Info("replica started", slog.Uint64("applied", applied), slog.Uint64("term", st.Term), slog.Uint64("commit", st.Commit))
	return r, nil
}

func (r *Replica) isEmpty() bool {
	last, _ := r.store.LastIndex()
	hs, _, _ := r.store.InitialState()
	return last == 0 && hs.GetTerm() == 0
}

func (r *Replica) bootstrap() error {
	peers := make([]raft.Peer, len(r.cfg.Bootstrap))
	for i, m := range r.cfg.Bootstrap {
		peers[i] = raft.Peer{ID: m.ID, Context: encodeContext(0, 0, []Member{m})}
		r.members.addrs[m.ID] = m.Addr
	}
	return r.rn.Bootstrap(peers)
}

// recover restores the state machine and the member addresses from the
// log store, and returns the index applied so far.
func (r *Replica) recover() (uint64, error) {
	hs, _, err := r.store.InitialState()
	if err != nil {
		return 0, fmt.Errorf("replica: reading the log store: %w", err)
	}
	snap, err := r.store.Snapshot()
	if err != nil {
		return 0, fmt.Errorf("replica: reading the log store's snapshot: %w", err)
	}
	md := snap.GetMetadata()
	snapIndex := md.GetIndex()
	applied := r.sm.AppliedIndex()
	if snapIndex > 0 {
		addrs, err := decodeDescriptor(snap.Data)
		if err != nil {
			return 0, err
		}
		r.members.addrs = addrs
		r.apply.confState = md.GetConfState()
		r.snapshot.Store(snapIndex)
		r.apply.lastSnap = snapIndex
	}
	if snapIndex > applied {
		rc, _, err := r.snaps.Open(snapIndex, md.GetTerm())
		if err != nil {
			return 0, fmt.Errorf("replica: the log store's snapshot at %d: %w", snapIndex, err)
		}
		err = r.sm.Restore(rc, snapIndex)
		_ = rc.Close()
		if err != nil {
			return 0, fmt.Errorf("replica: restoring the state machine from the snapshot at %d: %w", snapIndex, err)
		}
		applied = snapIndex
	}
	if applied > hs.GetCommit() {
		// The state machine applied entries whose commit index was not yet
		// saved (saving a commit index alone is not synced). They were
		// committed, and they are in the log: apply only committed entries
		// that are stable locally.
		last, _ := r.store.LastIndex()
		if applied > last {
			return 0, fmt.Errorf("replica: the state machine has applied index %d beyond the log's last index %d: the log store lost entries", applied, last)
		}
		nhs := &pb.HardState{Term: hs.GetTerm(), Vote: hs.GetVote(), Commit: applied}
		if err := r.store.Save(Update{HardState: nhs, MustSync: true}); err != nil {
			return 0, err
		}
	}
	return applied, r.recoverAddrs(snapIndex, applied)
}

// recoverAddrs reads the addresses of configuration changes after the
// snapshot that the state machine applied before the restart (they are not
// handed out again).
func (r *Replica) recoverAddrs(snapIndex, applied uint64) error {
	for lo := snapIndex + 1; lo <= applied; {
		ents, err := r.store.Entries(lo, applied+1, 1<<20)
		if err != nil {
			return fmt.Errorf("replica: reading entries %d-%d: %w", lo, applied, err)
		}
		for _, e := range ents {
			if e.Type != pb.EntryNormal {
				if err := r.members.applyEntry(e); err != nil {
					return err
				}
			}
		}
		lo = ents[len(ents)-1].Index + 1
	}
	return nil
}

// ID returns the replica's node ID.
func (r *Replica) ID() uint64 { return r.id }

// Leader returns the leader this replica knows of (ID 0 if none).
func (r *Replica) Leader() Member {
	id := r.leader.Load()
	return Member{ID: id, Addr: r.members.addr(id)}
}

// IsLeader reports whether this replica is the leader.
func (r *Replica) IsLeader() bool { return raft.StateType(r.role.Load()) == raft.StateLeader }

// AppliedIndex returns the index of the last entry applied here.
func (r *Replica) AppliedIndex() uint64 { return r.applied.Load() }

// Err returns why the replica stopped (nil while running or after a clean
// Stop).
func (r *Replica) Err() error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.err
}

// Removed is closed once this replica, having been a member, applies a
// configuration without it: it was removed from the cluster (the removal
// is committed) and will take no further part, so the application should
// stop it, as an etcd member stops when it learns it was removed. A new
// node catching up through configurations older than its own addition does
// not count as removed. A replica restarted after its removal was applied
// does not close it (it cannot tell that from a node that never joined);
// the others ignore it.
func (r *Replica) Removed() <-chan struct{} { return r.removedc }

// noteRemoval tracks whether cs, the configuration just applied (or
// restored at start), includes this replica, and closes removedc when one
// that did is followed by one that names members without it.
func (r *Replica) noteRemoval(cs *pb.ConfState) {
	if cs == nil {
		return
	}
	removed := removedFrom(cs, r.id)
	wasMember := r.member
	r.member = !removed && !isEmptyConf(cs)
	if !removed || !wasMember {
		return
	}
	r.removedOnce.Do(func() {
		r.logger.Warn("replica applied a configuration without itself: it was removed from the cluster", slog.String("conf", pb.DescribeConfState(cs)))
		close(r.removedc)
	})
}

func isEmptyConf(cs *pb.ConfState) bool {
	return len(cs.GetVoters())+len(cs.GetLearners())+len(cs.GetVotersOutgoing())+len(cs.GetLearnersNext()) == 0
}

// removedFrom reports whether cs names members and id is not one of them,
// in either half of a joint configuration.
func removedFrom(cs *pb.ConfState, id uint64) bool {
	lists := [][]uint64{cs.GetVoters(), cs.GetLearners(), cs.GetVotersOutgoing(), cs.GetLearnersNext()}
	empty := true
	for _, l := range lists {
		if slices.Contains(l, id) {
			return false
		}
		empty = empty && len(l) == 0
	}
	return !empty
}

// Done is closed when the replica stops, by Stop or a failure.
func (r *Replica) Done() <-chan struct{} { return r.stopc }

// fail stops the replica because of err (a storage, state machine or raft
// failure): it never continues after one.
func (r *Replica) fail(err error) {
	r.errMu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.errMu.Unlock()
	r.logger.Error("replica failed; stopping", slog.Any("error", err))
	r.halt()
}

// halt closes stopc and fails what waits: the proposals pending (whose
// callers may not watch stopc) and the reads.
func (r *Replica) halt() {
	r.stopOnce.Do(func() {
		close(r.stopc)
		err := r.stopErr()
		r.pending.failAll(err)
		r.reads.failAll(err)
	})
}

func (r *Replica) stopErr() error {
	if err := r.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrStopped, err)
	}
	return ErrStopped
}

// Stop stops the replica: it takes no new proposals, waits (until ctx is
// done) for the proposals in flight to finish, then stops its goroutines,
// fails what is left with ErrStopped and closes the transport. It returns
// the failure that stopped the replica earlier, if any.
func (r *Replica) Stop(ctx context.Context) error {
	r.stopping.Store(true)
	for r.pending.len() > 0 {
		select {
		case <-ctx.Done():
		case <-r.stopc:
		case <-time.After(time.Millisecond):
			continue
		}
		break
	}
	r.halt()
	r.wg.Wait()
	r.pending.failAll(r.stopErr())
	r.reads.failAll(r.stopErr())
	_ = r.tr.Close()
	r.watch.notify()
	r.logger.Info("replica stopped")
	return r.Err()
}

// kill stops the replica as a crash would: nothing is drained or flushed
// beyond what the log store already saved. For tests.
func (r *Replica) kill() {
	r.halt()
	r.wg.Wait()
	r.pending.failAll(ErrStopped)
	r.reads.failAll(ErrStopped)
	_ = r.tr.Close()
}

// call runs f on the raft loop and waits for it.
func (r *Replica) call(ctx context.Context, f func()) error {
	done := make(chan struct{})
	r.calls.push(func() { f(); close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-r.stopc:
		return r.stopErr()
	}
}

var _ transport.Handler = (*Replica)(nil)

// HandleMessage implements transport.Handler.
func (r *Replica) HandleMessage(m *pb.Message) { r.msgs.push(m) }

// HandleSnapshot implements transport.Handler: the snapshot's data is
// stored, then its message is stepped.
func (r *Replica) HandleSnapshot(m *pb.Message, data io.Reader, size int64) error {
	md := m.GetSnapshot().GetMetadata()
	if m.Type != pb.MsgSnap || md == nil || md.Index == 0 {
		return fmt.Errorf("replica: HandleSnapshot given a %s without a snapshot", m.Type)
	}
	if err := r.snaps.Save(md.Index, md.Term, func(w io.Writer) error {
		n, err := io.Copy(w, data)
		if err == nil && n != size {
			err = fmt.Errorf("replica: snapshot stream has %d bytes, expected %d", n, size)
		}
		return err
	}); err != nil {
		return err
	}
	r.stats.snapshotsReceived.Add(1)
	r.msgs.push(m)
	return nil
}

// ReportUnreachable implements transport.Handler.
func (r *Replica) ReportUnreachable(id uint64) {
	r.calls.push(func() { _ = r.rn.ReportUnreachable(id) })
}

// ReportSnapshot implements transport.Handler.
func (r *Replica) ReportSnapshot(id uint64, err error) {
	status := raft.SnapshotFinish
	if err != nil {
		status = raft.SnapshotFailure
		r.logger.Warn("replica could not send a snapshot", slog.Uint64("peer", id), slog.Any("error", err))
	}
	r.calls.push(func() { _ = r.rn.ReportSnapshot(id, status) })
}
