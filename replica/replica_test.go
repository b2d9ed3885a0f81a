package replica

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestElectAndProposeFromManyGoroutines(t *testing.T) {
	c := newCluster(t, 3, nil)
	ctx := ctxT(t)
	l := c.leader()
	const workers, each = 16, 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	var maxIdx uint64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				key := fmt.Sprintf("w%d-%d", w, i)
				res, err := l.r.Propose(ctx, []byte(key))
				if err != nil {
					t.Errorf("propose %s: %v", key, err)
					return
				}
				s := res.(string)
				if !strings.HasPrefix(s, key+"@") {
					t.Errorf("propose %s got the result of another command: %s", key, s)
				}
				mu.Lock()
				maxIdx = max(maxIdx, indexOf(s))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	c.waitApplied(ctx, maxIdx)
	for _, n := range c.nodes {
		if got := n.sm.size(); got != workers*each {
			t.Errorf("node %d has %d keys, want %d", n.id, got, workers*each)
		}
	}
	m := l.r.Metrics()
	if m.Role != "leader" || m.ProposalsApplied < workers*each || len(m.Peers) != 3 {
		t.Errorf("leader metrics: role %s, applied proposals %d, peers %d", m.Role, m.ProposalsApplied, len(m.Peers))
	}
}

func TestNoElectionWithoutTicks(t *testing.T) {
	c := &cluster{t: t, nodes: map[uint64]*testNode{}}
	c.net, c.clock = newNet(), NewManualClock()
	t.Cleanup(c.close)
	for id := uint64(1); id <= 3; id++ {
		c.start(id, members(1, 2, 3), nil)
	}
	time.Sleep(20 * time.Millisecond)
	for _, n := range c.nodes {
		if l := n.r.Leader().ID; l != 0 {
			t.Fatalf("node %d sees leader %d without any tick", n.id, l)
		}
	}
	// An election timeout is at least ElectionTicks ticks: none before.
	for range 19 {
		c.clock.Tick()
	}
	for _, n := range c.nodes {
		if n.r.Metrics().Term > 1 {
			t.Fatalf("node %d campaigned before an election timeout", n.id)
		}
	}
	c.startTicking(time.Millisecond)
	c.leader()
}

func TestNotLeaderErrorNamesLeader(t *testing.T) {
	c := newCluster(t, 3, nil)
	l := c.leader()
	f := c.follower(l.id)
	_, err := f.r.Propose(ctxT(t), []byte("x"))
	var nl *NotLeaderError
	if !errors.As(err, &nl) {
		t.Fatalf("propose on a follower: %v, want a *NotLeaderError", err)
	}
	if nl.LeaderID != l.id || nl.LeaderAddr != addr(l.id) {
		t.Fatalf("not-leader error names %d at %q, want %d at %q", nl.LeaderID, nl.LeaderAddr, l.id, addr(l.id))
	}
}

func TestForwardingReturnsLeaderResultAndError(t *testing.T) {
	var c *cluster
	errFromLeader := errors.New("leader says no")
	c = newCluster(t, 3, func(cfg *Config) {
		cfg.Forward = func(ctx context.Context, leader Member, cmd []byte) (any, error) {
			if string(cmd) == "refuse" {
				return nil, errFromLeader
			}
			return c.nodes[leader.ID].r.ProposeLocal(ctx, cmd)
		}
	})
	ctx := ctxT(t)
	l := c.leader()
	f := c.follower(l.id)
	res, err := f.r.Propose(ctx, []byte("fwd"))
	if err != nil || !strings.HasPrefix(res.(string), "fwd@") {
		t.Fatalf("forwarded propose: %v, %v", res, err)
	}
	if _, err := f.r.Propose(ctx, []byte("refuse")); !errors.Is(err, errFromLeader) {
		t.Fatalf("forwarded propose returned %v, want the leader's error", err)
	}
	if m := f.r.Metrics(); m.ProposalsForwarded != 2 {
		t.Fatalf("forwarded %d proposals, want 2", m.ProposalsForwarded)
	}
}
