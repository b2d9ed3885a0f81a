package raftnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// ErrStopped is returned by a Node's methods once Stop was called.
var ErrStopped = errors.New("raftnode: stopped")

// ErrNoReady is returned by Advance when no Ready is waiting for it: none
// was received since the last Advance.
var ErrNoReady = errors.New("raftnode: Advance without a Ready to acknowledge")

// errNilContext is returned by the calls that take a context when given nil.
var errNilContext = errors.New("raftnode: nil context")

// tickBuffer is the number of ticks the node keeps while it is busy; ticks
// beyond it are dropped (and logged). Ticks are coarse (an election timeout
// is several of them), so losing a few to a stalled node does no harm.
const tickBuffer = 128

// Node is a raft node run by its own goroutine. Its methods are safe for
// concurrent use. See the package documentation for the loop that drives
// it and how its methods differ from etcd raft's.
type Node interface {
	// Tick advances the node's logical clock by one tick. It never blocks;
	// a tick the busy node cannot take is dropped and logged.
	Tick()
	// Campaign makes the node start an election (see raft.RawNode.Campaign
	// for when it is ignored).
	Campaign(ctx context.Context) error
	// Propose proposes data to be appended to the log. It waits while no
	// leader is known, and returns the node's verdict: nil when the
	// proposal was accepted (it may still be lost to a leader change: watch
	// the committed entries), raft.ErrProposalDropped and the like when not.
	// The node keeps data in its log: do not modify it afterwards.
	Propose(ctx context.Context, data []byte) error
	// ProposeConfChange proposes a configuration change (a *pb.ConfChange
	// or a *pb.ConfChangeV2). A change this node, as leader, refuses returns
	// an error wrapping raft.ErrConfChangeRejected.
	ProposeConfChange(ctx context.Context, cc pb.ConfChangeI) error
	// Step hands the node a message received from a peer or, in
	// AsyncStorageWrites mode, a response of the storage threads, and
	// returns RawNode's verdict on it. The node keeps m: do not modify it.
	Step(ctx context.Context, m *pb.Message) error
	// Ready returns the channel on which the node hands out its work. In
	// synchronous mode every Ready received must be acknowledged with
	// Advance before the next one comes. No committed entries of a Ready
	// may be applied before those of the previous one are.
	Ready() <-chan raft.Ready
	// Advance tells the node the last Ready was handled: persisted, sent
	// and applied. It is not used with AsyncStorageWrites.
	Advance() error
	// ApplyConfChange applies a committed configuration change and returns
	// the configuration to keep with the application's snapshots. Call it
	// when applying the change's entry.
	ApplyConfChange(cc pb.ConfChangeI) (*pb.ConfState, error)
	// TransferLeadership asks the leader to hand leadership to transferee.
	// lead is the leader the caller believes in; as in etcd raft the
	// request goes to whichever leader the node knows (a follower forwards
	// it), so lead only documents the caller's intent.
	TransferLeadership(ctx context.Context, lead, transferee uint64) error
	// ForgetLeader makes a follower forget its leader (see
	// raft.RawNode.ForgetLeader).
	ForgetLeader(ctx context.Context) error
	// ReadIndex requests a linearizable read: a later Ready carries a
	// ReadState with rctx as its RequestCtx. The request can still be lost
	// (a leader change): retry when no answer comes.
	ReadIndex(ctx context.Context, rctx []byte) error
	// Status returns the node's status; after Stop, the status it had when
	// it stopped.
	Status() raft.Status
	// ReportUnreachable tells the node that the last message to id could
	// not be delivered.
	ReportUnreachable(id uint64) error
	// ReportSnapshot tells the leader how sending a snapshot to id ended.
	// A failure must be reported, or the leader waits for the follower
	// forever.
	ReportSnapshot(id uint64, status raft.SnapshotStatus) error
	// Stop stops the node's goroutine and waits for it to end. Later calls
	// return ErrStopped; calling Stop again does nothing.
	Stop()
}

// StartNode starts a node of a brand-new cluster: it bootstraps the empty
// storage with peers (every founding member passes the same list) and runs
// the node. A node restarting, or joining an existing cluster, uses
// RestartNode instead.
func StartNode(cfg *raft.Config, peers []raft.Peer) (Node, error) {
	if len(peers) == 0 {
		return nil, fmt.Errorf("%w: StartNode needs peers; use RestartNode to restart or join", raft.ErrInvalidConfig)
	}
	rn, err := raft.NewRawNode(cfg)
	if err != nil {
		return nil, err
	}
	if err := rn.Bootstrap(peers); err != nil {
		return nil, err
	}
	return start(cfg, rn), nil
}

// RestartNode runs a node from the state in cfg.Storage: its hard state,
// configuration and log. Set cfg.Applied to the index the application's
// state machine has applied, so earlier entries are not handed out again.
// A node joining an existing cluster starts this way on empty storage and
// learns the configuration from the leader.
func RestartNode(cfg *raft.Config) (Node, error) {
	rn, err := raft.NewRawNode(cfg)
	if err != nil {
		return nil, err
	}
	return start(cfg, rn), nil
}

func start(cfg *raft.Config, rn *raft.RawNode) *node {
	n := newNode(cfg, rn)
	go n.run()
	return n
}

// node implements Node. Its channels are the only way to its RawNode,
// which belongs to the goroutine in run.
type node struct {
	async  bool
	logger *slog.Logger

	// rn is used only by run (and by tests before run starts).
	rn *raft.RawNode

	propc    chan proposal
	recvc    chan stepRequest
	callc    chan call
	advancec chan chan error
	tickc    chan struct{}
	readyc   chan raft.Ready
	stopc    chan struct{}
	// done is closed by run when it returns; final is written before.
	done  chan struct{}
	final raft.Status
}

