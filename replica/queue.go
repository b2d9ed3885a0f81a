package replica

import "sync"

// queue hands batches of items from many goroutines to one consumer. push
// never blocks; the consumer takes everything queued at once, which is
// where the replica's batching comes from.
type queue[T any] struct {
	mu    sync.Mutex
	items []T
	spare []T
	// wake has room for one signal: a push on an empty queue sends one.
	wake chan struct{}
}

func newQueue[T any]() *queue[T] { return &queue[T]{wake: make(chan struct{}, 1)} }

func (q *queue[T]) push(v T) {
	q.mu.Lock()
	q.items = append(q.items, v)
	n := len(q.items)
	q.mu.Unlock()
	if n == 1 {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// take returns everything queued. The slice is valid until the next take.
func (q *queue[T]) take() []T {
	q.mu.Lock()
	items := q.items
	clear(q.spare)
	q.items = q.spare[:0]
	q.spare = items
	q.mu.Unlock()
	return items
}
