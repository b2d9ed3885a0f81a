package chaos

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	chaosSeed     = flag.Uint64("chaos.seed", 1, "seed of the short chaos run")
	chaosDuration = flag.Duration("chaos.duration", 40*time.Second, "fault campaign of the short chaos run")
)

// binaries are built once per set of build tags.
var binaries sync.Map // tags -> *binary

type binary struct {
	once sync.Once
	path string
	err  error
}

// binDir holds the binaries for the whole test binary's run.
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	var err error
	if binDir, err = os.MkdirTemp("", "raftkv-chaos-bin-"); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

func build(t *testing.T, tags string) string {
	t.Helper()
	dir := filepath.Join(binDir, "tags-"+tags)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	v, _ := binaries.LoadOrStore(tags, &binary{})
	b := v.(*binary)
	b.once.Do(func() { b.path, b.err = Build(dir, tags) })
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func logf(t *testing.T) func(string, ...any) {
	return func(format string, args ...any) { t.Logf(format, args...) }
}

// TestChaosShort is the chaos run of make test: every fault kind the time
// allows, against three real processes, and every check.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real processes for a minute")
	}
	cfg := Config{Seed: *chaosSeed, Duration: *chaosDuration, Bin: build(t, ""),
		LeaseReads: *chaosSeed%2 == 0, Logf: logf(t)}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Summary())
	if res.Failed() {
		t.Fatalf("violations (everything is in %s):\n%s", res.Dir, strings.Join(res.Violations, "\n"))
	}
	if res.AckVerified == 0 || res.Ops == 0 || len(res.Faults) < 5 {
		t.Fatalf("the run checked too little: %s", res.Summary())
	}
}

// TestPlantedBugsAreCaught runs a build with a deliberate bug and expects
// the run to fail for the right reason: that is what shows the checks can
// fail.
func TestPlantedBugsAreCaught(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real processes")
	}
	bin := build(t, "chaosbugs")
	for _, tc := range []struct {
		bug    string
		faults []string
		snaps  int // -snapshot-entries
		sm     string
		want   []string // a violation must contain one of these
	}{
		// Reads served by a minority's stale follower or deposed leader.
		{"stale-reads", []string{Partition, IsolateLeader, OneWay}, 0, "", []string{"linearizability"}},
		// Writes acknowledged before they are durable, then every node
		// loses power. The memory state machine and no snapshots: with
		// pebble (which keeps its applied index) or a snapshot taken, the
		// replica notices at restart that its log lost entries and refuses
		// to start, which hides what was lost behind unavailability.
		{"ack-before-fsync", []string{PowerLoss}, 1 << 30, "memory", []string{"linearizability", "acknowledged write lost"}},
	} {
		t.Run(tc.bug, func(t *testing.T) {
			cfg := Config{Seed: 1, Duration: 10 * time.Second, Bin: bin, PlantedBug: tc.bug, Faults: tc.faults,
				SnapshotEntries: tc.snaps, SM: tc.sm, RecoveryBound: 5 * time.Second, Dir: t.TempDir(), Logf: logf(t)}
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Log(res.Summary())
			for _, v := range res.Violations {
				for _, w := range tc.want {
					if strings.Contains(v, w) {
						t.Logf("caught: %s", v)
						return
					}
				}
			}
			t.Fatalf("planted bug %s not caught (violations: %v)", tc.bug, res.Violations)
		})
	}
}

// TestLeaseReadsBeyondTheSkewBound shows the bound the lease documents is
// real: a leader whose ticks run three times slower than the others'
// keeps serving lease reads after the others elected a new leader, and
// the run catches the stale reads. (Within the bound the skew fault is
// part of every run with -lease-reads.)
func TestLeaseReadsBeyondTheSkewBound(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real processes")
	}
	cfg := Config{Seed: 1, Duration: 12 * time.Second, Bin: build(t, ""), LeaseReads: true,
		Faults: []string{Skew}, Skews: []float64{3}, Dir: t.TempDir(), Logf: logf(t)}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Summary())
	if res.Linear != "Illegal" {
		t.Fatalf("a leader three times slower served no stale lease read: %s (violations %v)", res.Summary(), res.Violations)
	}
}
