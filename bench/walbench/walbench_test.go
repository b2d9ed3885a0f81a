package walbench

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"testing"
	"time"

	etcdwal "go.etcd.io/etcd/server/v3/storage/wal"
	etcdpb "go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"

	pb "github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/vfs"
	"github.com/tickraft/raft/wal"
)

var batches = []struct{ n, size int }{
	{1, 40}, {16, 40}, {128, 40}, {1024, 40},
	{1, 1024}, {16, 1024}, {128, 1024}, {1024, 1024},
}

// BenchmarkWAL appends batches of n entries of size bytes with a hard state,
// synced (one fdatasync per batch in each), to tickraft's wal, to etcd's wal
// and as raw bytes (the entry payloads, no framing) to a preallocated file.
// Each iteration does one batch on each of the three, rotating the order,
// so all see the same disk weather on a shared machine. Metrics: the median
// latency of each (tickraft-us, etcd-us, raw-us), tickraft's latency over
// raw's (tickraft/raw), and tickraft's throughput over etcd's at those
// medians (tickraft/etcd-thru).
func BenchmarkWAL(b *testing.B) {
	for _, bb := range batches {
		b.Run(fmt.Sprintf("entries=%d/size=%d", bb.n, bb.size), func(b *testing.B) { benchWAL(b, bb.n, bb.size) })
	}
}

func benchWAL(b *testing.B, n, size int) {
	payload := make([][]byte, n)
	for k := range payload {
		payload[k] = make([]byte, size)
		for j := range payload[k] {
			payload[k][j] = byte(k + j)
		}
	}

	tw, err := wal.Open(filepath.Join(b.TempDir(), "tickraft"), wal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer tw.Close()
	ew, err := etcdwal.Create(zap.NewNop(), filepath.Join(b.TempDir(), "etcd"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ew.Close()
	raw := newRaw(b, n*size)
	defer raw.f.Close()
	// Both wals prepare their next segment in the background right after
	// they start: let that finish before the clock starts.
	time.Sleep(time.Second)

	var lat [3][]time.Duration
	next := uint64(1)
	b.SetBytes(int64(n * size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Entries are built outside the clock: the caller's cost.
		b.StopTimer()
		tents := make([]*pb.Entry, n)
		eents := make([]*etcdpb.Entry, n)
		for k := range tents {
			idx := next + uint64(k)
			tents[k] = &pb.Entry{Index: idx, Term: 1, Data: payload[k]}
			eents[k] = &etcdpb.Entry{Index: u64(idx), Term: u64(1), Data: payload[k]}
		}
		next += uint64(n)
		ths := &pb.HardState{Term: 1, Commit: next - 1}
		ehs := &etcdpb.HardState{Term: u64(1), Commit: u64(next - 1)}
		b.StartTimer()
		ops := [3]func(){
			func() {
				if err := tw.Save(wal.Update{Entries: tents, HardState: ths, MustSync: true}); err != nil {
					b.Fatal(err)
				}
			},
			func() {
				if err := ew.Save(ehs, eents); err != nil {
					b.Fatal(err)
				}
			},
			func() { raw.writeSync(b) },
		}
		for j := 0; j < 3; j++ {
			k := (i + j) % 3
			start := time.Now()
			ops[k]()
			lat[k] = append(lat[k], time.Since(start))
		}
	}
	b.StopTimer()
	t, e, r := median(lat[0]), median(lat[1]), median(lat[2])
	b.ReportMetric(us(t), "tickraft-us")
	b.ReportMetric(us(e), "etcd-us")
	b.ReportMetric(us(r), "raw-us")
	b.ReportMetric(float64(t)/float64(r), "tickraft/raw")
	b.ReportMetric(float64(e)/float64(t), "tickraft/etcd-thru")
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

const rawSize = 64 << 20

type rawFile struct {
	f   vfs.File
	buf []byte
	off int64
}

// newRaw preallocates a file by writing zeros, as the wal does.
func newRaw(b *testing.B, size int) *rawFile {
	f, err := vfs.Default.Create(filepath.Join(b.TempDir(), "raw"))
	if err != nil {
		b.Fatal(err)
	}
	writeZeros(b, f)
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, size)
	for k := range buf {
		buf[k] = byte(k)
	}
	return &rawFile{f: f, buf: buf}
}

// writeZeros fills the first rawSize bytes of f with zeros.
func writeZeros(b *testing.B, f io.WriterAt) {
	zero := make([]byte, 1<<20)
	for off := int64(0); off < rawSize; off += int64(len(zero)) {
		if _, err := f.WriteAt(zero, off); err != nil {
			b.Fatal(err)
		}
	}
}

// writeSync writes the payload bytes at the next offset and fdatasyncs.
func (r *rawFile) writeSync(b *testing.B) {
	if r.off+int64(len(r.buf)) > rawSize {
		r.off = 0
	}
	if _, err := r.f.WriteAt(r.buf, r.off); err != nil {
		b.Fatal(err)
	}
	if err := r.f.Sync(); err != nil {
		b.Fatal(err)
	}
	r.off += int64(len(r.buf))
}

func u64(v uint64) *uint64 { return &v }
