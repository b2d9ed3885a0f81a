package wal

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	pb "github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/vfs/faultfs"
)

var (
	crashSeeds = flag.Int("wal.crashseeds", 3, "seeds of the crash-point test")
	crashSteps = flag.Int("wal.crashsteps", 40, "operations per crash-point workload")
	crashFirst = flag.Uint64("wal.crashfirst", 1, "first seed of the crash-point test")
)

// workload is a seeded random sequence of wal operations run against a wal
// and a model at once.
type workload struct {
	rnd   *rand.Rand
	term  uint64
	steps int
	// states[j] is the model after the j-th operation that returned nil
	// (states[0] the empty log); durable is the highest j known durable
	// (its operation synced); attempted counts operations started.
	states  []*model
	durable int
	// failed reports that an operation returned an error (a crash).
	failed bool
}

func newWorkload(seed uint64, steps int) *workload {
	return &workload{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), term: 1, steps: steps, states: []*model{newModel()}}
}

// run performs the steps on w until one fails.
func (wl *workload) run(w *WAL) {
	for s := 0; s < wl.steps && !wl.failed; s++ {
		wl.step(w)
	}
}

func (wl *workload) step(w *WAL) {
	m := wl.states[len(wl.states)-1].clone()
	r := wl.rnd
	var err error
	synced := true
	switch p := r.IntN(100); {
	case p < 65:
		first := m.last() + 1
		if r.IntN(5) == 0 && m.last() > m.start {
			// A conflicting suffix from a new leader.
			first = m.last() - uint64(r.IntN(int(min(m.last()-m.start, 6))))
			wl.term++
		}
		n := 1 + r.IntN(8)
		es := make([]*pb.Entry, n)
		for k := range es {
			size := r.IntN(300)
			if r.IntN(4) == 0 {
				size = refMin + r.IntN(refMin) // written by reference (see frame)
			}
			data := make([]byte, size)
			for b := range data {
				data[b] = byte(r.Uint32())
			}
			es[k] = &pb.Entry{Index: first + uint64(k), Term: wl.term, Data: data}
		}
		u := Update{Entries: es, MustSync: r.IntN(8) != 0}
		if r.IntN(3) == 0 {
			u.HardState = &pb.HardState{Term: wl.term, Vote: uint64(r.IntN(4)), Commit: m.start + uint64(r.IntN(int(m.last()-m.start+1)))}
		}
		synced = u.MustSync
		err = w.Save(u)
		m.save(u)
	case p < 75:
		u := Update{HardState: &pb.HardState{Term: wl.term, Vote: uint64(r.IntN(4)), Commit: m.last()}, MustSync: r.IntN(2) == 0}
		synced = u.MustSync
		err = w.Save(u)
		m.save(u)
	case p < 85:
		lo := max(m.start, m.snap.Metadata.Index+1)
		if lo > m.last() {
			return
		}
		i := lo + uint64(r.IntN(int(m.last()-lo+1)))
		var cs *pb.ConfState
		if r.IntN(2) == 0 {
			cs = &pb.ConfState{Voters: []uint64{1, 2, uint64(3 + r.IntN(3))}}
		}
		data := []byte(fmt.Sprintf("snapshot at %d", i))
		_, err = w.CreateSnapshot(i, cs, data)
		m.create(i, cs, data)
	case p < 95:
		if m.last() <= m.start {
			return
		}
		i := m.start + 1 + uint64(r.IntN(int(m.last()-m.start)))
		err = w.Compact(i)
		m.compact(i)
	default:
		wl.term++
		i := m.last() + 1 + uint64(r.IntN(20))
		if i <= m.snap.Metadata.Index {
			return
		}
		s := &pb.Snapshot{Data: []byte(fmt.Sprintf("installed %d", i)), Metadata: &pb.SnapshotMetadata{Index: i, Term: wl.term, ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}}}}
		err = w.ApplySnapshot(s)
		m.save(Update{Snapshot: s})
	}
	// The state is a candidate for recovery whether the call returned or
	// not: a failing call may have written it before the crash.
	wl.states = append(wl.states, m)
	if err != nil {
		wl.failed = true
		return
	}
	if synced {
		wl.durable = len(wl.states) - 1
	}
}

// checkRecovered opens the wal on fs and checks that it holds one of the
// states a crash may leave: every durable state's successor up to the last
// one attempted.
func (wl *workload) checkRecovered(t *testing.T, fs *faultfs.FS, what string) *WAL {
	t.Helper()
	w, err := Open(testDir, testOpts(fs))
	if err != nil {
		t.Fatalf("%s: Open after the crash: %v", what, err)
	}
	var diffs []string
	for j := wl.durable; j < len(wl.states); j++ {
		d := diff(w, wl.states[j])
		if d == "" {
			return w
		}
		diffs = append(diffs, fmt.Sprintf("state %d: %s", j, d))
	}
	t.Fatalf("%s: the recovered log matches no state from the last durable one (%d) to the last attempted (%d):\n%s",
		what, wl.durable, len(wl.states)-1, strings.Join(diffs, "\n"))
	return nil
}

