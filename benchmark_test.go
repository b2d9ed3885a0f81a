package raft

import (
	"runtime"
	"testing"

	pb "github.com/tickraft/raft/raftpb"
)

// Micro-benchmarks of the library's hot paths. The cluster benchmarks
// against etcd raft live in the bench/ module.

// bmHandle persists one Ready to st, collects its committed entries and
// advances, the way a synchronous application loop does.
func bmHandle(b *testing.B, rn *RawNode, st *MemoryStorage, rd *Ready) (applied uint64) {
	if rd.HardState != nil {
		if err := st.SetHardState(rd.HardState); err != nil {
			b.Fatal(err)
		}
	}
	if len(rd.Entries) > 0 {
		if err := st.Append(rd.Entries); err != nil {
			b.Fatal(err)
		}
	}
	if n := len(rd.CommittedEntries); n > 0 {
		applied = rd.CommittedEntries[n-1].Index
	}
	if err := rn.Advance(*rd); err != nil {
		b.Fatal(err)
	}
	return applied
}

// allocMeter counts the allocations of a benchmark's timed part, to
// report them unrounded: -benchmem rounds allocs/op down to an integer, so
// one allocation per 9 proposals shows as 0. Call start and stop where the
// benchmark starts and stops its timer.
type allocMeter struct {
	mallocs uint64
	ms      runtime.MemStats
}

func (a *allocMeter) start() { runtime.ReadMemStats(&a.ms); a.mallocs -= a.ms.Mallocs }
func (a *allocMeter) stop()  { runtime.ReadMemStats(&a.ms); a.mallocs += a.ms.Mallocs }

// report adds the "allocs/op-exact" metric.
func (a *allocMeter) report(b *testing.B) {
	b.ReportMetric(float64(a.mallocs)/float64(b.N), "allocs/op-exact")
}

// bmSingleVoter returns a single-voter leader on MemoryStorage.
func bmSingleVoter(b *testing.B) (*RawNode, *MemoryStorage) {
	st := NewMemoryStorage()
	rn, err := NewRawNode(&Config{ID: 1, Storage: st, ElectionTick: 10, HeartbeatTick: 1})
	if err != nil {
		b.Fatal(err)
	}
	if err := rn.Bootstrap([]Peer{{ID: 1}}); err != nil {
		b.Fatal(err)
	}
	for rn.HasReady() {
		rd := rn.Ready()
		for _, e := range rd.CommittedEntries {
			if e.Type == pb.EntryConfChange {
				cc, err := pb.UnmarshalConfChange(e)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := rn.ApplyConfChange(cc); err != nil {
					b.Fatal(err)
				}
			}
		}
		bmHandle(b, rn, st, &rd)
	}
	if err := rn.Campaign(); err != nil {
		b.Fatal(err)
	}
	for rn.HasReady() {
		rd := rn.Ready()
		bmHandle(b, rn, st, &rd)
	}
	if rn.BasicStatus().RaftState != StateLeader {
		b.Fatal("node 1 did not become leader")
	}
	return rn, st
}

// BenchmarkRawNodeSingleVoter measures one proposal on a single-voter
// cluster from Propose until the entry is handed out as committed.
func BenchmarkRawNodeSingleVoter(b *testing.B) {
	rn, st := bmSingleVoter(b)
	data := make([]byte, 32)
	var am allocMeter
	b.ReportAllocs()
	b.ResetTimer()
	am.start()
	for i := 0; i < b.N; i++ {
		if err := rn.Propose(data); err != nil {
			b.Fatal(err)
		}
		want := rn.BasicStatus().Commit + 1
		for done := false; !done; {
			rd := rn.Ready()
			if bmHandle(b, rn, st, &rd) >= want {
				done = true
			}
		}
		if i%10000 == 9999 {
			// Keep the log short, as an application would.
			b.StopTimer()
			am.stop()
			if err := st.Compact(rn.BasicStatus().Applied); err != nil {
				b.Fatal(err)
			}
			am.start()
			b.StartTimer()
		}
	}
	am.stop()
	am.report(b)
}

