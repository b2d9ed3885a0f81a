package replica

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	raft "github.com/tickraft/raft"
	"github.com/tickraft/raft/progress"
	pb "github.com/tickraft/raft/raftpb"
)

// memberState is the address book: the address of every member, as
// carried by the configuration changes in the log (and the snapshots).
type memberState struct {
	mu    sync.Mutex
	addrs map[uint64]string
}

func (s *memberState) addr(id uint64) string {
	if id == 0 {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs[id]
}

func (s *memberState) snapshot() map[uint64]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := make(map[uint64]string, len(s.addrs))
	for id, a := range s.addrs {
		c[id] = a
	}
	return c
}

// apply records the addresses a configuration change carries and forgets
// the members no longer in cs. It returns what changed, for the transport.
func (s *memberState) apply(cc *pb.ConfChangeV2, added []Member, cs *pb.ConfState) (map[uint64]string, []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	add := map[uint64]string{}
	for _, m := range added {
		if s.addrs[m.ID] != m.Addr {
			add[m.ID] = m.Addr
		}
		s.addrs[m.ID] = m.Addr
	}
	var removed []uint64
	for id := range s.addrs {
		if !inConfState(cs, id) {
			removed = append(removed, id)
			delete(s.addrs, id)
		}
	}
	return add, removed
}

// applyEntry replays a configuration change entry's addresses (restart).
func (s *memberState) applyEntry(e *pb.Entry) error {
	cci, err := pb.UnmarshalConfChange(e)
	if err != nil {
		return err
	}
	cc := cci.AsV2()
	_, _, added, err := decodeContext(cc.Context)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range added {
		s.addrs[m.ID] = m.Addr
	}
	for _, c := range cc.Changes {
		if c.Type == pb.ConfChangeRemoveNode {
			delete(s.addrs, c.NodeId)
		}
	}
	return nil
}

// replace installs the addresses of a snapshot.
func (s *memberState) replace(addrs map[uint64]string) (map[uint64]string, []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var removed []uint64
	for id := range s.addrs {
		if _, ok := addrs[id]; !ok {
			removed = append(removed, id)
		}
	}
	add := map[uint64]string{}
	for id, a := range addrs {
		if s.addrs[id] != a {
			add[id] = a
		}
	}
	s.addrs = addrs
	return add, removed
}

func inConfState(cs *pb.ConfState, id uint64) bool {
	return slices.Contains(cs.Voters, id) || slices.Contains(cs.Learners, id) ||
		slices.Contains(cs.VotersOutgoing, id) || slices.Contains(cs.LearnersNext, id)
}

// confStateOf renders a tracker configuration as a ConfState.
func confStateOf(c progress.Config) *pb.ConfState {
	ids := func(m map[uint64]struct{}) []uint64 {
		var s []uint64
		for id := range m {
			s = append(s, id)
		}
		slices.Sort(s)
		return s
	}
	return &pb.ConfState{
		Voters:         ids(c.Voters[0]),
		VotersOutgoing: ids(c.Voters[1]),
		Learners:       ids(c.Learners),
		LearnersNext:   ids(c.LearnersNext),
		AutoLeave:      c.AutoLeave,
	}
}

// Membership returns the configuration this replica has applied, with the
// members' addresses.
type Membership struct {
	Voters, Learners []Member
	// Joint is set while a joint configuration is being left.
	Joint bool
}

// Membership returns the latest configuration this replica knows of (the
// raft loop's, which includes changes committed and applied).
func (r *Replica) Membership(ctx context.Context) (Membership, error) {
	var cfg progress.Config
	if err := r.call(ctx, func() { cfg = r.rn.Status().Config }); err != nil {
		return Membership{}, err
	}
	cs := confStateOf(cfg)
	addrs := r.members.snapshot()
	var m Membership
	voters := append(slices.Clone(cs.Voters), cs.VotersOutgoing...)
	slices.Sort(voters)
	for _, id := range slices.Compact(voters) {
		m.Voters = append(m.Voters, Member{ID: id, Addr: addrs[id]})
	}
	for _, id := range append(cs.Learners, cs.LearnersNext...) {
		m.Learners = append(m.Learners, Member{ID: id, Addr: addrs[id]})
	}
	m.Joint = len(cs.VotersOutgoing) > 0
	return m, nil
}

