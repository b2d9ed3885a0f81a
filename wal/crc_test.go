package wal

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// TestCRCCombine checks crcCombine against the checksum of the
// concatenation, over lengths from empty to past a few MiB, where the
// exponent's higher bits come in.
func TestCRCCombine(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	lens := []int{0, 1, 2, 3, 7, 8, 12, 15, 16, 63, 64, 100, 1000, 4096, 65537, 1 << 20, 3<<20 + 5}
	for _, la := range lens {
		for _, lb := range lens {
			if la+lb > 4<<20 {
				continue
			}
			buf := make([]byte, la+lb)
			for i := range buf {
				buf[i] = byte(r.Uint32())
			}
			a, b := buf[:la], buf[la:]
			want := crc32.Checksum(buf, castagnoli)
			got := crcCombine(crc32.Checksum(a, castagnoli), crc32.Checksum(b, castagnoli), lb)
			if got != want {
				t.Fatalf("crcCombine over %d+%d bytes = %08x, the checksum of the whole is %08x", la, lb, got, want)
			}
		}
	}
}

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
