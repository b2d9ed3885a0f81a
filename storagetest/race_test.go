//go:build race

package storagetest_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/tickraft/raft/storagetest"
)

// In race-enabled builds the suite must catch a store that is right on one
// goroutine but has no synchronization: the suite's model, as a store. The
// child process stops at the first race the detector reports
// (GORACE=halt_on_error=1: an unsynchronized read could otherwise crash it
// first), and that must be in the Concurrent check, every check before it
// having passed.
func init() {
	brokenStores["Unsynchronized"] = brokenStore{harness: storagetest.Harness{
		Open: func(testing.TB, string) (storagetest.Store, error) { return storagetest.NewUnsyncedStore(), nil },
	}}
}

// checkMessage is a line a failing check prints: "    file.go:123: ...".
var checkMessage = regexp.MustCompile(`(?m)^\s+\w+\.go:\d+: .*$`)

func TestUnsynchronizedStoreIsCaught(t *testing.T) {
	if os.Getenv(brokenEnv) != "" {
		t.Skip("in the child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenStoreHelper$", "-test.v", "-test.count=1", "-test.timeout=5m")
	// Halting skips the child's cleanup: its temporary directories go
	// under this test's, which is removed.
	cmd.Env = append(os.Environ(), brokenEnv+"=Unsynchronized", "GORACE=halt_on_error=1", "TMPDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed a store with no synchronization:\n%s", out)
	}
	before, _, found := strings.Cut(string(out), "WARNING: DATA RACE")
	if !found {
		t.Fatalf("no data race reported (%v):\n%s", err, out)
	}
	// In -v mode a failing check's messages are printed as they happen
	// (its --- FAIL line only once the whole run ends).
	for _, msg := range checkMessage.FindAllString(before, -1) {
		if !strings.Contains(msg, "Harness.Reopen is nil") { // a skip
			t.Errorf("a check failed before the race was reported (%q):\n%s", msg, before)
		}
	}
	runs := strings.Split(before, "=== RUN")
	if len(runs) < 60 {
		t.Errorf("only %d checks ran before the race was reported:\n%s", len(runs)-1, before)
	}
	if last := runs[len(runs)-1]; !strings.Contains(last, "TestBrokenStoreHelper/Concurrent/ReadersDuringWrites") {
		t.Errorf("the race was reported outside the Concurrent check, in %q:\n%s", last, out)
	}
}
