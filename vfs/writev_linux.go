package vfs

import (
	"io"
	"math/bits"
	"os"
	"runtime"
	"syscall"
	"unsafe"
)

// iovMax is IOV_MAX on Linux: the most buffers one pwritev(2) takes.
const iovMax = 1024

// WriteVAt writes bufs at off with pwritev(2), up to iovMax buffers per
// call, continuing after short writes.
func (f osFile) WriteVAt(bufs [][]byte, off int64) (int, error) {
	// On the stack: 16 KiB, and no allocation per write.
	var iov [iovMax]syscall.Iovec
	done := 0
	for len(bufs) > 0 {
		n := 0
		for _, b := range bufs {
			if n == len(iov) {
				break
			}
			if len(b) > 0 {
				iov[n] = syscall.Iovec{Base: &b[0]}
				iov[n].SetLen(len(b))
				n++
			}
		}
		if n == 0 {
			break
		}
		m, err := pwritev(f.File, iov[:n], off)
		if err != nil {
			return done, &os.PathError{Op: "pwritev", Path: f.Name(), Err: err}
		}
		if m == 0 {
			return done, &os.PathError{Op: "pwritev", Path: f.Name(), Err: io.ErrShortWrite}
		}
		done += m
		off += int64(m)
		bufs = advance(bufs, m)
	}
	return done, nil
}

// advance drops the first m bytes from bufs. A write that ended inside a
// buffer (a short write: rare) gets a new list rather than a change to the
// caller's.
func advance(bufs [][]byte, m int) [][]byte {
	for len(bufs) > 0 && m >= len(bufs[0]) {
		m -= len(bufs[0])
		bufs = bufs[1:]
	}
	if m > 0 {
		bufs = append([][]byte{bufs[0][m:]}, bufs[1:]...)
	}
	return bufs
}

// pwritev makes one pwritev(2) call, retried on EINTR.
func pwritev(f *os.File, iov []syscall.Iovec, off int64) (int, error) {
	// The kernel takes the offset as two longs; on 64-bit systems the
	// high one is ignored (shifting by the whole width in two halves
	// gives 0 there, the high 32 bits on 32-bit systems).
	lo, hi := uintptr(off), uintptr(uint64(off)>>(bits.UintSize/2)>>(bits.UintSize/2))
	for {
		n, _, errno := syscall.Syscall6(syscall.SYS_PWRITEV, f.Fd(),
			uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)), lo, hi, 0)
		runtime.KeepAlive(f)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return 0, errno
		}
		return int(n), nil
	}
}
