package progress

import "github.com/tickraft/raft/internal/invariants"

// inflight is one append message the peer has not acknowledged yet.
type inflight struct {
	index uint64 // index of the last entry the message carried
	bytes uint64 // summed payload size of the message's entries
}

// Inflights is the window of append messages sent to a peer in
// StateReplicate and not yet acknowledged. It is a ring buffer bounded two
// ways: by the number of messages (size) and, when maxBytes is non-zero, by
// the summed payload bytes of those messages. Once either bound is reached
// the window is Full and the leader must stop sending entries until
// acknowledgements free room.
//
// Elements are kept in the order they were added, and their indexes strictly
// increase, so acknowledging index i frees a prefix of the ring.
//
// The backing array is allocated lazily: it starts empty and doubles as
// needed up to size elements, after which it is reused forever, so a peer
// in steady state costs no allocation per message.
//
// An Inflights is not safe for concurrent use.
type Inflights struct {
	start int    // position in buffer of the oldest element
	count int    // number of elements in the window
	bytes uint64 // sum of the bytes of the elements in the window

	size     int    // maximum number of elements
	maxBytes uint64 // maximum summed bytes; 0 means unbounded

	// buffer holds the elements at positions start, start+1, ... (mod
	// len(buffer)). len(buffer) only grows, never beyond size.
	buffer []inflight
}

// NewInflights returns an empty window that holds at most size messages and,
// if maxBytes is non-zero, stops accepting messages once their payloads add
// up to maxBytes or more. size must be positive.
func NewInflights(size int, maxBytes uint64) *Inflights {
	if size <= 0 {
		invariants.Fail("progress", "Inflights size > 0", "size %d", size)
	}
	return &Inflights{size: size, maxBytes: maxBytes}
}

// Clone returns a deep copy of the window: changes to either copy do not
// show in the other.
func (in *Inflights) Clone() *Inflights {
	c := *in
	if in.buffer != nil {
		c.buffer = make([]inflight, len(in.buffer))
		copy(c.buffer, in.buffer)
	}
	return &c
}

// Add records a message whose last entry has the given index and whose
// entries carry bytes bytes of payload.
//
// Preconditions (the caller's invariants; breaking them panics): the window
// is not Full, and index is greater than the index of every message already
// in the window. A single message may exceed maxBytes on its own; the window
// is then Full until it is freed.
func (in *Inflights) Add(index, bytes uint64) {
	if in.Full() {
		invariants.Fail("progress", "Inflights.Add on a window with room", "window full with %d messages", in.count)
	}
	if in.count > 0 && index <= in.buffer[in.pos(in.count-1)].index {
		invariants.Fail("progress", "Inflights.Add with increasing indexes", "index %d after %d", index, in.buffer[in.pos(in.count-1)].index)
	}
	if in.count == len(in.buffer) {
		in.grow()
	}
	in.buffer[in.pos(in.count)] = inflight{index: index, bytes: bytes}
	in.count++
	in.bytes += bytes
}

// pos maps the i-th element of the window (0 is the oldest) to its position
// in buffer. It requires len(buffer) > 0 and i < len(buffer).
func (in *Inflights) pos(i int) int {
	p := in.start + i
	if p >= len(in.buffer) {
		p -= len(in.buffer)
	}
	return p
}

// grow enlarges the backing array (doubling, capped at size) and lays the
// elements out from position 0. It is only called when the array is full
// and count < size.
func (in *Inflights) grow() {
	n := 2 * len(in.buffer)
	if n == 0 {
		n = 1
	}
	if n > in.size {
		n = in.size
	}
	buf := make([]inflight, n)
	// Unroll the ring into the new array: first the run from start to the
	// end of the old array, then the wrapped-around run from position 0.
	k := copy(buf, in.buffer[in.start:])
	copy(buf[k:], in.buffer[:in.start])
	in.buffer = buf
	in.start = 0
}

// FreeLE frees every message whose last index is at most to, i.e. every
// message an acknowledgement of index to covers. Freeing past the newest
// message empties the window; an index below the oldest message frees
// nothing.
func (in *Inflights) FreeLE(to uint64) {
	n := 0
	for n < in.count {
		e := &in.buffer[in.pos(n)]
		if e.index > to {
			break
		}
		in.bytes -= e.bytes
		n++
	}
	if n == 0 {
		return
	}
	in.count -= n
	if in.count == 0 {
		// Restart at the front: later adds then fill the array in order and
		// the bytes sum cannot drift, since it is exactly zero.
		in.start = 0
		in.bytes = 0
		return
	}
	in.start = in.pos(n)
}

// Full reports whether the window accepts no more messages: it holds size
// messages, or maxBytes is set and the payloads in flight reach it.
func (in *Inflights) Full() bool {
	return in.count == in.size || (in.maxBytes != 0 && in.bytes >= in.maxBytes)
}

// Count returns the number of messages in the window.
func (in *Inflights) Count() int { return in.count }

// Bytes returns the summed payload bytes of the messages in the window.
func (in *Inflights) Bytes() uint64 { return in.bytes }

// reset empties the window. The backing array is kept for reuse.
func (in *Inflights) reset() {
	in.start = 0
	in.count = 0
	in.bytes = 0
}
