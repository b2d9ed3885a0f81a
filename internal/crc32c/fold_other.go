//go:build !amd64

package crc32c

var canFold = false

// k2048 is amd64's; TestFoldConstants checks it there.
var k2048 [8]uint64

func fold256(uint32, []byte, *[256]byte) { panic("crc32c: no fold on this architecture") }
