package hist

import (
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 1 << 20, 1<<40 + 12345, 1<<63 - 1, 1<<64 - 1} {
		i := index(v)
		if i < prev || i >= buckets {
			t.Fatalf("index(%d) = %d, after %d (of %d)", v, i, prev, buckets)
		}
		prev = i
		if lo := lower(i); lo > v || (i+1 < buckets && lower(i+1) <= v) {
			t.Fatalf("%d is not in bucket %d = [%d, %d)", v, i, lo, lower(i+1))
		}
	}
}

func TestQuantiles(t *testing.T) {
	var h Hist
	if h.Quantile(0.5) != 0 {
		t.Fatal("empty histogram has a median")
	}
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.99, 9900 * time.Microsecond}, {0.999, 9990 * time.Microsecond}, {1, 10 * time.Millisecond}} {
		got := h.Quantile(c.q)
		if d := float64(got-c.want) / float64(c.want); d < -1.0/64 || d > 1.0/64 {
			t.Errorf("q%v = %v, want %v within 1.6%%", c.q, got, c.want)
		}
	}
	if h.Count() != 10000 {
		t.Errorf("count %d", h.Count())
	}
}
