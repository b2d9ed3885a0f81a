package hashicorp

import (
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/tickraft/raft/bench/driver"
)

func TestClusterReplicates(t *testing.T) {
	const puts, clients = 400, 8
	sys, err := Start(driver.Options{TickInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Stop()
	s := sys.(*system)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for k := range clients {
		p, err := sys.NewPutter()
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < puts; i += clients {
				if err := p.Put(fmt.Appendf(nil, "key-%012d", i), fmt.Appendf(nil, "val-%012d", i)); err != nil {
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
	// Every put returned once applied on the leader; wait for the
	// followers.
	deadline := time.Now().Add(5 * time.Second)
	for sys.ApplyLag() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if lag := sys.ApplyLag(); lag != 0 {
		t.Fatalf("followers still %d entries behind", lag)
	}
	st := sys.Stats()
	sys.Stop()
	if st.LeaderChanges != 1 || st.Retries != 0 || st.Snapshots != 0 {
		t.Errorf("stats %+v: want 1 leader change and no retry or snapshot", st)
	}
	kv := s.fsms[0].kv
	if len(kv) != puts {
		t.Fatalf("node 1 holds %d keys, want %d", len(kv), puts)
	}
	for i := range puts {
		if got, want := kv[fmt.Sprintf("key-%012d", i)], fmt.Sprintf("val-%012d", i); got != want {
			t.Fatalf("key %d = %q, want %q", i, got, want)
		}
	}
	for i, f := range s.fsms[1:] {
		if !maps.Equal(kv, f.kv) {
			t.Errorf("node %d's map differs from node 1's", i+2)
		}
	}
}
