//go:build !linux

package vfs

const vectoredOS = false
