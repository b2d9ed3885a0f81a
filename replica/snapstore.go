package replica

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tickraft/raft/vfs"
)

// SnapshotStore keeps state machine snapshots, named by the index and
// term of the last entry they cover.
type SnapshotStore interface {
	// Save stores the snapshot that write produces. It is visible to Open
	// only once Save returned nil (whole and, for a disk store, synced).
	Save(index, term uint64, write func(w io.Writer) error) error
	// Open returns a reader of a stored snapshot and its size.
	Open(index, term uint64) (io.ReadCloser, int64, error)
	// Prune removes the snapshots older than index.
	Prune(index uint64) error
}

// ErrSnapshotNotFound is returned by SnapshotStore.Open for a snapshot it
// does not hold.
var ErrSnapshotNotFound = errors.New("replica: snapshot not found")

// ErrSnapshotCorrupt is returned by DirSnapshots.Open for a file whose
// trailer is missing or whose contents fail its checksum: a snapshot that
// must not be installed or sent.
var ErrSnapshotCorrupt = errors.New("replica: snapshot file corrupt")

// A DirSnapshots file is the snapshot's bytes followed by a trailer:
// the payload's length (8 bytes, little endian), its CRC-32C (4 bytes) and
// trailerMagic. Open checks all three before returning a reader, so a file
// that rotted or was cut short on disk is reported, never restored.
const (
	trailerMagic = "tksn"
	trailerSize  = 8 + 4 + len(trailerMagic)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crcWriter passes writes on and keeps their length and CRC-32C.
type crcWriter struct {
	w   io.Writer
	n   uint64
	crc uint32
}

func (c *crcWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += uint64(n)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	return n, err
}

// trailer returns the trailer of what was written so far.
func (c *crcWriter) trailer() []byte {
	b := make([]byte, 0, trailerSize)
	b = binary.LittleEndian.AppendUint64(b, c.n)
	b = binary.LittleEndian.AppendUint32(b, c.crc)
	return append(b, trailerMagic...)
}

type snapKey struct{ index, term uint64 }

// MemorySnapshots is a SnapshotStore in memory.
type MemorySnapshots struct {
	mu    sync.Mutex
	snaps map[snapKey][]byte
}

// NewMemorySnapshots returns an empty in-memory snapshot store.
func NewMemorySnapshots() *MemorySnapshots {
	return &MemorySnapshots{snaps: map[snapKey][]byte{}}
}

// Save implements SnapshotStore.
func (s *MemorySnapshots) Save(index, term uint64, write func(io.Writer) error) error {
	var b bytes.Buffer
	if err := write(&b); err != nil {
		return err
	}
	s.mu.Lock()
	s.snaps[snapKey{index, term}] = b.Bytes()
	s.mu.Unlock()
	return nil
}

// Open implements SnapshotStore.
func (s *MemorySnapshots) Open(index, term uint64) (io.ReadCloser, int64, error) {
	s.mu.Lock()
	b, ok := s.snaps[snapKey{index, term}]
	s.mu.Unlock()
	if !ok {
		return nil, 0, fmt.Errorf("%w: index %d term %d", ErrSnapshotNotFound, index, term)
	}
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}

// Prune implements SnapshotStore.
func (s *MemorySnapshots) Prune(index uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.snaps {
		if k.index < index {
			delete(s.snaps, k)
		}
	}
	return nil
}

// DirSnapshots is a SnapshotStore of files in a directory, written to a
// temporary file, synced, renamed into place and made durable with a sync
// of the directory.
type DirSnapshots struct {
	fs  vfs.FS
	dir string
	// seq names temporary files.
	seq atomic.Uint64
}

// NewDirSnapshots returns a store in dir on fs (nil: vfs.Default),
// creating the directory if needed and removing leftover temporary files.
func NewDirSnapshots(fs vfs.FS, dir string) (*DirSnapshots, error) {
	if fs == nil {
		fs = vfs.Default
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	names, err := fs.List(dir)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if strings.HasSuffix(n, ".tmp") {
			if err := fs.Remove(filepath.Join(dir, n)); err != nil {
				return nil, err
			}
		}
	}
	return &DirSnapshots{fs: fs, dir: dir}, nil
}

func (s *DirSnapshots) name(index, term uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016x-%016x.snap", term, index))
}

// Save implements SnapshotStore.
func (s *DirSnapshots) Save(index, term uint64, write func(io.Writer) error) error {
	tmp := filepath.Join(s.dir, fmt.Sprintf("%016x-%016x-%d.tmp", term, index, s.seq.Add(1)))
	f, err := s.fs.Create(tmp)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = s.fs.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 64<<10)
	cw := &crcWriter{w: w}
	if err := write(cw); err != nil {
		return err
	}
	if _, err := w.Write(cw.trailer()); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	ok = true
	if err := s.fs.Rename(tmp, s.name(index, term)); err != nil {
		return err
	}
	return s.fs.SyncDir(s.dir)
}

// Open implements SnapshotStore. It reads the whole file once to check its
// trailer and checksum, and fails with ErrSnapshotCorrupt naming the file
// if they do not match; the reader it returns gives the payload only.
func (s *DirSnapshots) Open(index, term uint64) (io.ReadCloser, int64, error) {
	name := s.name(index, term)
	st, err := s.fs.Stat(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, fmt.Errorf("%w: index %d term %d", ErrSnapshotNotFound, index, term)
	}
	if err != nil {
		return nil, 0, err
	}
	f, err := s.fs.Open(name)
	if err != nil {
		return nil, 0, err
	}
	n, err := verifySnapshot(f, st.Size())
	if err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("%w: %s: %v", ErrSnapshotCorrupt, name, err)
	}
	return readCloser{io.NewSectionReader(f, 0, n), f}, n, nil
}

// verifySnapshot checks the trailer and the checksum of a snapshot file of
// size bytes and returns its payload's length.
func verifySnapshot(f io.ReaderAt, size int64) (int64, error) {
	if size < int64(trailerSize) {
		return 0, fmt.Errorf("%d bytes, shorter than its %d-byte trailer", size, trailerSize)
	}
	t := make([]byte, trailerSize)
	if _, err := f.ReadAt(t, size-int64(trailerSize)); err != nil {
		return 0, fmt.Errorf("reading the trailer: %w", err)
	}
	if string(t[12:]) != trailerMagic {
		return 0, fmt.Errorf("no trailer (magic %q)", t[12:])
	}
	n := binary.LittleEndian.Uint64(t)
	if n != uint64(size)-uint64(trailerSize) {
		return 0, fmt.Errorf("trailer says %d payload bytes, the file holds %d", n, size-int64(trailerSize))
	}
	h := crc32.New(castagnoli)
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, int64(n))); err != nil {
		return 0, fmt.Errorf("reading: %w", err)
	}
	if got, want := h.Sum32(), binary.LittleEndian.Uint32(t[8:]); got != want {
		return 0, fmt.Errorf("checksum %08x, trailer says %08x", got, want)
	}
	return int64(n), nil
}

// readCloser reads from one thing and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}

// Prune implements SnapshotStore.
func (s *DirSnapshots) Prune(index uint64) error {
	names, err := s.fs.List(s.dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		var term, idx uint64
		if !strings.HasSuffix(n, ".snap") {
			continue
		}
		if _, err := fmt.Sscanf(n, "%016x-%016x.snap", &term, &idx); err != nil || idx >= index {
			continue
		}
		if err := s.fs.Remove(filepath.Join(s.dir, n)); err != nil {
			return err
		}
	}
	return nil
}
