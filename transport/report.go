package transport

import "sync"

// reporter hands ReportUnreachable and ReportSnapshot to the Handler from its
// own goroutine, so that Send never calls the Handler and never blocks on it.
// Unreachable reports for one peer coalesce while undelivered (raft only
// needs to hear it once); snapshot reports never do.
type reporter struct {
	mu          sync.Mutex
	unreachable map[uint64]struct{} // peers with an undelivered report
	order       []uint64            // the same peers, in report order
	snaps       []snapReport        // undelivered snapshot outcomes, in order
	wake        chan struct{}       // capacity 1: something was added
}

type snapReport struct {
	id  uint64
	err error
}

func newReporter() *reporter {
	return &reporter{unreachable: map[uint64]struct{}{}, wake: make(chan struct{}, 1)}
}

func (r *reporter) addUnreachable(id uint64) {
	r.mu.Lock()
	if _, ok := r.unreachable[id]; !ok {
		r.unreachable[id] = struct{}{}
		r.order = append(r.order, id)
	}
	r.mu.Unlock()
	r.signal()
}

func (r *reporter) addSnapshot(id uint64, err error) {
	r.mu.Lock()
	r.snaps = append(r.snaps, snapReport{id, err})
	r.mu.Unlock()
	r.signal()
}

func (r *reporter) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run delivers reports to h until done is closed.
func (r *reporter) run(h Handler, done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-r.wake:
		}
		r.mu.Lock()
		ids, snaps := r.order, r.snaps
		r.order, r.snaps = nil, nil
		clear(r.unreachable)
		r.mu.Unlock()
		for _, id := range ids {
			h.ReportUnreachable(id)
		}
		for _, s := range snaps {
			h.ReportSnapshot(s.id, s.err)
		}
	}
}
