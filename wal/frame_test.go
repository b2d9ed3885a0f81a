package wal

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// TestRunningSumMatchesWhole encodes batches whose payloads straddle the
// checksum's chunk and the by-reference bound, and checks the header's
// checksum against one taken over the finished record.
func TestRunningSumMatchesWhole(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var f frame
	var sizes []uint32
	for round := 0; round < 200; round++ {
		n := 1 + r.IntN(300)
		ents := benchEntries(uint64(1+r.IntN(1000)), n, 0)
		for _, e := range ents {
			switch r.IntN(4) {
			case 0:
				e.Data = make([]byte, r.IntN(64))
			case 1:
				e.Data = make([]byte, r.IntN(2*sumChunk))
			case 2:
				e.Data = make([]byte, refMin+r.IntN(refMin))
			default:
				e.Data = nil
			}
			for i := range e.Data {
				e.Data[i] = byte(r.Uint32())
			}
		}
		f.begin(int64(r.IntN(1 << 20)))
		sizes = appendEntries(&f, ents, sizes[:0])
		plen := f.payloadLen()
		f.finish(recBatch, uint64(round+1))
		rec := f.bytes()
		whole := crc32.Checksum(rec[4:headerSize+plen], castagnoli)
		if got := uint32(rec[0]) | uint32(rec[1])<<8 | uint32(rec[2])<<16 | uint32(rec[3])<<24; got != whole {
			t.Fatalf("round %d: header checksum %08x, checksum of the record %08x", round, got, whole)
		}
		f.release()
	}
}
