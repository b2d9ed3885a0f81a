//go:build linux && (amd64 || arm64 || riscv64 || s390x)

package vfs

const writebackOS = true
