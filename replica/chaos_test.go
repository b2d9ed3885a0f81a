package replica

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tickraft/raft/transport"
)

// Five replicas on a network that drops, duplicates, reorders and delays
// messages, with partitions and crashes of random nodes, while writers
// write and readers read: every acknowledged write is on every replica at
// the end, no entry is applied twice, every replica holds the same keys,
// and every linearizable read saw every write acknowledged before it began.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos")
	}
	for _, mode := range []ReadMode{ReadSafe, ReadLeaseBased} {
		t.Run(fmt.Sprintf("readmode=%d", mode), func(t *testing.T) { testChaos(t, mode) })
	}
}

func testChaos(t *testing.T, mode ReadMode) {
	c := newCluster(t, 5, func(cfg *Config) { cfg.SnapshotEntries, cfg.CompactionTail, cfg.ReadMode = 50, 20, mode })
	c.net.SetFaults(transport.Faults{Drop: 0.02, Duplicate: 0.02, Reorder: 0.05, Jitter: time.Millisecond})
	ctx := ctxT(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	var mu sync.Mutex
	var acked []string
	live := map[uint64]*Replica{}
	tnodes := map[uint64]*testNode{} // c.nodes is written by restarts
	for id, n := range c.nodes {
		live[id], tnodes[id] = n.r, n
	}
	pick := func(i int) *Replica {
		mu.Lock()
		defer mu.Unlock()
		for id := uint64(1); id <= 5; id++ {
			if r := live[1+(id+uint64(i))%5]; r != nil && r.IsLeader() {
				return r
			}
		}
		return nil
	}
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
				r := pick(i + w)
				if r == nil {
					time.Sleep(time.Millisecond)
					continue
				}
				key := fmt.Sprintf("w%d-%d", w, i)
				pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
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
	// A reader: a linearizable read begun after a write was acknowledged
	// must see it.
	wg.Add(1)
	readErrs := make(chan string, 10)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			var must string
			if len(acked) > 0 {
				must = acked[len(acked)-1]
			}
			id := uint64(1 + i%5)
			r, sm := live[id], tnodes[id].sm
			mu.Unlock()
			if r == nil || must == "" {
				time.Sleep(time.Millisecond)
				continue
			}
			rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			_, err := r.ReadIndex(rctx)
			cancel()
			if err == nil && !sm.has(must) {
				select {
				case readErrs <- fmt.Sprintf("node %d: a linearizable read missed %s", id, must):
				default:
				}
			}
		}
	}()
	for round := range 6 {
		time.Sleep(50 * time.Millisecond)
		switch round % 3 {
		case 0: // partition off two random nodes
			a, b := uint64(1+rnd.IntN(5)), uint64(1+rnd.IntN(5))
			var rest []uint64
			for id := uint64(1); id <= 5; id++ {
				if id != a && id != b {
					rest = append(rest, id)
				}
			}
			c.net.Partition([]uint64{a, b}, rest)
		case 1:
			c.net.Heal()
		case 2: // crash a random node and restart it
			id := uint64(1 + rnd.IntN(5))
			n := c.nodes[id]
			mu.Lock()
			live[id] = nil
			mu.Unlock()
			c.crash(n)
			n.sm.check(t)
			mu.Lock()
			n.sm = newSetSM()
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			c.start(id, nil, n)
			mu.Lock()
			live[id] = n.r
			mu.Unlock()
		}
	}
	c.net.Heal()
	c.net.SetFaults(transport.Faults{})
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(readErrs)
	for e := range readErrs {
		t.Error(e)
	}
	res := c.propose(ctx, "last")
	c.waitApplied(ctx, indexOf(res))
	want := c.nodes[1].sm.size()
	for _, n := range c.nodes {
		if n.sm.size() != want {
			t.Errorf("node %d has %d keys, node 1 has %d", n.id, n.sm.size(), want)
		}
		for _, k := range acked {
			if !n.sm.has(k) {
				t.Fatalf("node %d lost acknowledged write %s", n.id, k)
			}
		}
	}
	t.Logf("%d writes acknowledged, %d keys applied", len(acked), want)
}
