package replica

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
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
	if err := write(w); err != nil {
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

// Open implements SnapshotStore.
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
	return f, st.Size(), nil
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
