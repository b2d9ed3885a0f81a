package wal

import (
	"fmt"
	"sort"

	pb "github.com/tickraft/raft/raftpb"
)

// cacheBlockLen is the number of entries a cache block holds. Blocks are
// allocated whole and filled by successive Saves: a cache that slid along
// one array had to move it to new memory again and again, and writing the
// new pointers into pages the process had never touched cost a page fault
// per 512 of them (a third of the index update of a 1,024-entry Save).
// Blocks of this size come from the allocator's recycled spans instead.
const cacheBlockLen = 1024

// cacheBlock holds consecutive entries from first on. Its elements below
// len(ents) are never written again, so slices of them handed to readers
// stay valid: appends go past len, into the capacity no reader's slice
// reaches (readers get slices capped at their length), and truncation
// copies what it keeps into a new block. bytes is the known encoded size
// (see knownSize) of every entry the block holds, evicted or not: its
// memory is held until the whole block goes.
type cacheBlock struct {
	first uint64
	ents  []*pb.Entry
	bytes int
}

func (b *cacheBlock) end() uint64 { return b.first + uint64(len(b.ents)) }

// entryCache holds the most recent entries of the log, [first, next()),
// in blocks that are contiguous and in order (blocks[0] may begin before
// first: its front was evicted or compacted). When it holds nothing, first
// is the index after the log's last entry. bytes is the sum of the blocks'.
// Only the writer changes it, with the readers' lock held.
type entryCache struct {
	blocks []cacheBlock
	first  uint64
	bytes  int
}

// next is the index after the last cached entry.
func (c *entryCache) next() uint64 {
	if n := len(c.blocks); n > 0 {
		return c.blocks[n-1].end()
	}
	return c.first
}

// reset empties the cache, whose next entry will be next.
func (c *entryCache) reset(next uint64) { *c = entryCache{first: next} }

// append adds ents, the entries from first on, of the given known encoded
// sizes; first is next(), or anything when the cache is empty. A block is
// full at cacheBlockLen entries or at a sixteenth of the cache's limit in
// bytes, so that evicting whole blocks keeps most of the limit's worth of
// the newest entries.
func (c *entryCache) append(first uint64, ents []*pb.Entry, sizes []uint32, limit int) {
	c.commit(c.prepare(first, ents, sizes, limit))
}

// cacheAppend is an append to an entryCache done in two steps: prepare
// writes the entries where no reader looks (the last block's capacity past
// its length, new blocks), and commit makes them part of the cache. A Save
// prepares while its write is synced and commits once it is durable.
type cacheAppend struct {
	first uint64
	// tail is the last block's entries with those appended to it (nil:
	// none were), tailBytes their size.
	tail      []*pb.Entry
	tailBytes int
	blocks    []cacheBlock
}

// prepare lays out the append of ents (see append) without changing what
// the cache holds; nothing may change the cache before its commit.
func (c *entryCache) prepare(first uint64, ents []*pb.Entry, sizes []uint32, limit int) cacheAppend {
	if len(c.blocks) > 0 && first != c.next() {
		panic(fmt.Sprintf("wal: invariant broken: entries from %d appended to a cache that ends before %d", first, c.next()))
	}
	a := cacheAppend{first: first}
	blockBytes := max(1, limit/16)
	next := first
	fill := func(b *cacheBlock) {
		k, room := 0, cap(b.ents)-len(b.ents)
		for k < len(ents) && k < room && b.bytes < blockBytes {
			b.bytes += int(sizes[k])
			k++
		}
		b.ents = append(b.ents, ents[:k]...)
		ents, sizes, next = ents[k:], sizes[k:], next+uint64(k)
	}
	if n := len(c.blocks); n > 0 && len(ents) > 0 {
		b := c.blocks[n-1] // a copy: its entries go past the length readers see
		fill(&b)
		if len(b.ents) > len(c.blocks[n-1].ents) {
			a.tail, a.tailBytes = b.ents, b.bytes-c.blocks[n-1].bytes
		}
	}
	for len(ents) > 0 {
		b := cacheBlock{first: next, ents: make([]*pb.Entry, 0, cacheBlockLen)}
		fill(&b)
		a.blocks = append(a.blocks, b)
	}
	return a
}

