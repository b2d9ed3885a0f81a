package driver

import (
	"errors"
	"fmt"
)

// Single is a one-voter node driven inline, with no goroutine, no ticker
// and no queue: Put proposes, then handles Readies until its entry is
// applied. It measures the library's own cost per proposal, without the
// cluster's scheduling and message passing.
type Single struct {
	replica
	// last is the ID of the last put applied.
	last uint64
	seq  uint64
}

// NewSingle creates a one-voter node of impl, makes it campaign, and
// handles its Readies until it leads.
func NewSingle(impl Impl, compactEvery uint64) (*Single, error) {
	rn, err := impl.NewNode(Config{
		ID:              1,
		Peers:           []uint64{1},
		ElectionTick:    ElectionTick,
		HeartbeatTick:   HeartbeatTick,
		MaxSizePerMsg:   MaxSizePerMsg,
		MaxInflightMsgs: MaxInflightMsgs,
		Seed:            1,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", impl.Name(), err)
	}
	s := &Single{replica: newReplica(rn, 1, compactEvery)}
	s.send = func(msgs []Message) {}
	s.done = func(id uint64) { s.last = id }
	// Apply the bootstrap configuration before campaigning (etcd raft
	// ignores a campaign while configuration changes are unapplied).
	if err := s.drain(); err != nil {
		return nil, err
	}
	if err := rn.Campaign(); err != nil {
		return nil, fmt.Errorf("%s: campaign: %w", impl.Name(), err)
	}
	if err := s.drain(); err != nil {
		return nil, err
	}
	if !s.leader {
		return nil, fmt.Errorf("%s: single node did not become leader", impl.Name())
	}
	return s, nil
}

func (s *Single) drain() error {
	for s.rn.HasReady() {
		if err := s.handleReady(); err != nil {
			return err
		}
	}
	return nil
}

// Put proposes a put and handles Readies until it is applied.
func (s *Single) Put(key, value []byte) error {
	s.seq++
	id := requestID(0, s.seq)
	if err := s.rn.Propose(EncodePut(id, key, value)); err != nil {
		return err
	}
	for s.last != id {
		if !s.rn.HasReady() {
			return errors.New("driver: proposal not applied and the node has nothing to do")
		}
		if err := s.handleReady(); err != nil {
			return err
		}
	}
	return nil
}

// Applied returns the index the node has applied.
func (s *Single) Applied() uint64 { return s.applied }

// Compactions returns the number of log compactions so far.
func (s *Single) Compactions() uint64 { return s.compactions.Load() }

// KV returns the node's key-value map.
func (s *Single) KV() map[string]string { return s.kv }

// FirstIndex returns the first index in the node's log storage.
func (s *Single) FirstIndex() uint64 { return s.rn.FirstIndex() }
