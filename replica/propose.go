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

var proposalPool = sync.Pool{New: func() any { return &proposal{done: make(chan struct{}, 1)} }}

// pendingMap holds the proposals made on this replica that have not
// completed, by sequence number.
type pendingMap struct {
	mu  sync.Mutex
	seq uint64
	m   map[uint64]*proposal
}

func (p *pendingMap) add(pr *proposal) {
	p.mu.Lock()
	p.seq++
	pr.seq = p.seq
	p.m[pr.seq] = pr
	p.mu.Unlock()
}

func (p *pendingMap) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// take removes and returns the proposal seq, if still pending.
func (p *pendingMap) take(seq uint64) *proposal {
	p.mu.Lock()
	pr := p.m[seq]
	delete(p.m, seq)
	p.mu.Unlock()
	return pr
}

func (p *pendingMap) failAll(err error) {
	p.mu.Lock()
	m := p.m
	p.m = map[uint64]*proposal{}
	p.mu.Unlock()
	for _, pr := range m {
		pr.complete(nil, err)
	}
}

// failOlderThan fails the proposals appended in a term before term: an
// entry of term was applied, so theirs, never applied, can no longer be
// (a log holding an entry of a later term holds none of an earlier term
// after it).
func (p *pendingMap) failOlderThan(term uint64) int {
	var lost []*proposal
	p.mu.Lock()
	for seq, pr := range p.m {
		if t := pr.term.Load(); t != 0 && t < term {
			lost = append(lost, pr)
			delete(p.m, seq)
		}
	}
	p.mu.Unlock()
	for _, pr := range lost {
		pr.complete(nil, ErrProposalLost)
	}
	return len(lost)
}

func (pr *proposal) reset() {
	pr.seq, pr.data, pr.cc, pr.res, pr.err = 0, nil, nil, nil, nil
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
	if !r.IsLeader() {
		return r.notLeader(ctx, cmd)
	}
	pr := proposalPool.Get().(*proposal)
	data := make([]byte, headerSize+len(cmd))
	copy(data[headerSize:], cmd)
	pr.data = data
	res, err := r.await(ctx, pr)
	var nl *NotLeaderError
	if errors.As(err, &nl) && r.cfg.Forward != nil && nl.LeaderID != 0 {
		// Leadership moved between the check above and the raft loop.
		return r.cfg.Forward(ctx, Member{ID: nl.LeaderID, Addr: nl.LeaderAddr}, cmd)
	}
	return res, err
}

// await registers pr, hands it to the raft loop and waits for its outcome.
func (r *Replica) await(ctx context.Context, pr *proposal) (any, error) {
	if r.stopping.Load() {
		proposalPool.Put(pr)
		return nil, r.stopErr()
	}
	pr.start = time.Now()
	r.pending.add(pr)
	if pr.cc == nil {
		putHeader(pr.data, r.epoch, pr.seq)
	}
	r.props.push(pr)
	select {
	case <-pr.done:
		res, err := pr.res, pr.err
		pr.reset()
		proposalPool.Put(pr)
		return res, err
	case <-ctx.Done():
		if r.pending.take(pr.seq) == nil {
			// Completed meanwhile: take the outcome.
			<-pr.done
			res, err := pr.res, pr.err
			pr.reset()
			proposalPool.Put(pr)
			return res, err
		}
		return nil, ctx.Err() // pr is dropped, not reused: nothing refers to it
	case <-r.stopc:
		if r.pending.take(pr.seq) == nil {
			<-pr.done
			return pr.res, pr.err
		}
		return nil, r.stopErr()
	}
}

func (r *Replica) notLeader(ctx context.Context, cmd []byte) (any, error) {
	leader := r.Leader()
	if r.cfg.Forward != nil && leader.ID != 0 {
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
