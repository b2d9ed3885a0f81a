//go:build unix

package wal

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// lockChildEnv tells the test binary, run again as a child, to hold a WAL
// open on the directory it names until killed.
const lockChildEnv = "TICKRAFT_WAL_LOCK_CHILD_DIR"

// TestLockChild is the child's part of TestLockReleasedWhenKilled: it opens
// the WAL, says so, and waits (for a SIGKILL) reading its stdin.
func TestLockChild(t *testing.T) {
	dir := os.Getenv(lockChildEnv)
	if dir == "" {
		t.Skip("run by TestLockReleasedWhenKilled as a child process")
	}
	w, err := Open(dir, Options{SegmentSize: 64 << 10, PreallocateInline: true, UnsafeNoSync: true})
	if err != nil {
		os.Stdout.WriteString("error: " + err.Error() + "\n")
		os.Exit(2)
	}
	os.Stdout.WriteString("locked\n")
	io.Copy(io.Discard, os.Stdin)
	w.Close()
}

// TestLockReleasedWhenKilled: another process holding the WAL open excludes
// this one, and once it is SIGKILLed (no Close, no cleanup: the LOCK file
// stays) the kernel has released the lock and Open succeeds.
func TestLockReleasedWhenKilled(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockChild$")
	cmd.Env = append(os.Environ(), lockChildEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q, %v", line, err)
	}
	opts := Options{SegmentSize: 64 << 10, PreallocateInline: true, UnsafeNoSync: true}
	_, err = Open(dir, opts)
	checkLocked(t, err, dir)

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("the child exited cleanly; it should have been killed")
	}
	if _, err := os.Stat(dir + "/" + lockFile); err != nil {
		t.Fatalf("the lock file should outlive its holder: %v", err)
	}
	w, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open after the holder was killed: %v", err)
	}
	w.Close()
}
