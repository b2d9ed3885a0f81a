package crc32c

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// TestCombine checks Combine against the checksum of the
// concatenation, over lengths from empty to past a few MiB, where the
// exponent's higher bits come in.
func TestCombine(t *testing.T) {
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
			want := crc32.Checksum(buf, Table)
			got := Combine(crc32.Checksum(a, Table), crc32.Checksum(b, Table), lb)
			if got != want {
				t.Fatalf("Combine over %d+%d bytes = %08x, the checksum of the whole is %08x", la, lb, got, want)
			}
		}
	}
}
