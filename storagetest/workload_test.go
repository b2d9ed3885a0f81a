package storagetest

import (
	"testing"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// countingStore counts the successes and failures of each write.
type countingStore struct {
	*raft.MemoryStorage
	ok, failed map[string]int
}

func (c *countingStore) count(op string, err error) error {
	if err != nil {
		c.failed[op]++
	} else {
		c.ok[op]++
	}
	return err
}

func (c *countingStore) Append(ents []*pb.Entry) error {
	return c.count("Append", c.MemoryStorage.Append(ents))
}

func (c *countingStore) SetHardState(hs *pb.HardState) error {
	return c.count("SetHardState", c.MemoryStorage.SetHardState(hs))
}

func (c *countingStore) ApplySnapshot(s *pb.Snapshot) error {
	return c.count("ApplySnapshot", c.MemoryStorage.ApplySnapshot(s))
}

func (c *countingStore) CreateSnapshot(i uint64, cs *pb.ConfState, data []byte) (*pb.Snapshot, error) {
	s, err := c.MemoryStorage.CreateSnapshot(i, cs, data)
	return s, c.count("CreateSnapshot", err)
}

func (c *countingStore) Compact(i uint64) error {
	return c.count("Compact", c.MemoryStorage.Compact(i))
}

// The random workloads reach every write both when it succeeds and when it
// is refused (SetHardState is refused only for nil, which they never
// pass), so they compare the store with the model on both paths.
func TestWorkloadReachesEveryOutcome(t *testing.T) {
	c := &countingStore{MemoryStorage: raft.NewMemoryStorage(), ok: map[string]int{}, failed: map[string]int{}}
	f := newFixture(t, Harness{Open: func(testing.TB, string) (Store, error) { return c, nil }})
	for seed := uint64(1); seed <= 4; seed++ {
		randomWorkload(f, seed, 150)
	}
	for _, op := range []string{"Append", "SetHardState", "ApplySnapshot", "CreateSnapshot", "Compact"} {
		if c.ok[op] == 0 {
			t.Errorf("%s never succeeded", op)
		}
		if c.failed[op] == 0 && op != "SetHardState" {
			t.Errorf("%s was never refused", op)
		}
	}
	t.Logf("succeeded: %v; refused: %v; last index %d", c.ok, c.failed, f.m.lastIndex())
}
