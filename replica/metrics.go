package replica

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	raft "github.com/tickraft/raft"
	"github.com/tickraft/raft/progress"
	"github.com/tickraft/raft/transport"
)

// counters are the replica's monotonic counts, updated by its goroutines.
type counters struct {
	proposals, proposalsApplied, proposalsFailed, proposalsForwarded atomic.Uint64
	proposalNanos, proposalsTimed                                    atomic.Uint64
	reads, readRounds                                                atomic.Uint64
	appliedEntries, applyBatches, applyNanos                         atomic.Uint64
	syncs, syncNanos                                                 atomic.Uint64
	snapshotsTaken, snapshotsSent, snapshotsReceived                 atomic.Uint64
	snapshotsInstalled, snapshotNanos                                atomic.Uint64
	messagesSent, leaderChanges                                      atomic.Uint64
}

// PeerMetrics is the leader's view of one peer's replication.
type PeerMetrics struct {
	Addr string
	// Match is the last index known to be in the peer's log; Lag is the
	// leader's commit index minus Match (0 when ahead).
	Match, Next, Lag uint64
	// State is the replication state (probe, replicate, snapshot).
	State   string
	Learner bool
}

// Metrics is a point-in-time view of a replica. Each field's comment gives
// the name a Prometheus exporter should use (the names are stable);
// "counter" fields only grow, "gauge" fields go up and down; durations are
// sums in seconds, to pair with their count for a rate of averages.
type Metrics struct {
	ID uint64
	// tickraft_replica_term (gauge)
	Term uint64
	// tickraft_replica_leader (gauge; 0: none)
	Leader uint64
	// tickraft_replica_lead_transferee (gauge): the node leadership is
	// being handed to, on the leader (0: none).
	LeadTransferee uint64
	// tickraft_replica_role{role} (gauge, 1 for the current role):
	// "leader", "follower", "candidate", "pre-candidate".
	Role string
	// tickraft_replica_commit_index, _applied_index, _snapshot_index,
	// _last_index (gauges)
	Commit, Applied, Snapshot, LastIndex uint64
	// tickraft_replica_voters, _learners (gauges); _joint (0/1)
	Voters, Learners []uint64
	Joint            bool
	// tickraft_replica_peer_match_index{peer}, _peer_lag{peer} (gauges),
	// on the leader only.
	Peers map[uint64]PeerMetrics

	// tickraft_replica_proposals_total, _proposals_applied_total,
	// _proposals_failed_total, _proposals_forwarded_total (counters)
	Proposals, ProposalsApplied, ProposalsFailed, ProposalsForwarded uint64
	// tickraft_replica_proposal_seconds_sum, _proposals_timed_total
	// (counters): from Propose to the result, for one proposal in 16 (the
	// clock is not read for every proposal); their ratio is the average.
	ProposalSeconds float64
	ProposalsTimed  uint64
	// tickraft_replica_reads_total, _read_rounds_total (counters)
	Reads, ReadRounds uint64
	// tickraft_replica_applied_entries_total, _apply_batches_total,
	// _apply_seconds_sum (counters)
	AppliedEntries, ApplyBatches uint64
	ApplySeconds                 float64
	// tickraft_replica_syncs_total, _sync_seconds_sum (counters): log
	// store saves that had to reach stable storage.
	Syncs       uint64
	SyncSeconds float64
	// tickraft_replica_snapshots_taken_total, _snapshots_sent_total,
	// _snapshots_received_total, _snapshots_installed_total,
	// _snapshot_seconds_sum (counters)
	SnapshotsTaken, SnapshotsSent, SnapshotsReceived, SnapshotsInstalled uint64
	SnapshotSeconds                                                      float64
	// tickraft_replica_messages_sent_total, _leader_changes_total
	// (counters); _dropped_messages_total: messages raft refused.
	MessagesSent, LeaderChanges, DroppedMessages uint64
	// Transport is the transport's own statistics (see package transport
	// for their names).
	Transport transport.Stats
	// Err is why the replica stopped (tickraft_replica_failed, 0/1).
	Err error
}

func seconds(nanos uint64) float64 { return time.Duration(nanos).Seconds() }

