package crc32c

import (
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// checkAgainstHash compares Update with hash/crc32 on p from every offset
// in [0, 64) (alignment) and with a few initial values.
func checkAgainstHash(t *testing.T, p []byte) {
	t.Helper()
	for off := 0; off < 64 && off <= len(p); off += 1 + off/8 {
		for _, crc := range []uint32{0, 1, 0xffffffff, 0x9a3c51e7} {
			q := p[off:]
			if got, want := Update(crc, q), crc32.Update(crc, Table, q); got != want {
				t.Fatalf("Update(%#x, %d bytes at offset %d) = %#x, hash/crc32 says %#x (fold %v)", crc, len(q), off, got, want, canFold)
			}
		}
	}
}

// TestUpdateMatchesHashCRC32 covers lengths around every bound of the fold
// (the minimum, the 256-byte blocks) and long inputs, on both paths.
func TestUpdateMatchesHashCRC32(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	buf := make([]byte, 1<<20+300)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	var lens []int
	for _, base := range []int{0, 256, 512, foldMin, 2048, 4096, 65536, 1 << 20} {
		for d := -2; d <= 2; d++ {
			if base+d >= 0 {
				lens = append(lens, base+d)
			}
		}
	}
	for i := 0; i < 40; i++ {
		lens = append(lens, r.IntN(70000))
	}
	for _, fold := range []bool{true, false} {
		if fold && !canFold {
			t.Log("this CPU cannot fold: only the hash/crc32 path is checked")
			continue
		}
		saved := canFold
		canFold = fold
		for _, n := range lens {
			checkAgainstHash(t, buf[:n+64][:n+min(64, n)])
		}
		canFold = saved
	}
}

// FuzzUpdate compares Update with hash/crc32 on arbitrary bytes.
func FuzzUpdate(f *testing.F) {
	f.Add(uint32(0), make([]byte, 3000))
	f.Add(uint32(0xffffffff), []byte("tickraft"))
	f.Fuzz(func(t *testing.T, crc uint32, p []byte) {
		if got, want := Update(crc, p), crc32.Update(crc, Table, p); got != want {
			t.Fatalf("Update(%#x, %d bytes) = %#x, hash/crc32 says %#x", crc, len(p), got, want)
		}
	})
}

func BenchmarkUpdate(b *testing.B) {
	for _, n := range []int{4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10, 1 << 20} {
		p := make([]byte, n)
		b.Run(fmt.Sprintf("crc32c/%dKiB", n>>10), func(b *testing.B) {
			b.SetBytes(int64(n))
			for i := 0; i < b.N; i++ {
				Update(0, p)
			}
		})
		b.Run(fmt.Sprintf("hash-crc32/%dKiB", n>>10), func(b *testing.B) {
			b.SetBytes(int64(n))
			for i := 0; i < b.N; i++ {
				crc32.Update(0, Table, p)
			}
		})
	}
}
