package walbench

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// BenchmarkDisk takes apart what one write + fdatasync costs on this disk,
// to tell which ways of hiding a Save's CPU behind its I/O can work:
//
//   - plain: write the bytes into the page cache, then fdatasync (raw's
//     limit in BenchmarkWAL). Metrics write-us and sync-us.
//   - split: the same bytes, with sync_file_range(WRITE|WAIT) between the
//     write and the fdatasync: transfer-us is the device writing the data,
//     flush-us the fdatasync left with the cache flush alone.
//   - halves: the bytes in two writes, each written back before the next
//     (two device requests); request-us is what the second request adds
//     over plain's one.
//   - early: write, start the write-back (sync_file_range WRITE, no
//     wait), fdatasync (early-us); and the same with the CPU spinning for
//     10 µs before the fdatasync: hidden-us is how much of the spin the
//     device absorbed (early + 10 µs - that).
//   - direct: O_DIRECT write, then fdatasync (direct-us).
//
// Iterations rotate the order; metrics are medians.
func BenchmarkDisk(b *testing.B) {
	for _, size := range []int{4 << 10, 52 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("bytes=%d", size), func(b *testing.B) { benchDisk(b, size) })
	}
}

const (
	sfrWaitBefore = 1
	sfrWrite      = 2
	sfrWaitAfter  = 4
)

func syncFileRange(b *testing.B, f *os.File, off, n int64, flags uintptr) {
	if _, _, errno := syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, f.Fd(), uintptr(off), uintptr(n), flags, 0, 0); errno != 0 {
		b.Fatal("sync_file_range:", errno)
	}
}

func fdatasync(b *testing.B, f *os.File) {
	if err := syscall.Fdatasync(int(f.Fd())); err != nil {
		b.Fatal(err)
	}
}

// zeroFile is a file of rawSize zero bytes, written and synced, as the
// wal's segments are.
func zeroFile(b *testing.B, name string) *os.File {
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	writeZeros(b, f)
	fdatasync(b, f)
	return f
}

// alignedBuffer returns n bytes at a 4 KiB-aligned address, as O_DIRECT
// needs.
func alignedBuffer(n int) []byte {
	buf := make([]byte, n+4096)
	skip := (4096 - int(uintptr(unsafe.Pointer(&buf[0]))%4096)) % 4096
	return buf[skip : skip+n]
}

func benchDisk(b *testing.B, size int) {
	dir := b.TempDir()
	buf := alignedBuffer(size)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	var files [6]*os.File
	for k := range files {
		files[k] = zeroFile(b, filepath.Join(dir, fmt.Sprint(k)))
		defer files[k].Close()
	}
	direct, err := os.OpenFile(filepath.Join(dir, "5"), os.O_RDWR|syscall.O_DIRECT, 0)
	if err != nil {
		b.Skip("no O_DIRECT here:", err)
	}
	defer direct.Close()
	files[5] = direct
	var offs [6]int64
	var lat [6][2][]time.Duration
	const spinFor = 10 * time.Microsecond
	ops := [6]func(f *os.File, off int64) (time.Duration, time.Duration){
		func(f *os.File, off int64) (time.Duration, time.Duration) { // plain
			t0 := time.Now()
			f.WriteAt(buf, off)
			t1 := time.Now()
			fdatasync(b, f)
			return t1.Sub(t0), time.Since(t1)
		},
		func(f *os.File, off int64) (time.Duration, time.Duration) { // split
			f.WriteAt(buf, off)
			t0 := time.Now()
			syncFileRange(b, f, off, int64(size), sfrWaitBefore|sfrWrite|sfrWaitAfter)
			t1 := time.Now()
			fdatasync(b, f)
			return t1.Sub(t0), time.Since(t1)
		},
		func(f *os.File, off int64) (time.Duration, time.Duration) { // halves
			t0 := time.Now()
			h := size / 2
			f.WriteAt(buf[:h], off)
			syncFileRange(b, f, off, int64(h), sfrWaitBefore|sfrWrite|sfrWaitAfter)
			f.WriteAt(buf[h:], off+int64(h))
			fdatasync(b, f)
			return time.Since(t0), 0
		},
		func(f *os.File, off int64) (time.Duration, time.Duration) { // early
			t0 := time.Now()
			f.WriteAt(buf, off)
			syncFileRange(b, f, off, int64(size), sfrWrite)
			fdatasync(b, f)
			return time.Since(t0), 0
		},
		func(f *os.File, off int64) (time.Duration, time.Duration) { // early, spinning
			t0 := time.Now()
			f.WriteAt(buf, off)
			syncFileRange(b, f, off, int64(size), sfrWrite)
			for s := time.Now(); time.Since(s) < spinFor; {
			}
			fdatasync(b, f)
			return time.Since(t0), 0
		},
		func(f *os.File, off int64) (time.Duration, time.Duration) { // direct
			t0 := time.Now()
			if _, err := f.WriteAt(buf, off); err != nil {
				b.Fatal(err)
			}
			fdatasync(b, f)
			return time.Since(t0), 0
		},
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range ops {
			k := (i + j) % len(ops)
			if offs[k]+int64(size) > rawSize {
				offs[k] = 0
			}
			x, y := ops[k](files[k], offs[k])
			lat[k][0], lat[k][1] = append(lat[k][0], x), append(lat[k][1], y)
			offs[k] += int64(size+4095) &^ 4095
		}
	}
	b.StopTimer()
	m := func(k, c int) float64 { return us(median(lat[k][c])) }
	plain := m(0, 0) + m(0, 1)
	b.ReportMetric(m(0, 0), "write-us")
	b.ReportMetric(m(0, 1), "sync-us")
	b.ReportMetric(m(1, 0), "transfer-us")
	b.ReportMetric(m(1, 1), "flush-us")
	b.ReportMetric(m(2, 0)-plain, "request-us")
	b.ReportMetric(m(3, 0), "early-us")
	b.ReportMetric(m(3, 0)+us(spinFor)-m(4, 0), "hidden-us")
	b.ReportMetric(m(5, 0), "direct-us")
}