// Metrics returns the replica's metrics. After the replica stopped it
// returns what is known without the raft loop.
func (r *Replica) Metrics() Metrics {
	m := Metrics{
		ID: r.id, Term: r.term.Load(), Leader: r.leader.Load(),
		Role:   roleName(raft.StateType(r.role.Load())),
		Commit: r.commit.Load(), Applied: r.applied.Load(), Snapshot: r.snapshot.Load(),
		Err: r.Err(),
	}
	r.counters(&m)
	m.Transport = r.tr.Stats()
	_ = r.call(context.Background(), func() { r.loopMetrics(&m) })
	return m
}

func (r *Replica) counters(m *Metrics) {
	s := &r.stats
	m.Proposals, m.ProposalsApplied = s.proposals.Load(), s.proposalsApplied.Load()
	m.ProposalsFailed, m.ProposalsForwarded = s.proposalsFailed.Load(), s.proposalsForwarded.Load()
	m.ProposalSeconds, m.ProposalsTimed = seconds(s.proposalNanos.Load()), s.proposalsTimed.Load()
	m.Reads, m.ReadRounds = s.reads.Load(), s.readRounds.Load()
	m.AppliedEntries, m.ApplyBatches = s.appliedEntries.Load(), s.applyBatches.Load()
	m.ApplySeconds = seconds(s.applyNanos.Load())
	m.Syncs, m.SyncSeconds = s.syncs.Load(), seconds(s.syncNanos.Load())
	m.SnapshotsTaken, m.SnapshotsSent = s.snapshotsTaken.Load(), s.snapshotsSent.Load()
	m.SnapshotsReceived, m.SnapshotsInstalled = s.snapshotsReceived.Load(), s.snapshotsInstalled.Load()
	m.SnapshotSeconds = seconds(s.snapshotNanos.Load())
	m.MessagesSent, m.LeaderChanges = s.messagesSent.Load(), s.leaderChanges.Load()
}

// loopMetrics fills in what only the raft loop knows.
func (r *Replica) loopMetrics(m *Metrics) {
	st := r.rn.Status()
	m.Term, m.Leader, m.Role, m.Commit = st.Term, st.Lead, roleName(st.RaftState), st.Commit
	m.DroppedMessages, m.LeadTransferee = st.DroppedMessages, st.LeadTransferee
	cs := confStateOf(st.Config)
	m.Voters = append(cs.Voters, cs.VotersOutgoing...)
	m.Learners = append(cs.Learners, cs.LearnersNext...)
	m.Joint = len(cs.VotersOutgoing) > 0
	m.LastIndex, _ = r.store.LastIndex()
	if st.Progress == nil {
		return
	}
	m.Peers = make(map[uint64]PeerMetrics, len(st.Progress))
	for id, p := range st.Progress {
		pm := PeerMetrics{Addr: r.members.addr(id), Match: p.Match, Next: p.Next, State: stateName(p.State), Learner: p.IsLearner}
		if m.Commit > p.Match {
			pm.Lag = m.Commit - p.Match
		}
		m.Peers[id] = pm
	}
}

func stateName(s progress.StateType) string { return s.String() }

func roleName(s raft.StateType) string {
	switch s {
	case raft.StateLeader:
		return "leader"
	case raft.StateCandidate:
		return "candidate"
	case raft.StatePreCandidate:
		return "pre-candidate"
	}
	return "follower"
}

// watchers lets WaitFor sleep until something changes.
type watchers struct {
	// What the raft loop last notified about (raft loop only): it
	// notifies when one of them changed, or a tick passed.
	changed            bool
	term, commit, lead uint64

	n  atomic.Int32
	mu sync.Mutex
	ch chan struct{}
}

func (w *watchers) wait() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch == nil {
		w.ch = make(chan struct{})
	}
	return w.ch
}

// notify wakes the waiters; it costs an atomic load when there are none.
func (w *watchers) notify() {
	if w.n.Load() == 0 {
		return
	}
	w.mu.Lock()
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
	w.mu.Unlock()
}

// WaitFor waits until cond holds for the replica's metrics (checked after
// every change), ctx ends, or the replica stops.
func (r *Replica) WaitFor(ctx context.Context, cond func(Metrics) bool) error {
	r.watch.n.Add(1)
	defer r.watch.n.Add(-1)
	for {
		ch := r.watch.wait()
		if cond(r.Metrics()) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-r.stopc:
			if cond(r.Metrics()) {
				return nil
			}
			return r.stopErr()
		}
	}
}
