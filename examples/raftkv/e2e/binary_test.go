package e2e

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tickraft/raft/examples/raftkv/client"
)

// TestBinaryLeaderKilled: writers share one client on the binary protocol
// while the leader is SIGKILLed. Every put-if-absent of a fresh key is
// answered OK (a retry applied twice would answer exists), and every
// acknowledged write is read back from the survivors.
func TestBinaryLeaderKilled(t *testing.T) {
	c := newCluster(t, "pebble", 3)
	c.Binary = true
	x := ctx(t)
	if err := c.Bootstrap(x); err != nil {
		t.Fatal(err)
	}
	cl := c.Client()
	defer cl.Close()
	const writers, each = 8, 50
	var done atomic.Int64
	progress := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := cl.PutIfAbsent(x, fmt.Sprintf("pia/%d/%03d", w, i), fmt.Sprint(w, i)); err != nil {
					errs <- fmt.Errorf("writer %d put %d: %w", w, i, err)
					return
				}
				if done.Add(1) == writers*each/4 {
					close(progress)
				}
			}
		}()
	}
	<-progress
	killLeaderUnderLoad(t, x, c, &wg, errs)
	sc, err := cl.Scan(x, client.ScanOptions{Prefix: "pia/", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.KVs) != writers*each {
		t.Fatalf("%d keys after the kill, want %d", len(sc.KVs), writers*each)
	}
	for _, kv := range sc.KVs {
		var w, i int
		fmt.Sscanf(kv.Key, "pia/%d/%d", &w, &i)
		if kv.Value != fmt.Sprint(w, i) {
			t.Fatalf("%s = %q", kv.Key, kv.Value)
		}
	}
}