// TestCrashAtEveryPoint runs seeded workloads and crashes the file system
// after each of their mutating file operations in turn (every write, sync,
// create, rename, remove and directory sync), tearing the unsynced writes
// at random byte or sector boundaries. On reopen the wal must hold exactly
// a state at least as new as the last acknowledged durable one and no newer
// than the last attempted: nothing acknowledged is lost and nothing never
// written appears; a torn tail is cut, and the wal works after it. Half the
// time the power fails again during the first recovery.
func TestCrashAtEveryPoint(t *testing.T) {
	for seed := *crashFirst; seed < *crashFirst+uint64(*crashSeeds); seed++ {
		// A dry run counts the operations.
		fs := faultfs.New()
		w := mustOpen(t, testOpts(fs))
		start := fs.Ops()
		wl := newWorkload(seed, *crashSteps)
		wl.run(w)
		total := fs.Ops() - start
		w.Close()
		for k := 1; k <= total; k++ {
			crashAt(t, seed, k, k == total)
		}
	}
}

func crashAt(t *testing.T, seed uint64, k int, last bool) {
	t.Helper()
	what := fmt.Sprintf("seed %d, crash after operation %d", seed, k)
	fs := faultfs.New()
	w := mustOpen(t, testOpts(fs))
	wl := newWorkload(seed, *crashSteps)
	fs.CrashAfter(k)
	wl.run(w)
	if !wl.failed && !last {
		t.Fatalf("%s: the workload did not notice the crash", what)
	}
	w.Close()
	rnd := rand.New(rand.NewPCG(seed, uint64(k)))
	sector := []int{1, 512, 4096}[k%3]
	fs.Crash(faultfs.RandomTear(rnd.IntN, sector))
	if rnd.IntN(2) == 0 {
		// The power fails again during recovery (cutting the torn tail,
		// removing unused segments, syncing): the next recovery must
		// still find a valid state.
		fs.CrashAfter(1 + rnd.IntN(4))
		if w, err := Open(testDir, testOpts(fs)); err == nil {
			w.Close()
		}
		fs.Crash(faultfs.RandomTear(rnd.IntN, sector))
	}
	ins, ierr := Inspect(testDir, testOpts(fs))
	w = wl.checkRecovered(t, fs, what)
	checkInspection(t, what, ins, ierr, w, nil)
	m := newModel()
	for j := len(wl.states) - 1; j >= wl.durable; j-- {
		if diff(w, wl.states[j]) == "" {
			m = wl.states[j].clone()
			break
		}
	}
	// What recovery found is durable: a power loss right after it, losing
	// every unsynced write, changes nothing.
	w.Close()
	fs.Crash(faultfs.DropUnsynced)
	w, err := Open(testDir, testOpts(fs))
	if err != nil {
		t.Fatalf("%s: Open after a second crash: %v", what, err)
	}
	if d := diff(w, m); d != "" {
		t.Fatalf("%s: a crash right after recovery changed the log: %s", what, d)
	}
	// The wal goes on after recovery, and a clean reopen agrees.
	next := &pb.Entry{Index: m.last() + 1, Term: wl.term + 1, Data: []byte("after")}
	if err := w.Append([]*pb.Entry{next}); err != nil {
		t.Fatalf("%s: Append after recovery: %v", what, err)
	}
	m.save(Update{Entries: []*pb.Entry{next}})
	w.Close()
	w, err = Open(testDir, testOpts(fs))
	if err != nil {
		t.Fatalf("%s: clean reopen after recovery and an append: %v", what, err)
	}
	defer w.Close()
	if d := diff(w, m); d != "" {
		t.Fatalf("%s: after an append and a clean reopen: %s", what, d)
	}
}

// TestCorruptionReported flips a bit inside a record of a segment before
// the last in the log of a finished workload: Open must report exactly that
// file and record, never open.
func TestCorruptionReported(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		fs := faultfs.New()
		w := mustOpen(t, testOpts(fs))
		wl := newWorkload(seed, 80)
		wl.run(w)
		var nums []uint64
		for num := range w.segs {
			if num != w.active.num {
				nums = append(nums, num)
			}
		}
		w.Close()
		if len(nums) == 0 {
			continue
		}
		rnd := rand.New(rand.NewPCG(seed, 7))
		num := nums[rnd.IntN(len(nums))]
		data, _ := fs.ReadFile(segPath(num))
		var recs []record
		for off := 0; ; {
			r, zero, reason := parseRecord(data, off)
			if zero || reason != "" {
				break
			}
			recs = append(recs, r)
			off += r.size
		}
		r := recs[rnd.IntN(len(recs))]
		at := r.off + int64(rnd.IntN(headerSize+len(r.payload)))
		fs.FlipBit(segPath(num), at, uint(rnd.IntN(8)))
		_, _, err := inspectThenOpen(t, fs, fmt.Sprintf("seed %d", seed))
		var ce *CorruptionError
		if !errors.As(err, &ce) || ce.File != segPath(num) || ce.Offset != r.off {
			t.Fatalf("seed %d: bit flipped at %d in the record at %d of %s: Open = %v", seed, at, r.off, segPath(num), err)
		}
	}
}
