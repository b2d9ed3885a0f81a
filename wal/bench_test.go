package wal

import (
	"flag"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"testing"
	"time"

	pb "github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/vfs"
)

// benchBatches are the batch shapes of the issue: entries per Save and
// payload bytes per entry.
var benchBatches = []struct{ n, size int }{
	{1, 40}, {16, 40}, {128, 40}, {1024, 40},
	{1, 1024}, {16, 1024}, {128, 1024}, {1024, 1024},
}

func benchEntries(first uint64, n, size int) []*pb.Entry {
	es := make([]*pb.Entry, n)
	for k := range es {
		data := make([]byte, size)
		for b := range data {
			data[b] = byte(k + b)
		}
		es[k] = &pb.Entry{Index: first + uint64(k), Term: 1, Data: data}
	}
	return es
}

// BenchmarkSave measures Save with MustSync (one write and one fdatasync
// per batch) on the real disk, next to the raw limit: the same payload
// bytes, without framing, written at increasing offsets of a preallocated
// file and fdatasync-ed. Each iteration does one of each, alternating which
// goes first, so both see the same disk weather on a shared machine; the
// metrics are the median latency of each (wal-us, raw-us), their ratio
// (wal/raw), and the wal's entries per second at its median latency.
func BenchmarkSave(b *testing.B) {
	for _, bb := range benchBatches {
		b.Run(fmt.Sprintf("entries=%d/size=%d", bb.n, bb.size), func(b *testing.B) { benchSave(b, bb.n, bb.size) })
	}
}

var benchCache = flag.Int("wal.benchcache", 0, "CacheBytes of the wal in BenchmarkSave, BenchmarkRecover and BenchmarkMemoryPerMillion (0: default)")

