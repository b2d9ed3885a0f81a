package sim

import (
	"encoding/binary"
	"fmt"
	"strings"

	pb "github.com/tickraft/raft/raftpb"
)

// event is one line of a run's trace. Messages are kept by pointer and
// described only when the trace is printed: a message is never modified
// once it is handed over, and most traces are never printed.
type event struct {
	step int
	text string
	msg  *pb.Message
	// lazy, if set, makes the text when the event is printed.
	lazy func() string
}

func (e event) String() string {
	if e.lazy != nil {
		e.text = e.lazy()
	}
	if e.msg == nil {
		return fmt.Sprintf("[%5d] %s", e.step, e.text)
	}
	return fmt.Sprintf("[%5d] %s %s", e.step, e.text, pb.DescribeMessage(e.msg, formatPayload))
}

// tracer keeps the last events of a run in a ring buffer.
type tracer struct {
	ring []event
	next int
	full bool
}

func newTracer(n int) *tracer {
	if n <= 0 {
		n = 1
	}
	return &tracer{ring: make([]event, n)}
}

func (t *tracer) add(e event) {
	t.ring[t.next] = e
	t.next++
	if t.next == len(t.ring) {
		t.next, t.full = 0, true
	}
}

// lines returns the events kept, oldest first.
func (t *tracer) lines() []string {
	var evs []event
	if t.full {
		evs = append(evs, t.ring[t.next:]...)
	}
	evs = append(evs, t.ring[:t.next]...)
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.String()
	}
	return out
}

// formatPayload prints the data of a normal entry: the simulator's
// proposals as p<id> (with the padding's length, if any), read request
// contexts as read<id>, anything else quoted.
func formatPayload(data []byte) string {
	switch {
	case len(data) == 0:
		return ""
	case isReadCtx(data):
		return fmt.Sprintf("read%d", binary.BigEndian.Uint64(data[len(readPrefix):]))
	case len(data) == 8:
		return fmt.Sprintf("p%d", binary.BigEndian.Uint64(data))
	case len(data) > 8:
		return fmt.Sprintf("p%d+%dB", binary.BigEndian.Uint64(data), len(data)-8)
	}
	return fmt.Sprintf("%q", data)
}

// describeEntries prints entries on one line.
func describeEntries(ents []*pb.Entry) string {
	parts := make([]string, len(ents))
	for i, e := range ents {
		parts[i] = pb.DescribeEntry(e, formatPayload)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