// BenchmarkRawNodeThreeVoters measures one proposal on a three-voter
// cluster in one goroutine, from Propose on the leader until the leader
// hands the entry out as committed.
func BenchmarkRawNodeThreeVoters(b *testing.B) {
	type node struct {
		rn *RawNode
		st *MemoryStorage
	}
	peers := []Peer{{ID: 1}, {ID: 2}, {ID: 3}}
	nodes := make([]node, 3)
	for i := range nodes {
		st := NewMemoryStorage()
		rn, err := NewRawNode(&Config{ID: uint64(i + 1), Storage: st, ElectionTick: 10, HeartbeatTick: 1})
		if err != nil {
			b.Fatal(err)
		}
		if err := rn.Bootstrap(peers); err != nil {
			b.Fatal(err)
		}
		nodes[i] = node{rn, st}
	}
	var inbox [3][]*pb.Message
	var leaderApplied uint64
	pump := func() {
		for progress := true; progress; {
			progress = false
			for i := range nodes {
				n := &nodes[i]
				for _, m := range inbox[i] {
					_ = n.rn.Step(m)
				}
				inbox[i] = inbox[i][:0]
				if !n.rn.HasReady() {
					continue
				}
				progress = true
				rd := n.rn.Ready()
				for _, e := range rd.CommittedEntries {
					if e.Type == pb.EntryConfChange {
						cc, _ := pb.UnmarshalConfChange(e)
						_, _ = n.rn.ApplyConfChange(cc)
					}
				}
				for _, m := range rd.Messages {
					inbox[m.To-1] = append(inbox[m.To-1], m)
				}
				if a := bmHandle(b, n.rn, n.st, &rd); i == 0 && a > leaderApplied {
					leaderApplied = a
				}
			}
		}
	}
	pump()
	if err := nodes[0].rn.Campaign(); err != nil {
		b.Fatal(err)
	}
	pump()
	if nodes[0].rn.BasicStatus().RaftState != StateLeader {
		b.Fatal("node 1 did not become leader")
	}
	data := make([]byte, 32)
	var am allocMeter
	b.ReportAllocs()
	b.ResetTimer()
	am.start()
	for i := 0; i < b.N; i++ {
		if err := nodes[0].rn.Propose(data); err != nil {
			b.Fatal(err)
		}
		want := nodes[0].rn.BasicStatus().Commit + 1
		pump()
		if leaderApplied < want {
			b.Fatalf("entry %d not applied (applied %d)", want, leaderApplied)
		}
		if i%10000 == 9999 {
			b.StopTimer()
			am.stop()
			for j := range nodes {
				if err := nodes[j].st.Compact(nodes[j].rn.BasicStatus().Applied); err != nil {
					b.Fatal(err)
				}
			}
			am.start()
			b.StartTimer()
		}
	}
	am.stop()
	am.report(b)
}

func BenchmarkBasicStatus(b *testing.B) {
	rn, _ := bmSingleVoter(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = rn.BasicStatus()
	}
}

func BenchmarkStatus(b *testing.B) {
	rn, _ := bmSingleVoter(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = rn.Status()
	}
}

// BenchmarkLogAppendSlice appends a batch of entries to a raft log and
// reads it back with a byte limit, as a leader does when it replicates.
func BenchmarkLogAppendSlice(b *testing.B) {
	l, err := newLog(NewMemoryStorage(), noLimit)
	if err != nil {
		b.Fatal(err)
	}
	ents := make([]*pb.Entry, 8)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		last := l.lastIndex()
		for j := range ents {
			ents[j] = &pb.Entry{Term: 1, Index: last + 1 + uint64(j), Data: make([]byte, 16)}
		}
		l.append(ents...)
		if _, err := l.slice(last+1, last+9, 1<<20); err != nil {
			b.Fatal(err)
		}
		// Persist and drop what was read, so the unstable tail stays short.
		l.acceptUnstable()
		l.stableTo(pbEntryID(ents[len(ents)-1]))
		if err := l.storage.(*MemoryStorage).Append(ents); err != nil {
			b.Fatal(err)
		}
		if i%1000 == 999 {
			_ = l.commitTo(l.lastIndex())
			l.appliedTo(l.lastIndex(), 0)
			_ = l.storage.(*MemoryStorage).Compact(l.lastIndex())
		}
	}
}
