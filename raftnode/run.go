package raftnode

import (
	"github.com/tickraft/raft"
)

// maxBatch bounds the queued requests the loop steps before it takes the
// next Ready, so a steady stream of input cannot hold a Ready back.
const maxBatch = 256

// loop is the state of the goroutine that owns the RawNode.
type loop struct {
	n  *node
	rn *raft.RawNode

	// rd is the Ready taken from RawNode and not yet received by the
	// application (offered while offered is true), or, while
	// awaitingAdvance, received and not yet advanced. RawNode has marked it
	// as handed out: it is delivered exactly once.
	rd              raft.Ready
	offered         bool
	awaitingAdvance bool

	// lead is the leader last logged, to log changes.
	lead uint64
}

// run is the node's goroutine: it serves the node's channels until Stop.
func (n *node) run() {
	l := &loop{n: n, rn: n.rn}
	for {
		if !l.offered && !l.awaitingAdvance {
			l.drain()
			if l.rn.HasReady() {
				l.rd, l.offered = l.rn.Ready(), true
			}
		}
		var readyc chan raft.Ready
		if l.offered {
			readyc = n.readyc
		}
		select {
		case p := <-l.proposals():
			l.propose(p)
		case s := <-n.recvc:
			s.res <- l.rn.Step(s.m)
		case c := <-n.callc:
			c.res <- c.fn(l.rn)
		case <-n.tickc:
			l.rn.Tick()
		case readyc <- l.rd:
			l.delivered()
		case res := <-n.advancec:
			res <- l.advance()
		case <-n.stopc:
			n.final = l.rn.Status()
			close(n.done)
			return
		}
	}
}

// proposals returns the channel to take proposals from: none while no
// leader is known (they wait, as in etcd raft), unless the node has failed
// and every proposal should learn so.
func (l *loop) proposals() chan proposal {
	st := l.rn.BasicStatus()
	if st.Lead != l.lead {
		l.logLeader(st)
	}
	if st.Lead == raft.None && st.Err == nil {
		return nil
	}
	return l.n.propc
}

func (l *loop) logLeader(st raft.BasicStatus) {
	switch {
	case st.Lead == raft.None:
		l.n.logger.Info("raftnode: lost the leader", "leader", l.lead, "term", st.Term)
	case l.lead == raft.None:
		l.n.logger.Info("raftnode: leader elected", "leader", st.Lead, "term", st.Term)
	default:
		l.n.logger.Info("raftnode: leader changed", "from", l.lead, "leader", st.Lead, "term", st.Term)
	}
	l.lead = st.Lead
}

func (l *loop) propose(p proposal) {
	if p.cc != nil {
		p.res <- l.rn.ProposeConfChange(p.cc)
		return
	}
	p.res <- l.rn.Propose(p.data)
}

// drain steps the proposals, messages and ticks already queued, without
// waiting, so that the next Ready carries their work together.
func (l *loop) drain() {
	n := l.n
	for range maxBatch {
		select {
		case p := <-l.proposals():
			l.propose(p)
		case s := <-n.recvc:
			s.res <- l.rn.Step(s.m)
		case <-n.tickc:
			l.rn.Tick()
		default:
			return
		}
	}
}

// delivered records that the application received the offered Ready.
func (l *loop) delivered() {
	l.offered = false
	if l.n.async {
		// The storage responses the application steps take Advance's place.
		l.rd = raft.Ready{}
		return
	}
	l.awaitingAdvance = true
}

// advance acknowledges the delivered Ready.
func (l *loop) advance() error {
	if !l.awaitingAdvance {
		return ErrNoReady
	}
	err := l.rn.Advance(l.rd)
	l.rd, l.awaitingAdvance = raft.Ready{}, false
	return err
}
