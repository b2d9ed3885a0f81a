package replica

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// Five replicas: the leader ends up in a minority partition; the majority
// elects a leader and goes on; the minority's proposal fails as lost once
// the partition heals; every replica converges.
func TestFiveReplicasMinorityPartition(t *testing.T) {
	c := newCluster(t, 5, nil)
	ctx := ctxT(t)
	writeKeys(t, c, ctx, "a", 20)
	old := c.leader()
	var minority, majority []uint64
	minority = append(minority, old.id)
	for id := uint64(1); id <= 5; id++ {
		switch {
		case id == old.id:
		case len(minority) < 2:
			minority = append(minority, id)
		default:
			majority = append(majority, id)
		}
	}
	c.net.Partition(minority, majority)
	errc := make(chan error, 1)
	go func() {
		_, err := old.r.Propose(ctx, []byte("minority"))
		errc <- err
	}()
	nl := c.leader(majority...)
	var last uint64
	for i := range 20 {
		res, err := nl.r.Propose(ctx, []byte(fmt.Sprintf("b%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		last = indexOf(res.(string))
	}
	// The minority cannot serve a linearizable read.
	rctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	if _, err := c.nodes[minority[1]].r.ReadIndex(rctx); err == nil {
		t.Fatal("a minority replica served a linearizable read")
	}
	cancel()
	c.net.Heal()
	if err := <-errc; !errors.Is(err, ErrProposalLost) {
		t.Fatalf("the minority's proposal returned %v, want ErrProposalLost", err)
	}
	c.waitApplied(ctx, last)
	for _, n := range c.nodes {
		if n.sm.size() != 40 || n.sm.has("minority") {
			t.Fatalf("node %d has %d keys (minority write applied: %v)", n.id, n.sm.size(), n.sm.has("minority"))
		}
	}
}
