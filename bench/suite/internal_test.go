package suite

import (
	"testing"
	"time"
)

func TestKeysArePerClient(t *testing.T) {
	const clients = 4
	seen := map[string]int{}
	for c := range clients {
		g := newKeyGen(c, clients)
		for range 1000 {
			k := g.next()
			if len(k) != keyLen {
				t.Fatalf("key %q: %d bytes, want %d", k, len(k), keyLen)
			}
			if prev, ok := seen[string(k)]; ok && prev != c {
				t.Fatalf("key %q used by clients %d and %d", k, prev, c)
			}
			seen[string(k)] = c
		}
	}
	if len(seen) != clients*1000 {
		t.Errorf("%d distinct keys, want %d", len(seen), clients*1000)
	}
	// A client cycles through its share of the key space.
	g := newKeyGen(0, KeySpace/3)
	first := string(g.next())
	for range 2 {
		g.next()
	}
	if got := string(g.next()); got != first {
		t.Errorf("after its 3 keys the client put %q, want %q again", got, first)
	}
}

func TestOtherCPU(t *testing.T) {
	r0 := readCPU()
	if !r0.ok {
		t.Skip("no /proc/stat or /proc/self/stat")
	}
	// Spin until this process has used 50ms of CPU, however long a
	// loaded machine makes that take: the reading must see it.
	start := time.Now()
	r1 := readCPU()
	for r1.self-r0.self < 50*time.Millisecond {
		r1 = readCPU()
	}
	if o := r1.otherCores(r0, time.Since(start)); o < 0 || o > 64 {
		t.Errorf("other cores %v", o)
	}
	if o := r1.otherCores(cpuReading{}, time.Second); o != -1 {
		t.Errorf("other cores from a failed reading = %v, want -1", o)
	}
}
