package crc32c

import "testing"

// TestFoldConstants derives the fold's constants from the polynomial:
// x^(2048+32) and x^(2048-32), shifted left by one.
func TestFoldConstants(t *testing.T) {
	lo, hi := uint64(x8nModP((2048+32)/8))<<1, uint64(x8nModP((2048-32)/8))<<1
	for k := 0; k < len(k2048); k += 2 {
		if k2048[k] != lo || k2048[k+1] != hi {
			t.Fatalf("k2048 lane %d = %#x, %#x; the polynomial gives %#x, %#x", k/2, k2048[k], k2048[k+1], lo, hi)
		}
	}
}
