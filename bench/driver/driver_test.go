package driver_test

import (
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/tickraft/raft/bench/driver"
	"github.com/tickraft/raft/bench/impls/etcd"
	"github.com/tickraft/raft/bench/impls/tickraft"
)

var impls = []driver.Impl{tickraft.Impl{}, etcd.Impl{}}

func key(i int) []byte   { return fmt.Appendf(nil, "key-%012d", i) }
func value(i int) []byte { return fmt.Appendf(nil, "val-%012d", i) }

// putAll issues n puts from clients concurrent clients, client c putting
// keys c, c+clients, ...
func putAll(t *testing.T, c *driver.Cluster, n, clients int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for k := range clients {
		cl, err := c.NewClient()
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < n; i += clients {
				if err := cl.Put(key(i), value(i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func startCluster(t *testing.T, impl driver.Impl, opts driver.Options) *driver.Cluster {
	t.Helper()
	c, err := driver.StartCluster(impl, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	lead, err := c.WaitLeader(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if lead != 1 {
		t.Errorf("leader is node %d, want node 1, which campaigned", lead)
	}
	return c
}

func TestClusterReplicates(t *testing.T) {
	const puts = 400
	for _, impl := range impls {
		t.Run(impl.Name(), func(t *testing.T) {
			c := startCluster(t, impl, driver.Options{})
			putAll(t, c, puts, 8)
			// 3 bootstrap entries, the leader's empty entry, the puts.
			want := uint64(3 + 1 + puts)
			if err := c.WaitApplied(want, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			if lag := c.ApplyLag(); lag != 0 {
				t.Errorf("apply lag %d once every node applied %d", lag, want)
			}
			st := c.Stats()
			c.Stop()
			for i := range c.Nodes() {
				if got := c.Applied(i); got != want {
					t.Errorf("node %d applied %d, want %d (no put may be retried here)", i+1, got, want)
				}
			}
			kv := c.KV(0)
			if len(kv) != puts {
				t.Fatalf("node 1 holds %d keys, want %d", len(kv), puts)
			}
			for i := range puts {
				if got := kv[string(key(i))]; got != string(value(i)) {
					t.Fatalf("node 1: %s = %q, want %q", key(i), got, value(i))
				}
			}
			for i := 1; i < c.Nodes(); i++ {
				if !maps.Equal(kv, c.KV(i)) {
					t.Errorf("node %d's map differs from node 1's", i+1)
				}
			}
			// Every put reaches both followers, but a library may batch
			// several puts into one append: count only that messages flowed,
			// at least one append and one answer per follower.
			if st.Messages < 4 {
				t.Errorf("%d messages counted for %d puts, want at least an append and an answer per follower", st.Messages, puts)
			}
			if st.LeaderChanges != 1 || st.Retries != 0 || st.StepErrors != 0 || st.Snapshots != 0 || st.Compactions != 0 {
				t.Errorf("stats %+v: want 1 leader change and no retry, step error, snapshot or compaction", st)
			}
			if err := c.Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestClusterCompacts(t *testing.T) {
	const puts, every = 600, 100
	for _, impl := range impls {
		t.Run(impl.Name(), func(t *testing.T) {
			c := startCluster(t, impl, driver.Options{CompactEvery: every})
			putAll(t, c, puts, 4)
			want := uint64(3 + 1 + puts)
			if err := c.WaitApplied(want, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			st := c.Stats()
			c.Stop()
			// A snapshot at least every 100 applied entries (more when a
			// batch crosses the threshold), the log cut to 50 entries
			// behind it.
			if min := uint64(c.Nodes() * 3); st.Compactions < min {
				t.Errorf("%d compactions, want at least %d", st.Compactions, min)
			}
			for i := range c.Nodes() {
				if fi := c.FirstIndex(i); fi < want-every-every/2 {
					t.Errorf("node %d's log starts at %d after %d applied entries: not compacted", i+1, fi, want)
				}
			}
			// A follower that fell more than 50 entries behind was sent a
			// snapshot, which does not carry the map: compare maps only
			// when none was.
			if st.Snapshots != 0 {
				t.Logf("%d snapshots sent to lagging followers; maps not compared", st.Snapshots)
				return
			}
			for i := 1; i < c.Nodes(); i++ {
				if !maps.Equal(c.KV(0), c.KV(i)) {
					t.Errorf("node %d's map differs from node 1's", i+1)
				}
			}
		})
	}
}

func TestSingleApplies(t *testing.T) {
	for _, impl := range impls {
		t.Run(impl.Name(), func(t *testing.T) {
			s, err := driver.NewSingle(impl, 20)
			if err != nil {
				t.Fatal(err)
			}
			// 1 bootstrap entry and the leader's empty entry.
			if got := s.Applied(); got != 2 {
				t.Fatalf("applied %d after election, want 2", got)
			}
			for i := range 100 {
				if err := s.Put(key(i%10), value(i)); err != nil {
					t.Fatal(err)
				}
				if got := s.Applied(); got != uint64(3+i) {
					t.Fatalf("put %d: applied %d, want %d", i, got, 3+i)
				}
			}
			kv := s.KV()
			if len(kv) != 10 {
				t.Fatalf("%d keys, want 10", len(kv))
			}
			if got := kv[string(key(9))]; got != string(value(99)) {
				t.Errorf("%s = %q, want %q", key(9), got, value(99))
			}
			if s.Compactions() == 0 || s.FirstIndex() < 80 {
				t.Errorf("%d compactions, log starts at %d: want compacted past 80", s.Compactions(), s.FirstIndex())
			}
		})
	}
}

// losing wraps an implementation so that its nodes accept every other
// proposal without proposing it: a proposal lost without a trace, which
// only the client's retry recovers.
type losing struct{ driver.Impl }

func (l losing) NewNode(cfg driver.Config) (driver.Node, error) {
	n, err := l.Impl.NewNode(cfg)
	return &losingNode{Node: n}, err
}

type losingNode struct {
	driver.Node
	n int
}

func (n *losingNode) Propose(data []byte) error {
	n.n++
	if n.n%2 == 1 {
		return nil
	}
	return n.Node.Propose(data)
}

func TestClusterRetriesLostProposals(t *testing.T) {
	const puts = 6
	const retryAfter = 40 * time.Millisecond
	for _, impl := range impls {
		t.Run(impl.Name(), func(t *testing.T) {
			c := startCluster(t, losing{impl}, driver.Options{RetryAfter: retryAfter})
			start := time.Now()
			putAll(t, c, puts, 1)
			elapsed := time.Since(start)
			st := c.Stats()
			if st.Retries != puts {
				t.Errorf("%d retries, want %d: each put's first proposal is lost", st.Retries, puts)
			}
			if elapsed < puts*retryAfter {
				t.Errorf("%d puts took %v, want at least %v: a lost put is retried after RetryAfter", puts, elapsed, puts*retryAfter)
			}
			c.Stop()
			if got := len(c.KV(0)); got != puts {
				t.Errorf("node 1 holds %d keys, want %d", got, puts)
			}
		})
	}
}