// proposeChange proposes a configuration change and waits until it is
// applied here; it returns the resulting configuration.
func (r *Replica) proposeChange(ctx context.Context, changes []*pb.ConfChangeSingle, added []Member) (*pb.ConfState, error) {
	if !r.IsLeader() {
		l := r.Leader()
		return nil, &NotLeaderError{LeaderID: l.ID, LeaderAddr: l.Addr}
	}
	pr := proposalPool.Get().(*proposal)
	pr.cc = &pb.ConfChangeV2{Changes: changes}
	if len(changes) > 1 {
		pr.cc.Transition = pb.ConfChangeTransitionAuto // joint, left automatically
	}
	for {
		// The context needs the sequence number, which await assigns: use
		// a placeholder filled in below.
		res, err := r.awaitChange(ctx, pr, added)
		if errors.Is(err, raft.ErrConfChangePending) {
			// The previous change's future completes as it is applied
			// here, a moment before raft counts it applied: try again.
			if err := sleepCtx(ctx, r.cfg.TickInterval); err != nil {
				return nil, err
			}
			pr = proposalPool.Get().(*proposal)
			pr.cc = &pb.ConfChangeV2{Changes: changes}
			if len(changes) > 1 {
				pr.cc.Transition = pb.ConfChangeTransitionAuto
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		cs, _ := res.(*pb.ConfState)
		return cs, nil
	}
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Replica) awaitChange(ctx context.Context, pr *proposal, added []Member) (any, error) {
	if r.stopping.Load() {
		return nil, r.stopErr()
	}
	r.pending.add(pr, func(pr *proposal) { pr.cc.Context = encodeContext(r.epoch, pr.seq, added) })
	r.props.push(pr)
	select {
	case <-pr.done:
		return pr.res, pr.err
	case <-ctx.Done():
		r.pending.take(pr.seq)
		return nil, ctx.Err()
	case <-r.stopc:
		r.pending.take(pr.seq)
		return nil, r.stopErr()
	}
}

// AddLearner adds a non-voting member at addr, or updates the address of
// a member. With waitCaughtUp it returns only once the learner's log is
// within Config.CatchUpLag entries of the leader's commit index.
func (r *Replica) AddLearner(ctx context.Context, id uint64, addr string, waitCaughtUp bool) error {
	if id == 0 {
		return fmt.Errorf("%w: node ID 0", ErrInvalidConfig)
	}
	m, err := r.Membership(ctx)
	if err != nil {
		return err
	}
	if !hasMember(m.Voters, id) && !hasMember(m.Learners, id) {
		cc := []*pb.ConfChangeSingle{{Type: pb.ConfChangeAddLearnerNode, NodeId: id}}
		if _, err := r.proposeChange(ctx, cc, []Member{{ID: id, Addr: addr}}); err != nil {
			return err
		}
	}
	if waitCaughtUp {
		return r.waitCaughtUp(ctx, id)
	}
	return nil
}

func hasMember(ms []Member, id uint64) bool {
	return slices.ContainsFunc(ms, func(m Member) bool { return m.ID == id })
}

// waitCaughtUp waits until the leader sees id within CatchUpLag of its
// commit index.
func (r *Replica) waitCaughtUp(ctx context.Context, id uint64) error {
	return r.WaitFor(ctx, func(m Metrics) bool {
		if m.Role != "leader" {
			return true // checked again by the change that needs it
		}
		p, ok := m.Peers[id]
		return ok && p.Match > 0 && p.Match+r.cfg.CatchUpLag >= m.Commit
	})
}

// ChangeMembership makes voters the cluster's voters. A new voter is first
// added as a learner (at its Addr), waited for until it caught up, then
// promoted; voters not listed are removed. When more than one voter
// changes the change goes through a joint configuration, which is left
// before ChangeMembership returns. Learners not listed stay learners.
func (r *Replica) ChangeMembership(ctx context.Context, voters ...Member) error {
	if len(voters) == 0 {
		return fmt.Errorf("%w: a configuration needs at least one voter", ErrInvalidConfig)
	}
	cur, err := r.Membership(ctx)
	if err != nil {
		return err
	}
	if cur.Joint {
		return fmt.Errorf("replica: a joint configuration is being left; try again")
	}
	var changes []*pb.ConfChangeSingle
	for _, v := range voters {
		if hasMember(cur.Voters, v.ID) {
			continue
		}
		if err := r.AddLearner(ctx, v.ID, v.Addr, true); err != nil {
			return err
		}
		changes = append(changes, &pb.ConfChangeSingle{Type: pb.ConfChangeAddNode, NodeId: v.ID})
	}
	for _, v := range cur.Voters {
		if !hasMember(voters, v.ID) {
			changes = append(changes, &pb.ConfChangeSingle{Type: pb.ConfChangeRemoveNode, NodeId: v.ID})
		}
	}
	if len(changes) == 0 {
		return nil
	}
	cs, err := r.proposeChange(ctx, changes, nil)
	if err != nil {
		return err
	}
	if len(cs.VotersOutgoing) == 0 {
		return nil
	}
	return r.WaitFor(ctx, func(m Metrics) bool { return !m.Joint || m.Err != nil })
}

// RemoveNode removes a voter or learner from the cluster.
func (r *Replica) RemoveNode(ctx context.Context, id uint64) error {
	_, err := r.proposeChange(ctx, []*pb.ConfChangeSingle{{Type: pb.ConfChangeRemoveNode, NodeId: id}}, nil)
	return err
}

// TransferLeadership hands leadership to voter to and waits until this
// replica sees it lead.
func (r *Replica) TransferLeadership(ctx context.Context, to uint64) error {
	if !r.IsLeader() {
		l := r.Leader()
		return &NotLeaderError{LeaderID: l.ID, LeaderAddr: l.Addr}
	}
	var err error
	if cerr := r.call(ctx, func() { err = r.rn.TransferLeader(to) }); cerr != nil {
		return cerr
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrTransferFailed, err)
	}
	err = r.WaitFor(ctx, func(m Metrics) bool {
		return m.Leader == to || (m.Leader == r.id && m.LeadTransferee == 0)
	})
	if err == nil && r.Leader().ID != to {
		return ErrTransferFailed
	}
	return err
}

// ErrTransferFailed means the leader gave up a leadership transfer (the
// target did not catch up and campaign within an election timeout).
var ErrTransferFailed = errors.New("replica: leadership transfer did not complete")