// commit applies an append prepared on the cache as it still is.
func (c *entryCache) commit(a cacheAppend) {
	if len(c.blocks) == 0 {
		c.first = a.first
	}
	if a.tail != nil {
		b := &c.blocks[len(c.blocks)-1]
		b.ents = a.tail
		b.bytes += a.tailBytes
		c.bytes += a.tailBytes
	}
	for _, b := range a.blocks {
		c.bytes += b.bytes
	}
	c.blocks = append(c.blocks, a.blocks...)
}

// evict drops the oldest blocks until the cache fits limit.
func (c *entryCache) evict(limit int) {
	n := 0
	for n < len(c.blocks) && c.bytes > limit {
		c.bytes -= c.blocks[n].bytes
		n++
	}
	if n == 0 {
		return
	}
	next := c.next()
	clear(c.blocks[:n]) // the array lives on: let the entries go
	c.blocks = c.blocks[n:]
	c.first = next
	if len(c.blocks) > 0 {
		c.first = c.blocks[0].first
	}
}

// dropFrom removes the entries from k on (first <= k, or nothing is
// cached from k): the block holding k is replaced by a copy of its part
// before k, since readers may hold slices of the original.
func (c *entryCache) dropFrom(k uint64) {
	if k >= c.next() {
		return
	}
	if k <= c.first {
		c.reset(k)
		return
	}
	n := c.find(k - 1)
	b := c.blocks[n]
	c.blocks = c.blocks[:n]
	kept := b.ents[:k-b.first]
	nb := cacheBlock{first: b.first, ents: append(make([]*pb.Entry, 0, max(len(kept), cacheBlockLen)), kept...)}
	for _, e := range kept {
		nb.bytes += knownSize(e)
	}
	c.blocks = append(c.blocks, nb)
	c.bytes = 0
	for _, b := range c.blocks {
		c.bytes += b.bytes
	}
}

// dropUpTo removes the entries up to i (compaction).
func (c *entryCache) dropUpTo(i uint64) {
	if i < c.first {
		return
	}
	if i+1 >= c.next() {
		c.reset(i + 1)
		return
	}
	n := c.find(i + 1)
	for _, b := range c.blocks[:n] {
		c.bytes -= b.bytes
	}
	clear(c.blocks[:n])
	c.blocks = c.blocks[n:]
	c.first = i + 1
}

// find returns the position of the block holding cached entry i.
func (c *entryCache) find(i uint64) int {
	n := sort.Search(len(c.blocks), func(k int) bool { return c.blocks[k].end() > i })
	if n == len(c.blocks) || i < c.first || i < c.blocks[n].first {
		panic(fmt.Sprintf("wal: invariant broken: no cache block holds index %d (cache [%d, %d))", i, c.first, c.next()))
	}
	return n
}

// get returns the cached entries [lo, hi) (first <= lo < hi <= next()), at
// most maxSize bytes of them but at least one: a slice of a block when
// they are in one, else a copy.
func (c *entryCache) get(lo, hi, maxSize uint64) []*pb.Entry {
	b := &c.blocks[c.find(lo)]
	if hi <= b.end() {
		return limitSize(b.ents[lo-b.first:hi-b.first:hi-b.first], maxSize)
	}
	out := sizeLimited{max: maxSize}
	c.each(lo, hi, out.add)
	return out.entries()
}

// each calls fn with the cached entries [lo, hi) in order until it returns
// false; it reports whether fn always returned true.
func (c *entryCache) each(lo, hi uint64, fn func(*pb.Entry) bool) bool {
	for n := c.find(lo); n < len(c.blocks) && lo < hi; n++ {
		b := &c.blocks[n]
		for _, e := range b.ents[lo-b.first : min(hi, b.end())-b.first] {
			if !fn(e) {
				return false
			}
		}
		lo = b.end()
	}
	return true
}
