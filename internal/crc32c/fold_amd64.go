package crc32c

// k2048 holds, for each 128-bit lane of a 512-bit register, the fold
// constants for a distance of 2048 bits: x^(2048+32) and x^(2048-32) modulo
// the polynomial, bit-reflected and shifted left by one, as the reflected
// algorithm takes them (low quadword, high quadword). TestFoldConstants
// derives them.
var k2048 = [8]uint64{
	0xdcb17aa4, 0xb9e02b86, 0xdcb17aa4, 0xb9e02b86,
	0xdcb17aa4, 0xb9e02b86, 0xdcb17aa4, 0xb9e02b86,
}

// canFold reports that the CPU has AVX-512 (foundation) and VPCLMULQDQ and
// the operating system saves the 512-bit registers. Tests turn it off to
// check the other path.
var canFold = func() bool {
	_, _, c1, _ := cpuid(1, 0)
	if c1&(1<<27) == 0 { // OSXSAVE: xgetbv is there
		return false
	}
	// XCR0: SSE, AVX, and the three AVX-512 states (opmask, the upper
	// halves of ZMM0-15, ZMM16-31) enabled by the OS.
	if xcr0, _ := xgetbv(); xcr0&0xe6 != 0xe6 {
		return false
	}
	max, _, _, _ := cpuid(0, 0)
	if max < 7 {
		return false
	}
	_, b7, c7, _ := cpuid(7, 0)
	return b7&(1<<16) != 0 && c7&(1<<10) != 0 // AVX512F, VPCLMULQDQ
}()

// fold256 folds p (len(p) a positive multiple of 256), with crc added into
// its first four bytes, into out: 256 bytes whose CRC-32C register, started
// at zero, ends where p's does. Four 512-bit accumulators each move 256
// bytes ahead per step (x^2048 modulo the polynomial).
//
//go:noescape
func fold256(crc uint32, p []byte, out *[256]byte)

func cpuid(eax, ecx uint32) (a, b, c, d uint32)

func xgetbv() (eax, edx uint32)
