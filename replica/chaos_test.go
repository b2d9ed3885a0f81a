package replica

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tickraft/raft/transport"
)

var chaosSeeds = flag.Int("chaos.seeds", 2, "seeds TestChaos runs per read mode (odd seeds on wal+faultfs, even on MemoryStorage)")

// Five replicas on a network that drops, duplicates, reorders and delays
// messages, with partitions and crashes of random nodes (on a wal in a
// faultfs that loses what was not synced, for odd seeds), while writers
// write and readers read. The simulator's safety properties must hold:
// at most one leader per term (as sampled from every replica's Metrics),
// no two replicas ever applied different commands at one index, every
// acknowledged write is on every replica at the end, no entry is applied
// twice, every replica holds the same keys, and every linearizable read
// saw every write acknowledged before it began. The network's faults and
// the schedule of partitions and crashes come from the seed; goroutine
// scheduling and the ticking clock still vary from run to run. More seeds:
// go test ./replica -run TestChaos -chaos.seeds 50.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos")
	}
	for _, mode := range []ReadMode{ReadSafe, ReadLeaseBased} {
		for seed := uint64(1); seed <= uint64(*chaosSeeds); seed++ {
			t.Run(fmt.Sprintf("readmode=%d/seed=%d", mode, seed), func(t *testing.T) { testChaos(t, mode, seed, seed%2 == 1) })
		}
	}
}

// leaderLog records, from sampled Metrics, which node led each term.
type leaderLog struct {
	mu     sync.Mutex
	byTerm map[uint64]uint64
	errs   []string
}

func (l *leaderLog) observe(m Metrics) {
	if m.Role != "leader" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, ok := l.byTerm[m.Term]; ok && prev != m.ID {
		l.errs = append(l.errs, fmt.Sprintf("term %d has two leaders: %d and %d", m.Term, prev, m.ID))
	}
	l.byTerm[m.Term] = m.ID
}

// stateMachineConflicts lists the indexes at which two state machines (of
// any replica, any incarnation) applied different commands.
func stateMachineConflicts(sms []*setSM) []string {
	var errs []string
	at := map[uint64]string{}
	for _, sm := range sms {
		sm.mu.Lock()
		for i, k := range sm.byIndex {
			if prev, ok := at[i]; ok && prev != k {
				errs = append(errs, fmt.Sprintf("index %d applied as %q and as %q", i, prev, k))
			}
			at[i] = k
		}
		sm.mu.Unlock()
	}
	return errs
}

func testChaos(t *testing.T, mode ReadMode, seed uint64, useWAL bool) {
	c := newClusterOpts(t, 5, useWAL, func(cfg *Config) { cfg.SnapshotEntries, cfg.CompactionTail, cfg.ReadMode = 50, 20, mode }, transport.WithSeed(seed))
	c.net.SetFaults(transport.Faults{Drop: 0.02, Duplicate: 0.02, Reorder: 0.05, Jitter: time.Millisecond})
	ctx := ctxT(t)
	rnd := rand.New(rand.NewPCG(seed, 2))
	leaders := &leaderLog{byTerm: map[uint64]uint64{}}
	var sms []*setSM // every incarnation's state machine
	var mu sync.Mutex
	var acked []string
	live := map[uint64]*Replica{}
	tnodes := map[uint64]*testNode{} // c.nodes is written by restarts
	for id, n := range c.nodes {
		live[id], tnodes[id] = n.r, n
		sms = append(sms, n.sm)
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
	wg.Add(1)
	go func() { // samples every replica's role and term
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			mu.Lock()
			var rs []*Replica
			for _, r := range live {
				if r != nil {
					rs = append(rs, r)
				}
			}
			mu.Unlock()
			for _, r := range rs {
				leaders.observe(r.Metrics())
			}
		}
	}()
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
			sms = append(sms, n.sm)
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
	for _, n := range c.nodes {
		leaders.observe(n.r.Metrics())
	}
	for _, e := range leaders.errs {
		t.Error(e)
	}
	if len(leaders.byTerm) == 0 {
		t.Error("no leader was ever observed")
	}
	for _, e := range stateMachineConflicts(sms) {
		t.Error(e)
	}
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
	t.Logf("%d writes acknowledged, %d keys applied, %d terms with a leader seen", len(acked), want, len(leaders.byTerm))
}

// The chaos test's safety checks catch what they are for.
func TestChaosCheckersFail(t *testing.T) {
	l := &leaderLog{byTerm: map[uint64]uint64{}}
	l.observe(Metrics{ID: 1, Term: 3, Role: "leader"})
	l.observe(Metrics{ID: 2, Term: 3, Role: "follower"})
	l.observe(Metrics{ID: 2, Term: 4, Role: "leader"})
	if len(l.errs) != 0 {
		t.Fatalf("legal history reported: %v", l.errs)
	}
	l.observe(Metrics{ID: 3, Term: 4, Role: "leader"})
	if len(l.errs) != 1 {
		t.Fatalf("two leaders in term 4 not reported: %v", l.errs)
	}
	a, b := newSetSM(), newSetSM()
	a.byIndex[5], b.byIndex[5], b.byIndex[6] = "x", "x", "y"
	if errs := stateMachineConflicts([]*setSM{a, b}); len(errs) != 0 {
		t.Fatalf("agreeing state machines reported: %v", errs)
	}
	b.byIndex[5] = "z"
	if errs := stateMachineConflicts([]*setSM{a, b}); len(errs) != 1 {
		t.Fatalf("index 5 applied as x and as z: %v", errs)
	}
}
