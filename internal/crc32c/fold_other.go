//go:build !amd64

package crc32c

var canFold = false

func fold256(uint32, []byte, *[256]byte) { panic("crc32c: no fold on this architecture") }
