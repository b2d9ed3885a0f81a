package raft

// chunk hands out pointers to fresh zero values of T, allocating them size
// at a time: a steady stream of proposals, messages or hard states then
// costs one allocation per chunk instead of one per value. Each value is
// handed out once and never reused, so its receiver owns it as if it had
// allocated it. The price is memory: a chunk stays reachable while any of
// its values is, so one value kept long keeps up to size-1 others (and what
// they point to) alive.
type chunk[T any] struct {
	free []T
}

// next returns a new zero value.
func (c *chunk[T]) next(size int) *T {
	if len(c.free) == 0 {
		c.free = make([]T, size)
	}
	v := &c.free[0]
	c.free = c.free[1:]
	return v
}
