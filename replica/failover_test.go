package replica

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// A proposal on a leader cut off from the cluster cannot commit; once the
// majority elected a new leader and the old one hears of its entries, the
// proposal fails with ErrProposalLost, not by timeout, and is never applied.
func TestProposalLostOnLeaderChange(t *testing.T) {
	c := newCluster(t, 3, nil)
	ctx := ctxT(t)
	old := c.leader()
	c.propose(ctx, "before")
	c.net.Isolate(old.id)
	errc := make(chan error, 1)
	go func() {
		_, err := old.r.Propose(ctx, []byte("doomed"))
		errc <- err
	}()
	var rest []uint64
	for id := range c.nodes {
		if id != old.id {
			rest = append(rest, id)
		}
	}
	nl := c.leader(rest...)
	if nl.id == old.id {
		t.Fatal("the isolated node is still the agreed leader")
	}
	res, err := nl.r.Propose(ctx, []byte("after"))
	if err != nil {
		t.Fatal(err)
	}
	c.net.Heal()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrProposalLost) {
			t.Fatalf("the cut-off proposal returned %v, want ErrProposalLost", err)
		}
	case <-ctx.Done():
		t.Fatal("the cut-off proposal did not fail")
	}
	c.waitApplied(ctx, indexOf(res.(string)))
	for _, n := range c.nodes {
		if n.sm.has("doomed") {
			t.Errorf("node %d applied the lost proposal", n.id)
		}
	}
}

func testPartitionedReads(t *testing.T, mode ReadMode) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.ReadMode = mode })
	ctx := ctxT(t)
	old := c.leader()
	c.propose(ctx, "k1")
	// Reads on every node see k1.
	for _, n := range c.nodes {
		if _, err := n.r.ReadIndex(ctx); err != nil {
			t.Fatalf("node %d: %v", n.id, err)
		}
		if !n.sm.has("k1") {
			t.Fatalf("node %d: linearizable read does not see k1", n.id)
		}
	}
	c.net.Isolate(old.id)
	var rest []uint64
	for id := range c.nodes {
		if id != old.id {
			rest = append(rest, id)
		}
	}
	nl := c.leader(rest...)
	if _, err := nl.r.Propose(ctx, []byte("k2")); err != nil {
		t.Fatal(err)
	}
	// The majority serves linearizable reads, on the leader and on a
	// follower.
	for _, id := range rest {
		n := c.nodes[id]
		if _, err := n.r.ReadIndex(ctx); err != nil {
			t.Fatalf("node %d: %v", id, err)
		}
		if !n.sm.has("k2") {
			t.Fatalf("node %d: linearizable read does not see k2", id)
		}
	}
	// The old leader cannot: it would miss k2.
	rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := old.r.ReadIndex(rctx); err == nil {
		t.Fatalf("the cut-off old leader served a linearizable read (sees k2: %v)", old.sm.has("k2"))
	}
	// A stale read is served at once, and may miss k2.
	if _, err := old.r.Read(ctx, Stale); err != nil {
		t.Fatalf("stale read: %v", err)
	}
	c.net.Heal()
	if _, err := old.r.ReadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if !old.sm.has("k2") {
		t.Fatal("after healing, a linearizable read on the old leader misses k2")
	}
}

func TestLinearizableReadsUnderPartition(t *testing.T) { testPartitionedReads(t, ReadSafe) }
func TestLeaseReadsUnderPartition(t *testing.T)        { testPartitionedReads(t, ReadLeaseBased) }

func TestReadsAreBatched(t *testing.T) {
	c := newCluster(t, 3, nil)
	ctx := ctxT(t)
	l := c.leader()
	c.propose(ctx, "x")
	const readers = 64
	// Hold the leader's raft loop while the readers queue up, so that the
	// test does not depend on how the goroutines are scheduled: every read
	// is waiting when the loop next looks, and they must share a round.
	release := make(chan struct{})
	l.r.calls.push(func() { <-release })
	errc := make(chan error, readers)
	for range readers {
		go func() { _, err := l.r.ReadIndex(ctx); errc <- err }()
	}
	for {
		l.r.reads.mu.Lock()
		n := len(l.r.reads.queued)
		l.r.reads.mu.Unlock()
		if n == readers {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	for range readers {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	m := l.r.Metrics()
	// One round for the queued readers; the proposal before them may have
	// left none or one of its own.
	if m.Reads != readers || m.ReadRounds > 2 {
		t.Fatalf("%d reads took %d rounds; want them to share one", m.Reads, m.ReadRounds)
	}
	t.Logf("%d reads in %d rounds", m.Reads, m.ReadRounds)
}

// Every node is killed in turn (no Stop: what its log store saved is all
// that survives; with a wal, unsynced writes are lost as in a power
// failure) while writers keep writing; no acknowledged write is lost and
// no entry is applied twice, with an in-memory state machine (restored
// from the snapshot, entries after it applied again) and a durable one
// (its applied index says what not to apply again).
func TestCrashRestart(t *testing.T) {
	for _, tc := range []struct{ durable, wal bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		durable := tc.durable
		t.Run(fmt.Sprintf("durable=%v,wal=%v", tc.durable, tc.wal), func(t *testing.T) {
			c := newClusterOpts(t, 3, tc.wal, func(cfg *Config) { cfg.SnapshotEntries, cfg.CompactionTail = 30, 10 })
			for _, n := range c.nodes {
				n.sm.durable = durable
			}
			ctx := ctxT(t)
			var mu sync.Mutex
			var acked []string
			var nodes [4]*Replica // the live replicas, by ID, for the writers
			setNodes := func() {
				mu.Lock()
				defer mu.Unlock()
				for id := uint64(1); id <= 3; id++ {
					nodes[id] = c.nodes[id].r
				}
			}
			setNodes()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						mu.Lock()
						r := nodes[1+(i+w)%3]
						mu.Unlock()
						if r == nil || !r.IsLeader() {
							time.Sleep(100 * time.Microsecond)
							continue
						}
						key := fmt.Sprintf("w%d-%d", w, i) // a new key per attempt
						pctx, cancel := context.WithTimeout(ctx, time.Second)
						_, err := r.Propose(pctx, []byte(key))
						cancel()
						if err == nil {
							mu.Lock()
							acked = append(acked, key)
							mu.Unlock()
						}
					}
				}()
			}
			waitAcked := func(n int) {
				for {
					mu.Lock()
					k := len(acked)
					mu.Unlock()
					if k >= n {
						return
					}
					if ctx.Err() != nil {
						t.Fatalf("only %d writes acknowledged, want %d", k, n)
					}
					time.Sleep(time.Millisecond)
				}
			}
			target := 40
			waitAcked(target)
			for id := uint64(1); id <= 3; id++ {
				n := c.nodes[id]
				mu.Lock()
				nodes[id] = nil
				mu.Unlock()
				c.crash(n)
				n.sm.check(t)
				if !durable {
					n.sm = newSetSM()
				}
				target += 25
				waitAcked(target)
				c.start(id, nil, n)
				setNodes()
				target += 25
				waitAcked(target)
			}
			close(stop)
			wg.Wait()
			res := c.propose(ctx, "last")
			c.waitApplied(ctx, indexOf(res))
			for _, n := range c.nodes {
				for _, k := range acked {
					if !n.sm.has(k) {
						t.Fatalf("node %d lost acknowledged write %s", n.id, k)
					}
				}
				if m := n.r.Metrics(); m.SnapshotsTaken+m.SnapshotsInstalled == 0 {
					t.Errorf("node %d never took a snapshot", n.id)
				}
			}
			t.Logf("%d writes acknowledged", len(acked))
		})
	}
}
