// sync_file_range(2) takes its 64-bit offsets in single registers only on
// 64-bit systems; elsewhere files have no write-back hint.

//go:build linux && (amd64 || arm64 || riscv64 || s390x)

package vfs

import (
	"os"
	"runtime"
	"syscall"
)

// syncFileRangeWrite is SYNC_FILE_RANGE_WRITE: start the write-back of the
// range's dirty pages, without waiting for any.
const syncFileRangeWrite = 2

// StartWriteback starts writing n bytes at off to the device with
// sync_file_range(2), retried on EINTR.
func (f osFile) StartWriteback(off, n int64) error {
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, f.Fd(), uintptr(off), uintptr(n), syncFileRangeWrite, 0, 0)
		runtime.KeepAlive(f)
		switch errno {
		case syscall.EINTR:
			continue
		case 0:
			return nil
		}
		return &os.PathError{Op: "sync_file_range", Path: f.Name(), Err: errno}
	}
}
