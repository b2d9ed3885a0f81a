package replica_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	raft "github.com/tickraft/raft"
	"github.com/tickraft/raft/replica"
	"github.com/tickraft/raft/transport"
)

// counter is the replicated state machine: each command adds a number.
type counter struct {
	mu sync.Mutex
	n  int64
}

func (c *counter) Apply(cmds []replica.Command, results []any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, cmd := range cmds {
		d, err := strconv.ParseInt(string(cmd.Data), 10, 64)
		if err != nil {
			results[i] = err // a refused command: its caller gets the error as result
			continue
		}
		c.n += d
		results[i] = c.n
	}
	return nil
}

func (c *counter) Value() int64 { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

func (c *counter) Snapshot() (replica.Snapshot, error) { return counterSnap(c.Value()), nil }

func (c *counter) Restore(r io.Reader, _ uint64) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	c.mu.Lock()
	c.n = n
	c.mu.Unlock()
	return err
}

func (c *counter) AppliedIndex() uint64 { return 0 } // in memory: restored from snapshots

type counterSnap int64

func (s counterSnap) WriteTo(w io.Writer) (int64, error) {
	n, err := io.WriteString(w, strconv.FormatInt(int64(s), 10))
	return int64(n), err
}
func (counterSnap) Release() {}

// add proposes on any replica, following not-leader errors to the leader.
func add(ctx context.Context, nodes map[uint64]*replica.Replica, delta int) (any, error) {
	r := nodes[1]
	for {
		res, err := r.Propose(ctx, []byte(strconv.Itoa(delta)))
		var nl *replica.NotLeaderError
		switch {
		case errors.As(err, &nl) && nl.LeaderID != 0:
			r = nodes[nl.LeaderID]
		case errors.As(err, &nl) || errors.Is(err, replica.ErrProposalLost):
			time.Sleep(10 * time.Millisecond) // an election is on: try again
		default:
			return res, err
		}
	}
}

// Three replicas of a counter in one process, over the in-memory transport.
// With real machines, use transport.NewTCP, wal.Open for the log and
// replica.NewDirSnapshots for the snapshots.
func Example() {
	network := transport.NewMemNetwork()
	members := []replica.Member{{ID: 1, Addr: "n1"}, {ID: 2, Addr: "n2"}, {ID: 3, Addr: "n3"}}
	nodes := map[uint64]*replica.Replica{}
	counters := map[uint64]*counter{}
	for _, m := range members {
		counters[m.ID] = &counter{}
		cfg := replica.Config{ID: m.ID, Bootstrap: members, TickInterval: 10 * time.Millisecond}
		r, err := replica.Start(cfg, replica.Memory(raft.NewMemoryStorage()), counters[m.ID], network.Endpoint(m.ID))
		if err != nil {
			panic(err)
		}
		nodes[m.ID] = r
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, d := range []int{1, 2, 3} {
		res, err := add(ctx, nodes, d)
		fmt.Println("counter:", res, err)
	}
	// A linearizable read on every replica, leader or not.
	for id := uint64(1); id <= 3; id++ {
		if _, err := nodes[id].ReadIndex(ctx); err != nil {
			panic(err)
		}
		fmt.Printf("replica %d reads %d\n", id, counters[id].Value())
	}
	for _, r := range nodes {
		_ = r.Stop(ctx)
	}
	// Output:
	// counter: 1 <nil>
	// counter: 3 <nil>
	// counter: 6 <nil>
	// replica 1 reads 6
	// replica 2 reads 6
	// replica 3 reads 6
}
