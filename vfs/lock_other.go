//go:build !unix

package vfs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// Without flock(2) the lock only excludes other Locks in this process: a
// table of held names. The lock file is still created, so the directory
// looks the same on every platform.
var held = struct {
	sync.Mutex
	names map[string]bool
}{names: map[string]bool{}}

type processLock struct {
	name string
	once sync.Once
}

func (l *processLock) Close() error {
	l.once.Do(func() {
		held.Lock()
		delete(held.names, l.name)
		held.Unlock()
	})
	return nil
}

func (osFS) Lock(name string) (io.Closer, error) {
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	f.Close()
	held.Lock()
	defer held.Unlock()
	if held.names[abs] {
		return nil, fmt.Errorf("lock %s: %w", name, ErrLocked)
	}
	held.names[abs] = true
	return &processLock{name: abs}, nil
}
