package main

import (
	"testing"
	"time"
)

func TestBucketsAreMonotoneAndTight(t *testing.T) {
	prev := -1
	for ns := int64(0); ns < 1<<34; ns = ns*17/16 + 1 {
		b := bucketOf(ns)
		if b < prev {
			t.Fatalf("bucket of %d is %d, below %d", ns, b, prev)
		}
		prev = b
		lo := lowerOf(b)
		if lo > ns || float64(ns-lo) > 0.02*float64(ns)+1 {
			t.Fatalf("%d ns falls in bucket %d with lower bound %d", ns, b, lo)
		}
	}
}

func TestQuantiles(t *testing.T) {
	var a, b hist
	for i := 1; i <= 1000; i++ {
		a.record(time.Duration(i) * time.Microsecond)
	}
	b.record(time.Second)
	a.merge(&b)
	near := func(got, want time.Duration) bool {
		return got <= want && float64(want-got) <= 0.02*float64(want)
	}
	if got := a.quantile(0.5); !near(got, 501*time.Microsecond) {
		t.Errorf("p50 = %v", got)
	}
	if got := a.quantile(0.99); !near(got, 991*time.Microsecond) {
		t.Errorf("p99 = %v", got)
	}
	if got := a.quantile(1); !near(got, time.Second) {
		t.Errorf("max = %v", got)
	}
	var empty hist
	if empty.quantile(0.5) != 0 {
		t.Error("empty histogram has a p50")
	}
}
