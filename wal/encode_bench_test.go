package wal

import (
	"fmt"
	"testing"
)

// BenchmarkEncodeEntries is the encoding of one Save's entries into a
// record (payloads of refMin bytes or more are referred to, not copied) and
// its checksum, without I/O: the CPU cost BenchmarkSave pays per batch
// before the write.
func BenchmarkEncodeEntries(b *testing.B) {
	for _, bb := range benchBatches {
		if bb.n < 128 {
			continue
		}
		b.Run(fmt.Sprintf("entries=%d/size=%d", bb.n, bb.size), func(b *testing.B) {
			es := benchEntries(1, bb.n, bb.size)
			var f frame
			var sizes []uint32
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				f.begin(0)
				sizes = appendEntries(&f, es, sizes[:0])
				f.finish(recBatch, 1)
				f.release()
			}
		})
	}
}
