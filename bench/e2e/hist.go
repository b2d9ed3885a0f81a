package main

import (
	"math"
	"time"
)

// hist is a latency histogram with buckets about 1.6% wide (64 per power
// of two), so quantiles are exact to within that and recording is O(1)
// without allocation. The zero value is ready; not safe for concurrent use
// (each client owns one and they are merged at the end).
type hist struct {
	counts [64 * 40]uint64 // bucket b holds durations in [lower(b), lower(b+1)) nanoseconds
	n      uint64
}

const subBuckets = 64

func bucketOf(ns int64) int {
	if ns < subBuckets {
		if ns < 0 {
			return 0
		}
		return int(ns)
	}
	exp := 63 - leadingZeros(uint64(ns)) // ns in [2^exp, 2^(exp+1))
	shift := exp - 6                     // keep 6 bits below the top one
	b := (exp-5)*subBuckets + int((uint64(ns)>>shift)&(subBuckets-1))
	if b >= len(hist{}.counts) {
		return len(hist{}.counts) - 1
	}
	return b
}

func lowerOf(b int) int64 {
	if b < subBuckets {
		return int64(b)
	}
	exp := b/subBuckets + 5
	return int64(subBuckets+b%subBuckets) << (exp - 6)
}

func leadingZeros(x uint64) int {
	n := 0
	for i := 63; i >= 0 && x&(1<<uint(i)) == 0; i-- {
		n++
	}
	return n
}

func (h *hist) record(d time.Duration) {
	h.counts[bucketOf(int64(d))]++
	h.n++
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the lower bound of the bucket holding the q-th
// quantile (0 when empty).
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(lowerOf(b))
		}
	}
	return time.Duration(lowerOf(len(h.counts) - 1))
}
