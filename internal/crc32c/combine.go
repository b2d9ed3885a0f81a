package crc32c

// Combine returns the CRC-32C of the concatenation a+b from crcA, the
// CRC-32C of a, crcB, that of b, and the length of b: crcA carried through
// len(b) zero bytes (a multiplication by x^(8*len(b)) modulo the
// polynomial), added to crcB. Both are checksums as Update computes them,
// with the initial and final inversions, which cancel out here. It lets a
// record's payload be checksummed while it is encoded, before the header
// that precedes it in the checksum is known.
func Combine(crcA, crcB uint32, lenB int) uint32 {
	return gfMul(x8nModP(uint64(lenB)), crcA) ^ crcB
}

// castagnoliReversed is the CRC-32C polynomial, bit-reversed as hash/crc32
// uses it (crc32.Castagnoli).
const castagnoliReversed = 0x82f63b78

// gfMul multiplies a and b modulo the polynomial, in the reflected bit order
// of the CRC (the bit of x^0 is the top one).
func gfMul(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ castagnoliReversed
		} else {
			b >>= 1
		}
	}
	return p
}

// xPow2 holds x^(2^k) modulo the polynomial for k < 64.
var xPow2 = func() (t [64]uint32) {
	t[0] = 1 << 30 // x^1
	for k := 1; k < len(t); k++ {
		t[k] = gfMul(t[k-1], t[k-1])
	}
	return t
}()

// x8nModP returns x^(8n) modulo the polynomial.
func x8nModP(n uint64) uint32 {
	p := uint32(1) << 31 // x^0
	for k := 3; n != 0; k, n = k+1, n>>1 {
		if n&1 != 0 {
			p = gfMul(xPow2[k], p)
		}
	}
	return p
}
