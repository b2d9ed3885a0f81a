// Package hist is a fixed-size latency histogram, safe for concurrent
// recording without locks or allocation.
//
// Values are bucketed log-linearly: exactly below 64, then 64 buckets per
// power of two, so a reported quantile is within 1/64 (1.6%) of the true
// value.
package hist

import (
	"math/bits"
	"sync/atomic"
	"time"
)

const (
	subBits = 6
	sub     = 1 << subBits
	buckets = (64 - subBits + 1) * sub
)

// Hist counts durations. The zero value is empty and ready to use.
type Hist struct {
	counts [buckets]atomic.Uint64
	total  atomic.Uint64
}

func index(v uint64) int {
	if v < sub {
		return int(v)
	}
	msb := bits.Len64(v) - 1
	shift := msb - subBits
	return (shift+1)<<subBits + int(v>>shift) - sub
}

// lower returns the smallest value of bucket i.
func lower(i int) uint64 {
	if i < sub {
		return uint64(i)
	}
	shift := i>>subBits - 1
	return uint64(sub+i&(sub-1)) << shift
}

// Record counts one duration. Negative durations count as zero.
func (h *Hist) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[index(v)].Add(1)
	h.total.Add(1)
}

// Count returns the number of durations recorded.
func (h *Hist) Count() uint64 { return h.total.Load() }

// Quantile returns the q-quantile (0 < q <= 1) of the recorded durations:
// the middle of the bucket that holds it. It returns 0 when empty. Call it
// once recording has stopped.
func (h *Hist) Quantile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.5)
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, hi := lower(i), lower(i+1)
			return time.Duration(lo + (hi-lo)/2)
		}
	}
	return time.Duration(lower(buckets - 1))
}
