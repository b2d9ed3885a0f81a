package transport

import (
	"sort"
	"testing"
	"time"

	"github.com/tickraft/raft/raftpb"
)

// runFaults sends count heartbeats from 1 to 2 over a network with faults f
// and returns the indexes received once the network is quiet (waiting until
// want messages arrived), plus the sender's drop count.
func runFaults(t *testing.T, seed uint64, f Faults, count, want int) ([]uint64, uint64) {
	t.Helper()
	n := NewMemNetwork(WithSeed(seed))
	n.SetFaults(f)
	recs := startMem(t, n, 1, 2)
	var batch []*raftpb.Message
	for i := range count {
		batch = append(batch, msg(1, 2, raftpb.MsgHeartbeat, uint64(i)))
	}
	n.Endpoint(1).Send(batch)
	recs[1].waitFor(t, "deliveries", func() bool { return len(recs[1].msgs) >= want })
	var got []uint64
	recs[1].mu.Lock()
	for _, m := range recs[1].msgs {
		got = append(got, m.Index)
	}
	recs[1].mu.Unlock()
	return got, n.Endpoint(1).Stats().Peers[2].Dropped
}

func sorted(xs []uint64) []uint64 {
	ys := append([]uint64(nil), xs...)
	sort.Slice(ys, func(i, j int) bool { return ys[i] < ys[j] })
	return ys
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFaultsDropIsSeeded(t *testing.T) {
	f := Faults{Drop: 0.3}
	// The number of survivors is fixed by the seed: learn it from the plan,
	// then check two runs with the same seed lose the same messages.
	survivors := func(seed uint64) int {
		probe := NewMemNetwork(WithSeed(seed))
		probe.SetFaults(f)
		kept := 0
		probe.mu.Lock()
		defer probe.mu.Unlock()
		for range 1000 {
			if len(probe.plan(link{1, 2}, 10).at) > 0 {
				kept++
			}
		}
		return kept
	}
	s7 := survivors(7)
	if s7 == 0 || s7 == 1000 {
		t.Fatalf("drop probability 0.3 kept %d of 1000", s7)
	}
	a, dropped := runFaults(t, 7, f, 1000, s7)
	b, _ := runFaults(t, 7, f, 1000, s7)
	if len(a) != s7 || int(dropped) != 1000-s7 {
		t.Fatalf("got %d messages and %d drops, want %d and %d", len(a), dropped, s7, 1000-s7)
	}
	if !equalU64(a, b) {
		t.Fatal("the same seed lost different messages")
	}
	c, _ := runFaults(t, 8, f, 1000, survivors(8))
	if equalU64(a, c) {
		t.Fatal("different seeds lost the same messages")
	}
	for i := 1; i < len(a); i++ {
		if a[i] <= a[i-1] {
			t.Fatal("drops alone reordered messages")
		}
	}
}

func TestFaultsDuplicate(t *testing.T) {
	got, _ := runFaults(t, 1, Faults{Duplicate: 1}, 100, 200)
	s := sorted(got)
	for i := range 100 {
		if s[2*i] != uint64(i) || s[2*i+1] != uint64(i) {
			t.Fatalf("message %d not delivered exactly twice: %v", i, s[2*i:2*i+2])
		}
	}
}

func TestFaultsReorder(t *testing.T) {
	got, _ := runFaults(t, 1, Faults{Reorder: 0.5, ReorderWindow: 20 * time.Millisecond}, 200, 200)
	inversions := 0
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			inversions++
		}
	}
	if inversions == 0 {
		t.Fatal("reorder probability 0.5 kept 200 messages in order")
	}
	if s := sorted(got); s[0] != 0 || s[199] != 199 {
		t.Fatal("reordering lost or invented messages")
	}
}