func benchSave(b *testing.B, n, size int) {
	w, err := Open(b.TempDir(), Options{CacheBytes: *benchCache})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	raw := newRawFile(b, n*size)
	defer raw.f.Close()
	batches := newBatcher(n, size)
	// The first spare segment is being zero-filled: start the clock after
	// it. Later ones are part of the cost.
	w.waitSpare()
	walLat := make([]time.Duration, 0, b.N)
	rawLat := make([]time.Duration, 0, b.N)
	hs := &pb.HardState{Term: 1}
	b.SetBytes(int64(n * size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%64 == 0 {
			b.StopTimer()
			batches.refill()
			b.StartTimer()
		}
		es := batches.ready[i%64]
		hs.Commit = es[n-1].Index
		saveOne := func() {
			start := time.Now()
			if err := w.Save(Update{Entries: es, HardState: hs, MustSync: true}); err != nil {
				b.Fatal(err)
			}
			walLat = append(walLat, time.Since(start))
		}
		rawOne := func() { rawLat = append(rawLat, raw.writeSync(b)) }
		if i%2 == 0 {
			saveOne()
			rawOne()
		} else {
			rawOne()
			saveOne()
		}
	}
	b.StopTimer()
	wm, rm := median(walLat), median(rawLat)
	b.ReportMetric(float64(wm.Microseconds()), "wal-us")
	b.ReportMetric(float64(rm.Microseconds()), "raw-us")
	b.ReportMetric(float64(wm)/float64(rm), "wal/raw")
	b.ReportMetric(float64(n)/wm.Seconds(), "wal-entries/s")
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// batcher builds batches of entries ahead, outside the timer, 64 at a time:
// making them is the caller's cost, not the wal's.
type batcher struct {
	n     int
	data  [][]byte
	next  uint64
	ready [][]*pb.Entry
}

func newBatcher(n, size int) *batcher {
	bt := &batcher{n: n, next: 1}
	for _, e := range benchEntries(1, n, size) {
		bt.data = append(bt.data, e.Data)
	}
	return bt
}

func (bt *batcher) refill() {
	bt.ready = bt.ready[:0]
	for j := 0; j < 64; j++ {
		slab := make([]pb.Entry, bt.n)
		es := make([]*pb.Entry, bt.n)
		for k := range es {
			slab[k].Index, slab[k].Term, slab[k].Data = bt.next+uint64(k), 1, bt.data[k]
			es[k] = &slab[k]
		}
		bt.next += uint64(bt.n)
		bt.ready = append(bt.ready, es)
	}
}

// rawFileSize is the preallocated file the raw writes go through,
// wrapping around.
const rawFileSize = 64 << 20

type rawFile struct {
	f   vfs.File
	buf []byte
	off int64
}

func newRawFile(b *testing.B, size int) *rawFile {
	f, err := vfs.Default.Create(filepath.Join(b.TempDir(), "raw"))
	if err != nil {
		b.Fatal(err)
	}
	zero := make([]byte, 1<<20)
	for off := int64(0); off < rawFileSize; off += int64(len(zero)) {
		if _, err := f.WriteAt(zero, off); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	r := &rawFile{f: f, buf: make([]byte, size)}
	for k := range r.buf {
		r.buf[k] = byte(k)
	}
	return r
}

// writeSync writes the buffer at the next offset and fdatasyncs.
func (r *rawFile) writeSync(b *testing.B) time.Duration {
	start := time.Now()
	if r.off+int64(len(r.buf)) > rawFileSize {
		r.off = 0
	}
	if _, err := r.f.WriteAt(r.buf, r.off); err != nil {
		b.Fatal(err)
	}
	if err := r.f.Sync(); err != nil {
		b.Fatal(err)
	}
	r.off += int64(len(r.buf))
	return time.Since(start)
}

// BenchmarkRecover opens a log of about 1 GiB (2^20 entries of 1 KiB in
// Saves of 128) and reports the time Open takes (reading and checking every
// record; the files are in the page cache after being written) and the heap
// the open WAL holds per million entries.
func BenchmarkRecover(b *testing.B) {
	if testing.Short() {
		b.Skip("writes 1 GiB")
	}
	dir := b.TempDir()
	const total, per, size = 1 << 20, 128, 1024
	buildLog(b, dir, total, per, size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w, took, heap := openMeasured(b, dir)
		b.ReportMetric(took.Seconds(), "open-s")
		b.ReportMetric(float64(heap)/(total/1e6), "heap-B/Mentries")
		w.Close()
	}
}

// BenchmarkMemoryPerMillion reports the heap an open WAL holds for a log of
// a million entries written one per Save (the worst case: one index record
// per Save), with the entry cache at its default 8 MiB.
func BenchmarkMemoryPerMillion(b *testing.B) {
	if testing.Short() {
		b.Skip("writes a million records")
	}
	dir := b.TempDir()
	const total = 1 << 20
	buildLog(b, dir, total, 1, 40)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w, _, heap := openMeasured(b, dir)
		b.ReportMetric(float64(heap)/(total/1e6), "heap-B/Mentries")
		w.Close()
	}
}

func buildLog(b *testing.B, dir string, total, per, size int) {
	w, err := Open(dir, Options{UnsafeNoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	batch := benchEntries(1, per, size)
	for next := uint64(1); next <= uint64(total); next += uint64(per) {
		es := make([]*pb.Entry, per)
		for k := range es {
			es[k] = &pb.Entry{Index: next + uint64(k), Term: 1 + next/100000, Data: batch[k].Data}
		}
		if err := w.Save(Update{Entries: es}); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

// openMeasured opens dir and returns the WAL, how long Open took and the
// live heap it added (after a GC, so recovery's buffers are not counted).
func openMeasured(b *testing.B, dir string) (*WAL, time.Duration, int64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	w, err := Open(dir, Options{CacheBytes: *benchCache})
	if err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	return w, took, int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

// BenchmarkSaveCPU is Save without fsync (the write goes to the page cache):
// the wal's own CPU cost per batch (encoding, checksum, index, cache, the
// write system call).
func BenchmarkSaveCPU(b *testing.B) {
	for _, bb := range benchBatches {
		b.Run(fmt.Sprintf("entries=%d/size=%d", bb.n, bb.size), func(b *testing.B) {
			w, err := Open(b.TempDir(), Options{UnsafeNoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			batches := newBatcher(bb.n, bb.size)
			b.SetBytes(int64(bb.n * bb.size))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%64 == 0 {
					b.StopTimer()
					batches.refill()
					b.StartTimer()
				}
				if err := w.Save(Update{Entries: batches.ready[i%64], MustSync: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
