package replica

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	raft "github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// proposal is one caller's command (or configuration change) on its way
// through the log. Whoever removes it from the pending map completes it, so
// it completes exactly once.
type proposal struct {
	seq  uint64
	data []byte           // the entry's data: header and command
	cc   *pb.ConfChangeV2 // set for a configuration change
	// term is the term the entry was appended in (set by the raft loop).
	// An entry of a later term applied before it means it was lost.
	term  atomic.Uint64
	start time.Time

	res  any
	err  error
	done chan struct{} // one token when completed
}

// latencySampling is how many proposals there are per timed one.
const latencySampling = 16

var proposalPool = sync.Pool{New: func() any { return &proposal{done: make(chan struct{}, 1)} }}

// pendingMap holds the proposals made on this replica that have not
// completed, by sequence number, in shards so that hundreds of proposers
// and the apply goroutine rarely wait for one another.
type pendingMap struct {
	seq    atomic.Uint64
	shards [pendingShards]pendingShard
}

const pendingShards = 16

type pendingShard struct {
	mu sync.Mutex
	m  map[uint64]*proposal
	_  [40]byte // keeps shards on separate cache lines
}

func (p *pendingMap) init() {
	for i := range p.shards {
		p.shards[i].m = map[uint64]*proposal{}
	}
}

func (p *pendingMap) shard(seq uint64) *pendingShard { return &p.shards[seq%pendingShards] }

// add gives pr its sequence number and registers it; prepare, when set,
// runs before pr becomes visible (to encode the number into pr).
func (p *pendingMap) add(pr *proposal, prepare func(*proposal)) {
	pr.seq = p.seq.Add(1)
	if prepare != nil {
		prepare(pr)
	}
	sh := p.shard(pr.seq)
	sh.mu.Lock()
	sh.m[pr.seq] = pr
	sh.mu.Unlock()
}

func (p *pendingMap) len() int {
	n := 0
	for i := range p.shards {
		sh := &p.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// take removes and returns the proposal seq, if still pending.
func (p *pendingMap) take(seq uint64) *proposal {
	sh := p.shard(seq)
	sh.mu.Lock()
	pr := sh.m[seq]
	delete(sh.m, seq)
	sh.mu.Unlock()
	return pr
}

// removeIf removes and returns the proposals for which drop is true.
func (p *pendingMap) removeIf(drop func(*proposal) bool) []*proposal {
	var out []*proposal
	for i := range p.shards {
		sh := &p.shards[i]
		sh.mu.Lock()
		for seq, pr := range sh.m {
			if drop(pr) {
				out = append(out, pr)
				delete(sh.m, seq)
			}
		}
		sh.mu.Unlock()
	}
	return out
}

func (p *pendingMap) failAll(err error) {
	for _, pr := range p.removeIf(func(*proposal) bool { return true }) {
		pr.complete(nil, err)
	}
}

// failOlderThan fails the proposals appended in a term before term: an
// entry of term was applied, so theirs, never applied, can no longer be
// (a log holding an entry of a later term holds none of an earlier term
// after it).
func (p *pendingMap) failOlderThan(term uint64) int {
	lost := p.removeIf(func(pr *proposal) bool {
		t := pr.term.Load()
		return t != 0 && t < term
	})
	for _, pr := range lost {
		pr.complete(nil, ErrProposalLost)
	}
	return len(lost)
}

func (pr *proposal) reset() {
	pr.seq, pr.data, pr.cc, pr.res, pr.err, pr.start = 0, nil, nil, nil, nil, time.Time{}
	pr.term.Store(0)
}

func (pr *proposal) complete(res any, err error) {
	pr.res, pr.err = res, err
	pr.done <- struct{}{}
}

// Propose replicates cmd and returns the state machine's result once the
// command is applied on this replica. On a follower it forwards the
// command with Config.Forward, or returns a *NotLeaderError naming the
// leader. It fails as soon as the outcome is known: ErrProposalLost when
// another term's entry took the command's place in the log,
// ErrProposalDropped when raft refused it, ErrStopped when the replica
// stops. If ctx ends first it returns ctx.Err() and the command may still
// be applied.
func (r *Replica) Propose(ctx context.Context, cmd []byte) (any, error) {
	return r.propose(ctx, cmd, r.cfg.Forward != nil)
}

// ProposeLocal is Propose without forwarding: on a follower it returns a
// *NotLeaderError. A leader serving commands forwarded by its followers
// (Config.Forward) uses it, so that two replicas with stale views of the
// leadership cannot pass a command back and forth.
func (r *Replica) ProposeLocal(ctx context.Context, cmd []byte) (any, error) {
	return r.propose(ctx, cmd, false)
}

func (r *Replica) propose(ctx context.Context, cmd []byte, forward bool) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // nothing proposed
	}
	if !r.IsLeader() {
		return r.notLeader(ctx, cmd, forward)
	}
	pr := proposalPool.Get().(*proposal)
	data := make([]byte, headerSize+len(cmd))
	copy(data[headerSize:], cmd)
	pr.data = data
	res, err := r.await(ctx, pr)
	var nl *NotLeaderError
	if errors.As(err, &nl) && forward && nl.LeaderID != 0 {
		// Leadership moved between the check above and the raft loop.
		return r.cfg.Forward(ctx, Member{ID: nl.LeaderID, Addr: nl.LeaderAddr}, cmd)
	}
	return res, err
}

