package rafttest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// handlePartition splits the network into sides that cannot talk to each
// other. Example:
//
//	partition 1 2 | 3
//
// puts nodes 1 and 2 on one side and 3 on another; nodes not named (4, 5,
// ...) share a further side of their own. "partition 3" isolates node 3
// from everyone else. Messages are checked at delivery: one whose sender and
// recipient are on different sides is dropped, however long ago it was
// sent. A new partition replaces the previous one.
func (env *InteractionEnv) handlePartition(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d)
	var groups [][]uint64
	var cur []uint64
	for _, s := range positional(d) {
		if s == "|" {
			groups = append(groups, cur)
			cur = nil
			continue
		}
		cur = append(cur, env.parseID(t, d, s))
	}
	groups = append(groups, cur)
	side := map[uint64]int{}
	for k, g := range groups {
		if len(g) == 0 {
			d.Fatalf(t, "partition: empty side")
		}
		for _, id := range g {
			if _, dup := side[id]; dup {
				d.Fatalf(t, "partition: node %d named twice", id)
			}
			side[id] = k
		}
	}
	env.side = side
	env.printf("%s\n", env.describePartition())
	return nil
}

// partitioned reports whether the partition separates two nodes.
func (env *InteractionEnv) partitioned(a, b uint64) bool {
	if env.side == nil {
		return false
	}
	sa, ok := env.side[a]
	if !ok {
		sa = -1
	}
	sb, ok := env.side[b]
	if !ok {
		sb = -1
	}
	return sa != sb
}

// describePartition renders the sides, e.g. "partition: (1 2) | (3) | (4 5)".
func (env *InteractionEnv) describePartition() string {
	if env.side == nil {
		return "no partition"
	}
	bySide := map[int][]uint64{}
	for _, id := range env.allIDs() {
		s, ok := env.side[id]
		if !ok {
			s = -1
		}
		bySide[s] = append(bySide[s], id)
	}
	var sides []string
	for k := 0; ; k++ {
		ids, ok := bySide[k]
		if !ok {
			break
		}
		sides = append(sides, fmt.Sprint(ids))
	}
	if ids := bySide[-1]; len(ids) > 0 {
		sides = append(sides, fmt.Sprint(ids))
	}
	for i, s := range sides {
		sides[i] = "(" + strings.Trim(s, "[]") + ")"
	}
	return "partition: " + strings.Join(sides, " | ")
}