func newNode(cfg *raft.Config, rn *raft.RawNode) *node {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &node{
		async:    cfg.AsyncStorageWrites,
		logger:   logger.With("raft_id", cfg.ID),
		rn:       rn,
		propc:    make(chan proposal),
		recvc:    make(chan stepRequest),
		callc:    make(chan call),
		advancec: make(chan chan error),
		tickc:    make(chan struct{}, tickBuffer),
		readyc:   make(chan raft.Ready),
		stopc:    make(chan struct{}),
		done:     make(chan struct{}),
	}
}

// proposal is a Propose or ProposeConfChange on its way to the loop.
type proposal struct {
	data []byte
	cc   pb.ConfChangeI // nil for a normal proposal
	res  chan error
}

// stepRequest is a message on its way to RawNode.Step.
type stepRequest struct {
	m   *pb.Message
	res chan error
}

// call is any other request: fn runs on the loop, with the RawNode.
type call struct {
	fn  func(*raft.RawNode) error
	res chan error
}

// resultChans recycles the channels results come back on. A channel goes
// back only once its result was received, so it is empty when reused.
var resultChans = sync.Pool{New: func() any { return make(chan error, 1) }}

func newResult() chan error { return resultChans.Get().(chan error) }

// roundTrip sends req to the loop on ch and waits for its result on res.
// A result the loop already produced wins over a context that ended or a
// node that stopped in the meantime: the caller learns what happened.
func roundTrip[T any](ctx context.Context, n *node, ch chan<- T, req T, res chan error) error {
	if ctx == nil {
		return errNilContext
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case ch <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrStopped
	}
	select {
	case err := <-res:
		resultChans.Put(res)
		return err
	case <-ctx.Done():
		return resultOr(res, ctx.Err())
	case <-n.done:
		return resultOr(res, ErrStopped)
	}
}

// resultOr returns the result waiting on res, or err when there is none.
func resultOr(res chan error, err error) error {
	select {
	case rerr := <-res:
		resultChans.Put(res)
		return rerr
	default:
		return err
	}
}

// do runs fn on the loop and returns its error.
func (n *node) do(ctx context.Context, fn func(*raft.RawNode) error) error {
	res := newResult()
	return roundTrip(ctx, n, n.callc, call{fn: fn, res: res}, res)
}

func (n *node) Tick() {
	select {
	case n.tickc <- struct{}{}:
	case <-n.done:
	default:
		n.logger.Warn("raftnode: a tick was dropped; the node was blocked for too long", "buffered_ticks", tickBuffer)
	}
}

func (n *node) Campaign(ctx context.Context) error {
	return n.do(ctx, (*raft.RawNode).Campaign)
}

func (n *node) Propose(ctx context.Context, data []byte) error {
	res := newResult()
	return roundTrip(ctx, n, n.propc, proposal{data: data, res: res}, res)
}

func (n *node) ProposeConfChange(ctx context.Context, cc pb.ConfChangeI) error {
	if cc == nil {
		return fmt.Errorf("%w: nil configuration change", raft.ErrConfChangeRejected)
	}
	res := newResult()
	return roundTrip(ctx, n, n.propc, proposal{cc: cc, res: res}, res)
}

func (n *node) Step(ctx context.Context, m *pb.Message) error {
	res := newResult()
	return roundTrip(ctx, n, n.recvc, stepRequest{m: m, res: res}, res)
}

func (n *node) Ready() <-chan raft.Ready { return n.readyc }

func (n *node) Advance() error {
	if n.async {
		return raft.ErrAsyncAdvance
	}
	res := newResult()
	return roundTrip(context.Background(), n, n.advancec, res, res)
}

func (n *node) ApplyConfChange(cc pb.ConfChangeI) (*pb.ConfState, error) {
	var cs *pb.ConfState
	err := n.do(context.Background(), func(rn *raft.RawNode) error {
		var err error
		cs, err = rn.ApplyConfChange(cc)
		return err
	})
	return cs, err
}

func (n *node) TransferLeadership(ctx context.Context, _, transferee uint64) error {
	return n.do(ctx, func(rn *raft.RawNode) error { return rn.TransferLeader(transferee) })
}

func (n *node) ForgetLeader(ctx context.Context) error {
	return n.do(ctx, (*raft.RawNode).ForgetLeader)
}

func (n *node) ReadIndex(ctx context.Context, rctx []byte) error {
	return n.do(ctx, func(rn *raft.RawNode) error { return rn.ReadIndex(rctx) })
}

func (n *node) Status() raft.Status {
	var st raft.Status
	if err := n.do(context.Background(), func(rn *raft.RawNode) error {
		st = rn.Status()
		return nil
	}); err != nil {
		// Stopped: run wrote final before closing done.
		return n.final
	}
	return st
}

func (n *node) ReportUnreachable(id uint64) error {
	return n.do(context.Background(), func(rn *raft.RawNode) error { return rn.ReportUnreachable(id) })
}

func (n *node) ReportSnapshot(id uint64, status raft.SnapshotStatus) error {
	return n.do(context.Background(), func(rn *raft.RawNode) error { return rn.ReportSnapshot(id, status) })
}

func (n *node) Stop() {
	select {
	case n.stopc <- struct{}{}:
	case <-n.done:
		return
	}
	<-n.done
}