// prepare writes pr's sequence number into its entry before pr is
// registered.
func (r *Replica) prepare(pr *proposal) {
	if pr.seq%latencySampling == 0 {
		// Reading the clock costs as much as a good part of a put: time
		// one proposal in latencySampling.
		pr.start = time.Now()
	}
	if pr.cc == nil {
		putHeader(pr.data, r.epoch, pr.seq)
	}
}

// await registers pr, hands it to the raft loop and waits for its outcome.
func (r *Replica) await(ctx context.Context, pr *proposal) (any, error) {
	if r.stopping.Load() {
		proposalPool.Put(pr)
		return nil, r.stopErr()
	}
	r.pending.add(pr, r.prepare)
	// halt fails every proposal pending when the replica stops; one
	// registered after that sees stopc closed here.
	select {
	case <-r.stopc:
		if r.pending.take(pr.seq) != nil {
			return nil, r.stopErr()
		}
		return r.outcome(pr)
	default:
	}
	r.props.push(pr)
	done := ctx.Done()
	if done == nil {
		// No deadline: a plain receive, cheaper than a select.
		return r.outcome(pr)
	}
	select {
	case <-pr.done:
		return r.result(pr)
	case <-done:
		if r.pending.take(pr.seq) == nil {
			return r.outcome(pr) // completed meanwhile
		}
		return nil, ctx.Err() // pr is dropped, not reused: nothing refers to it
	}
}

// outcome waits for pr to complete and returns its result.
func (r *Replica) outcome(pr *proposal) (any, error) {
	<-pr.done
	return r.result(pr)
}

// result returns the outcome of a completed pr and recycles it, unless
// the replica's stop failed it: then the raft loop may not have taken it
// from its queue yet, and pr is left to the garbage collector.
func (r *Replica) result(pr *proposal) (any, error) {
	res, err := pr.res, pr.err
	if err != nil && errors.Is(err, ErrStopped) {
		return res, err
	}
	pr.reset()
	proposalPool.Put(pr)
	return res, err
}

func (r *Replica) notLeader(ctx context.Context, cmd []byte, forward bool) (any, error) {
	leader := r.Leader()
	if forward && leader.ID != 0 {
		r.stats.proposalsForwarded.Add(1)
		return r.cfg.Forward(ctx, leader, cmd)
	}
	return nil, &NotLeaderError{LeaderID: leader.ID, LeaderAddr: leader.Addr}
}

// proposeAll steps a batch of proposals on the raft loop.
func (r *Replica) proposeAll(props []*proposal) {
	st := r.rn.BasicStatus()
	for _, pr := range props {
		if st.RaftState != raft.StateLeader {
			r.finish(pr, nil, &NotLeaderError{LeaderID: st.Lead, LeaderAddr: r.members.addr(st.Lead)})
			continue
		}
		pr.term.Store(st.Term)
		var err error
		if pr.cc != nil {
			err = r.rn.ProposeConfChange(pr.cc)
		} else {
			err = r.rn.Propose(pr.data)
		}
		if err != nil {
			if errors.Is(err, raft.ErrProposalDropped) {
				err = fmt.Errorf("%w: %w", ErrProposalDropped, err)
			}
			r.finish(pr, nil, err)
			continue
		}
		r.stats.proposals.Add(1)
	}
}

// finish completes pr if it is still pending (its caller may have given up).
func (r *Replica) finish(pr *proposal, res any, err error) {
	if r.pending.take(pr.seq) != nil {
		if err != nil {
			r.stats.proposalsFailed.Add(1)
		}
		pr.complete(res, err)
	}
}
