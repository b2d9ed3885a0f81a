// Package e2e tests raftkv as users run it: the real server binary, several
// processes on loopback, driven through the HTTP API, the Go client and the
// CLI.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickraft/raft/examples/raftkv/internal/cluster"
)

var bins map[string]string

// TestMain builds the binaries once for every test.
func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "raftkv-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins, err = cluster.Build(dir, "raftkv", "raftkv-cli")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fastArgs make elections and snapshots quick: a 50ms tick, snapshots
// every 100 entries keeping 20.
var fastArgs = []string{"-tick", "50ms", "-snapshot-entries", "100", "-compaction-tail", "20", "-log-level", "info"}

// newCluster adds n nodes (not started); on failure the nodes' logs are
// printed. Every process is killed at the end.
func newCluster(t *testing.T, sm string, n int, args ...string) *cluster.Cluster {
	t.Helper()
	dir := t.TempDir()
	c := cluster.New(bins["raftkv"], dir, sm, append(append([]string{}, fastArgs...), args...)...)
	for id := uint64(1); id <= uint64(n); id++ {
		if _, err := c.Add(id); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c.KillAll()
		if t.Failed() {
			for _, n := range c.Nodes() {
				b, _ := os.ReadFile(n.LogPath)
				lines := strings.Split(string(b), "\n")
				if len(lines) > 40 {
					lines = lines[len(lines)-40:]
				}
				t.Logf("--- node %d log (last lines, %s):\n%s", n.ID, filepath.Base(n.LogPath), strings.Join(lines, "\n"))
			}
		}
	})
	return c
}

// started is newCluster, bootstrapped (node 1 init, the rest added as
// learners and promoted).
func started(t *testing.T, sm string, n int, args ...string) *cluster.Cluster {
	t.Helper()
	c := newCluster(t, sm, n, args...)
	if err := c.Bootstrap(ctx(t)); err != nil {
		t.Fatal(err)
	}
	return c
}

// ctx is a test's deadline for one phase: generous, the machine is shared.
// killLeaderUnderLoad SIGKILLs c's leader while writers run, waits for
// them and reports every error they sent (errs is closed here).
func killLeaderUnderLoad(t *testing.T, x context.Context, c *cluster.Cluster, writers *sync.WaitGroup, errs chan error) {
	t.Helper()
	l, err := c.Leader(x)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Kill(); err != nil {
		t.Fatal(err)
	}
	writers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return c
}
