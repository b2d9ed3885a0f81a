package wal

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	pb "github.com/tickraft/raft/raftpb"
)

// TestEntryCacheModel drives the block cache with random appends (of
// entries of random sizes), evictions, truncations and compactions, and
// after each step compares every read with a plain slice of the same
// entries, checks the byte count and the limit, and checks that every
// slice handed out earlier still holds what it held: readers keep them.
func TestEntryCacheModel(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runEntryCacheModel(t, seed) })
	}
}

type handedOut struct {
	got  []*pb.Entry
	want []*pb.Entry
}

func runEntryCacheModel(t *testing.T, seed uint64) {
	rnd := rand.New(rand.NewPCG(seed, 11))
	limit := []int{200, 5000, 1 << 20}[rnd.IntN(3)]
	var c entryCache
	c.reset(1)
	var model []*pb.Entry // the cached entries, model[0] at index first
	first := uint64(1)
	var kept []handedOut
	next := func() uint64 { return first + uint64(len(model)) }
	for step := 0; step < 400; step++ {
		switch op := rnd.IntN(10); {
		case op < 6: // a Save
			n := 1 + rnd.IntN([]int{3, 40, 3000}[rnd.IntN(3)])
			ents := make([]*pb.Entry, n)
			sizes := make([]uint32, n)
			for k := range ents {
				ents[k] = &pb.Entry{Index: next() + uint64(k), Term: 1, Data: make([]byte, rnd.IntN(100))}
				sizes[k] = uint32(knownSize(ents[k]))
			}
			if rnd.IntN(2) == 0 {
				c.append(next(), ents, sizes, limit)
			} else {
				// Prepared first, as a synced Save does: until the
				// commit, nothing a reader sees or holds changes.
				before := cacheShape(&c)
				a := c.prepare(next(), ents, sizes, limit)
				if after := cacheShape(&c); !slices.Equal(before, after) {
					t.Fatalf("step %d: prepare changed the cache: %v, was %v", step, after, before)
				}
				checkHandedOut(t, step, kept)
				c.commit(a)
			}
			c.evict(limit)
			model = append(model, ents...)
		case op < 7 && len(model) > 0: // a conflicting append truncates
			k := first + uint64(rnd.IntN(len(model)+1))
			c.dropFrom(k)
			model = model[:k-first]
		case op < 8 && len(model) > 0: // compaction
			i := first - 1 + uint64(rnd.IntN(len(model)+1))
			c.dropUpTo(i)
			model = model[i+1-first:]
			first = i + 1
		default: // a read, kept
			if c.first >= next() {
				continue
			}
			lo := c.first + uint64(rnd.IntN(int(next()-c.first)))
			hi := lo + 1 + uint64(rnd.IntN(int(next()-lo)))
			max := []uint64{0, 500, math.MaxUint64}[rnd.IntN(3)]
			got := c.get(lo, hi, max)
			want := limitSize(model[lo-first:hi-first:hi-first], max)
			if !sameEntries(got, want) {
				t.Fatalf("step %d: get(%d, %d, %d) = %d entries from %d, want %d from %d", step, lo, hi, max, len(got), indexOf(got), len(want), indexOf(want))
			}
			kept = append(kept, handedOut{got, append([]*pb.Entry(nil), want...)})
		}
		// The cache holds a suffix of the model.
		if c.next() != next() {
			t.Fatalf("step %d: cache ends before %d, model before %d", step, c.next(), next())
		}
		if c.first < first {
			t.Fatalf("step %d: cache starts at %d, before the model's %d", step, c.first, first)
		}
		first, model = c.first, model[c.first-first:]
		bytes := 0
		for _, b := range c.blocks {
			for _, e := range b.ents {
				bytes += knownSize(e)
			}
		}
		if bytes != c.bytes || c.bytes > limit {
			t.Fatalf("step %d: cache counts %d bytes, holds %d, limit %d", step, c.bytes, bytes, limit)
		}
		checkHandedOut(t, step, kept)
	}
}

// checkHandedOut fails if a slice the cache handed out has changed.
func checkHandedOut(t *testing.T, step int, kept []handedOut) {
	t.Helper()
	for k, h := range kept {
		if !sameEntries(h.got, h.want) {
			t.Fatalf("step %d: a slice handed out by read %d changed", step, k)
		}
	}
}

func sameEntries(a, b []*pb.Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

func indexOf(ents []*pb.Entry) uint64 {
	if len(ents) == 0 {
		return 0
	}
	return ents[0].Index
}

// cacheShape is what readers of c see of it: first, bytes, and each block's
// first index, length and bytes.
func cacheShape(c *entryCache) []uint64 {
	shape := []uint64{c.first, uint64(c.bytes)}
	for _, b := range c.blocks {
		shape = append(shape, b.first, uint64(len(b.ents)), uint64(b.bytes))
	}
	return shape
}