func TestFaultsDelayAndJitterKeepOrder(t *testing.T) {
	start := time.Now()
	got, _ := runFaults(t, 1, Faults{Delay: 30 * time.Millisecond, Jitter: 10 * time.Millisecond}, 200, 200)
	// A lower bound only: nothing may arrive before its latency.
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Fatalf("delayed messages arrived after %v", el)
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("jitter reordered messages: %d after %d", got[i], got[i-1])
		}
	}
}

func TestFaultsSlowLink(t *testing.T) {
	n := NewMemNetwork()
	n.SetLinkFaults(1, 2, Faults{Bandwidth: 1 << 20}) // 1 MiB/s
	recs := startMem(t, n, 1, 2)
	start := time.Now()
	// 10 messages of 16 KiB: at least 160 ms of transmission, and the
	// heartbeat sent last arrives last.
	var batch []*raftpb.Message
	for i := range 10 {
		batch = append(batch, appMsg(1, 2, uint64(i), 16<<10))
	}
	batch = append(batch, msg(1, 2, raftpb.MsgHeartbeat, 100))
	n.Endpoint(1).Send(batch)
	recs[1].waitFor(t, "all", func() bool { return len(recs[1].msgs) == 11 })
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Fatalf("160 KiB crossed a 1 MiB/s link in %v", el)
	}
	if recs[1].msgs[10].Index != 100 {
		t.Fatal("the heartbeat overtook the appends on a FIFO link")
	}
	// The other direction is not slowed: its message arrives while the slow
	// link is still busy with a second burst.
	n.Endpoint(1).Send(batch[:10])
	n.Endpoint(2).Send([]*raftpb.Message{msg(2, 1, raftpb.MsgHeartbeatResp, 1)})
	recs[0].waitFor(t, "reverse", func() bool { return len(recs[0].msgs) == 1 })
	if recs[1].numMsgs() >= 21 {
		t.Fatal("the reverse direction waited for the slow link")
	}
}

func TestFaultsPartitions(t *testing.T) {
	n := NewMemNetwork()
	recs := startMem(t, n, 1, 2, 3)
	hb := func(from, to uint64) { n.Endpoint(from).Send([]*raftpb.Message{msg(from, to, raftpb.MsgHeartbeat, 0)}) }
	count := func(r *recorder) int { return r.numMsgs() }

	n.CutOneWay(1, 2)
	hb(1, 2)
	hb(2, 1)
	recs[0].waitFor(t, "2->1 delivered", func() bool { return len(recs[0].msgs) == 1 })
	recs[0].waitFor(t, "1 told 2 is unreachable", func() bool { return len(recs[0].unreachable) == 1 })
	if count(recs[1]) != 0 {
		t.Fatal("one-way cut delivered 1->2")
	}

	n.Heal()
	n.Cut(1, 3)
	hb(1, 3)
	hb(3, 1)
	hb(1, 2)
	recs[1].waitFor(t, "1->2 after heal", func() bool { return len(recs[1].msgs) == 1 })
	recs[2].waitFor(t, "3 told 1 is unreachable", func() bool { return len(recs[2].unreachable) == 1 })
	if count(recs[2]) != 0 || count(recs[0]) != 1 {
		t.Fatal("two-way cut delivered")
	}

	n.Heal()
	n.Partition([]uint64{1}, []uint64{2, 3})
	hb(2, 3)
	hb(2, 1)
	recs[2].waitFor(t, "2->3 inside the group", func() bool { return len(recs[2].msgs) == 1 })
	recs[1].waitFor(t, "2 told 1 is unreachable", func() bool { return len(recs[1].unreachable) == 1 })

	n.Heal()
	n.Isolate(3)
	hb(3, 2)
	hb(1, 2)
	recs[1].waitFor(t, "1->2", func() bool { return len(recs[1].msgs) == 2 })
	recs[2].waitFor(t, "3 told 2 is unreachable", func() bool { return len(recs[2].unreachable) == 2 })
	if count(recs[1]) != 2 {
		t.Fatal("isolated node reached 2")
	}
}
