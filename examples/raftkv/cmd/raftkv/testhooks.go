package main

// Test-only hooks for the chaos tests (examples/raftkv/chaos): kept in this
// file so the server's own flags stay apart.

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/tickraft/raft/examples/raftkv/chaos/diskfault"
	"github.com/tickraft/raft/examples/raftkv/server"
	"github.com/tickraft/raft/vfs"
)

var testDiskFaults = flag.Bool("test-disk-faults", false,
	"tests only: the wal's file system fails fsyncs or writes on request (file chaos-disk in the data dir) and journals unsynced writes so a test can simulate power loss")

// applyTestHooks sets the test-only parts of cfg from their flags.
func applyTestHooks(cfg *server.Config) error {
	if !*testDiskFaults {
		return nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return err
	}
	fs, err := diskfault.New(vfs.Default, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("-test-disk-faults: %w", err)
	}
	if chaosbugs && os.Getenv("RAFTKV_PLANTED_BUG") == "ack-before-fsync" {
		// The planted bug: writes are acknowledged before they are durable.
		fs.SetLazySync(200 * time.Millisecond)
	}
	cfg.FS = fs
	return nil
}
