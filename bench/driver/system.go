package driver

import "fmt"

// Putter issues one put at a time: a client of a System.
type Putter interface {
	// Put returns once the put of key and value is applied on the leader.
	Put(key, value []byte) error
}

// System is a running cluster as the benchmark suite sees it, whatever
// drives the library: this package's Cluster (for RawNode-style libraries)
// or a library's own runtime.
type System interface {
	// NewPutter returns a new client; each concurrent client goroutine
	// needs its own.
	NewPutter() (Putter, error)
	// Stats counts what happened since the system started.
	Stats() Stats
	// ApplyLag is how many entries the follower furthest behind has still
	// to apply to reach the leader's applied index, 0 without a leader.
	ApplyLag() uint64
	// Stop stops the system and waits for its goroutines.
	Stop()
}

var _ System = (*Cluster)(nil)

// NewPutter returns a new Client of the cluster.
func (c *Cluster) NewPutter() (Putter, error) { return c.NewClient() }

// ApplyLag returns the leader's applied index minus the smallest applied
// index of the other nodes.
func (c *Cluster) ApplyLag() uint64 {
	lead := c.leader.Load()
	if lead == 0 || int(lead) > len(c.nodes) {
		return 0
	}
	la := c.nodes[lead-1].appliedIdx.Load()
	var lag uint64
	for _, n := range c.nodes {
		if a := n.appliedIdx.Load(); a < la {
			lag = max(lag, la-a)
		}
	}
	return lag
}

// StartSystem starts a cluster of impl and waits for its leader.
func StartSystem(impl Impl, opts Options) (System, error) {
	c, err := StartCluster(impl, opts)
	if err != nil {
		return nil, err
	}
	if _, err := c.WaitLeader(10 * opts.withDefaults().TickInterval * ElectionTick); err != nil {
		c.Stop()
		return nil, fmt.Errorf("%s: %w", impl.Name(), err)
	}
	return c, nil
}
